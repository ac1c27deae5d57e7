import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { sql } from 'kysely';
import pg from 'pg';
import type { Middleware } from 'openapi-fetch';
import { buildApp } from '../src/app.js';
import { allScopes } from '../src/keys/model.js';
import { createApiKey } from '../src/keys/use-cases.js';
import { createOrdersClient, type components, type OrdersClient } from '../src/client.js';
import type { HttpSettings } from '../src/config.js';
import { openDatabase, type DatabaseTarget, type Db } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { contractViolations } from './contract.js';

/** What tap's `t` offers that the helpers use. */
interface TestContext {
  teardown(fn: () => unknown): void;
}

/** Which database the suite runs on: `pglite` (embedded, default) or `postgres` (a real server). */
export const databaseKind = process.env.TEST_DATABASE === 'postgres' ? 'postgres' : 'pglite';
const adminUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * A brand-new, empty database for one test file: a fresh database on the Postgres server (dropped
 * afterwards) or an in-memory PGlite. Migrations are not run.
 */
export async function freshDatabaseTarget(t: TestContext): Promise<DatabaseTarget> {
  if (databaseKind === 'pglite') return { kind: 'pglite', dataDir: 'memory://' };
  const name = `orders_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  t.teardown(async () => {
    const cleanup = new pg.Client({ connectionString: adminUrl });
    await cleanup.connect();
    await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await cleanup.end();
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { kind: 'postgres', url: url.toString() };
}

/** A fresh, migrated database, closed at teardown. */
export async function freshDatabase(t: TestContext): Promise<{ db: Db; target: DatabaseTarget }> {
  const target = await freshDatabaseTarget(t);
  const { db } = await openDatabase(target);
  t.teardown(() => db.destroy());
  await migrateToLatest(db);
  return { db, target };
}

export interface ApiResponse<B = any> {
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
  request<B = any>(method: string, path: string, options?: RequestOptions): Promise<ApiResponse<B>>;
  get<B = any>(path: string): Promise<ApiResponse<B>>;
  post<B = any>(path: string, body: unknown): Promise<ApiResponse<B>>;
  put<B = any>(path: string, body: unknown): Promise<ApiResponse<B>>;
  delete<B = any>(path: string): Promise<ApiResponse<B>>;
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
    const violations = contractViolations(request.method, pathname + search, { status: response.status, headers: response.headers, body });
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

export interface RunningService {
  /** The typed client (src/client.ts) holding an API key with every scope. */
  client: OrdersClient;
  /** Raw HTTP with the same key, for requests the types forbid. */
  api: Api;
  /** That key, for tests that build their own requests. */
  apiKey: string;
  db: Db;
  target: DatabaseTarget;
  url: string;
}

/**
 * The service on a fresh migrated database, listening on a free port, closed at teardown. Rate
 * limiting is off unless a test asks for it, so suites can send as much as they need.
 */
export async function startService(t: TestContext, http: Partial<HttpSettings> = {}): Promise<RunningService> {
  const { db, target } = await freshDatabase(t);
  const { key } = await createApiKey(db, 'test-suite', allScopes);
  const app = await buildApp({ db, http: { rateLimitPerMinute: 0, ...http } });
  t.teardown(() => app.close());
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { client: typedClient(url, key), api: apiClient(url, key), apiKey: key, db, target, url };
}

/** Catalogue entries most tests use. */
export async function seedCatalogue(db: Db): Promise<void> {
  await db
    .insertInto('services')
    .values([
      { id: 123, name: 'Inspection' },
      { id: 789, name: 'Testing' },
      { id: 456, name: 'Analysis' },
    ])
    .execute();
}

export async function countRows(db: Db, table: 'orders' | 'order_services' | 'services'): Promise<number> {
  const { rows } = await sql<{ n: string | number }>`SELECT count(*) AS n FROM ${sql.table(table)}`.execute(db);
  return Number(rows[0]!.n);
}

/** An order body at `datetime` for service 123 unless told otherwise. */
export function orderBody(datetime: string, overrides: Partial<OrderInput> = {}): OrderInput {
  return { datetime, totalfee: 100, services: [{ id: 123 }], ...overrides };
}

type OrderInput = components['schemas']['OrderInput'];

/** A port nothing listens on: bind one, note it, release it. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
