// A consumer of the client @hey-api/openapi-ts generates from openapi.yaml (fetch client, SDK functions),
// compiled under --strict and run by test/clients/generated-clients.test.ts, next to the generated
// `hey-api/` folder (which is not in the repository, hence this file is outside tsconfig.json).
import { client } from './hey-api/client.gen.js';
import { createOrder, deleteOrder, replaceOrder } from './hey-api/sdk.gen.js';
import type { CreateOrderError, CreateOrderErrors, OrderInput } from './hey-api/types.gen.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

// The default comes from the first server entry of openapi.yaml; a caller points it elsewhere.
const defaultBaseUrl = client.getConfig().baseUrl ?? null;
client.setConfig({ baseUrl: env('ORDERS_URL'), auth: () => env('ORDERS_API_KEY') });

const order = (datetime: string, totalfee = 100): OrderInput => ({ datetime, totalfee, services: [{ id: 123 }] });

/** The 409 of createOrder, as the generated per-status map types it. */
const isScheduleConflict = (error: CreateOrderError): error is CreateOrderErrors[409] =>
  error.type === '/problems/schedule-conflict';

const created = await createOrder({ body: order(env('ORDER_AT')) });
if (!created.data) throw new Error(`create answered ${created.response.status}`);
const id = created.data.id;
const etag = created.response.headers.get('etag');

const refused = await createOrder({ body: order(env('CONFLICT_AT')) });
if (!refused.error || !isScheduleConflict(refused.error)) throw new Error(`expected a schedule conflict`);
// Typed by ScheduleConflictProblem: a literal type and required members, so no `undefined` to rule out.
const problem = refused.error;
const type: '/problems/schedule-conflict' = problem.type;
const nearestFreeBefore: string | null = problem.nearestFreeBefore;
const nearestFreeAfter: string | null = problem.nearestFreeAfter;
const instance: string = problem.instance;

const replaced = await replaceOrder({
  path: { orderId: id },
  headers: { 'If-Match': etag ?? '' },
  body: order(env('ORDER_AT'), 150.5),
});
if (!replaced.data) throw new Error(`replace answered ${replaced.response.status}`);
const newEtag = replaced.response.headers.get('etag');

const stale = await replaceOrder({
  path: { orderId: id },
  headers: { 'If-Match': etag ?? '' },
  body: order(env('ORDER_AT'), 1),
});

const deleted = await deleteOrder({ path: { orderId: id }, headers: { 'If-Match': newEtag ?? '' } });

console.log(
  JSON.stringify({
    generator: 'hey-api',
    defaultBaseUrl,
    created: { status: created.response.status, id, etag },
    conflict: {
      status: refused.response.status,
      type,
      instance,
      conflictingOrderId: problem.conflictingOrderId ?? null,
      nearestFreeBefore,
      nearestFreeAfter,
    },
    replaced: { status: replaced.response.status, totalfee: replaced.data.totalfee, etag: newEtag },
    stale: { status: stale.response.status, type: stale.error?.type ?? null },
    deleted: { status: deleted.response.status },
  }),
);
