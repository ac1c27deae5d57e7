import type { Middleware } from 'openapi-fetch';
import { createOrdersClient, type OrdersClient } from '../../src/client.js';
import { contractViolations } from './contract.js';

// Raw responses are read as the test expects them; the contract check has validated them already.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Raw = any;

export interface ApiResponse<B = Raw> {
  status: number;
  headers: Headers;
  body: B;
}

export interface RequestOptions {
  /** Sent as JSON unless `raw` is given. */
  body?: unknown;
  /** Sent as is (malformed JSON, other media types). */
  raw?: string | Buffer;
  /** `null` removes a default header (the API key). */
  headers?: Record<string, string | null>;
}

export interface Api {
  url: string;
  request<B = Raw>(method: string, path: string, options?: RequestOptions): Promise<ApiResponse<B>>;
  get<B = Raw>(path: string): Promise<ApiResponse<B>>;
  post<B = Raw>(path: string, body: unknown): Promise<ApiResponse<B>>;
  put<B = Raw>(path: string, body: unknown): Promise<ApiResponse<B>>;
  delete<B = Raw>(path: string): Promise<ApiResponse<B>>;
}

/**
 * Real HTTP to `baseUrl`, with `apiKey` as a bearer token unless a request sets its own
 * Authorization (or `null` to send none); every response is checked against openapi.yaml, and a
 * violation fails.
 */
export function apiClient(baseUrl: string, apiKey?: string): Api {
  async function request(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> {
    const headers: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      if (value === null) delete headers[name.toLowerCase()];
      else headers[name.toLowerCase()] = value;
    }
    let body: string | Buffer | undefined = options.raw;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(baseUrl + path, { method, headers, body });
    const text = await response.text();
    const parsed = text === '' ? undefined : isJson(response.headers) ? JSON.parse(text) : text;
    const result = { status: response.status, headers: response.headers, body: parsed };
    const violations = contractViolations(method, path, result);
    if (violations.length > 0) {
      throw new Error(`Response breaks openapi.yaml:\n  ${violations.join('\n  ')}`);
    }
    return result;
  }
  return {
    url: baseUrl,
    request,
    get: (path) => request('GET', path),
    post: (path, body) => request('POST', path, { body }),
    put: (path, body) => request('PUT', path, { body }),
    delete: (path) => request('DELETE', path),
  };
}

/** Fails the call when a response breaks openapi.yaml, so every test is also a contract check. */
const contractCheck: Middleware = {
  async onResponse({ request, response }) {
    const text = await response.clone().text();
    const body = text === '' ? undefined : isJson(response.headers) ? JSON.parse(text) : text;
    const { pathname, search } = new URL(request.url);
    const violations = contractViolations(request.method, pathname + search, {
      status: response.status,
      headers: response.headers,
      body,
    });
    if (violations.length > 0) throw new Error(`Response breaks openapi.yaml:\n  ${violations.join('\n  ')}`);
    return undefined;
  },
};

/**
 * The package's typed client (src/client.ts) at `baseUrl` with `apiKey`, checking every response
 * against openapi.yaml. Tests use it for everything the types allow; `apiClient` is for requests
 * the types forbid (malformed JSON, wrong types, unknown paths).
 */
export function typedClient(baseUrl: string, apiKey?: string): OrdersClient {
  const client = createOrdersClient({ baseUrl, ...(apiKey ? { apiKey } : {}) });
  client.use(contractCheck);
  return client;
}

function isJson(headers: Headers): boolean {
  return /^application\/(.+\+)?json/.test(headers.get('content-type') ?? '');
}
