/**
 * The typed client for this API, for other TypeScript services (and this project's own tests).
 * It is openapi-fetch over the types openapi-typescript generates from openapi.yaml, so a call with
 * a wrong path, parameter or body fails `tsc`, and `data` / `error` carry the documented shapes.
 *
 *   const orders = createOrdersClient({ baseUrl: 'http://orders.internal', apiKey: process.env.ORDERS_KEY });
 *   const { data, error, response } = await orders.POST('/orders', { body: { datetime, totalfee: 100, services: [{ id: 123 }] } });
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { paths } from '../generated/api.js';

export type { components, operations, paths } from '../generated/api.js';

export type OrdersClient = Client<paths>;

export interface OrdersClientOptions extends Omit<ClientOptions, 'baseUrl' | 'headers'> {
  /** Where the service listens, e.g. `http://127.0.0.1:3000` (no trailing path). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <key>` on every request; a request may drop it with `headers: { authorization: null }`. */
  apiKey?: string;
  /** Extra headers for every request. */
  headers?: Record<string, string>;
}

export function createOrdersClient({ baseUrl, apiKey, headers, ...options }: OrdersClientOptions): OrdersClient {
  const authorization: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  return createClient<paths>({
    ...options,
    baseUrl: baseUrl.replace(/\/+$/, ''),
    headers: { ...authorization, ...headers },
  });
}
