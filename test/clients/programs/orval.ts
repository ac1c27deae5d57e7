// A consumer of the client orval generates from openapi.yaml (`client: 'fetch'` through ./orval-fetch.ts),
// compiled under --strict and run by test/clients/generated-clients.test.ts, next to the generated
// `orval/` folder (which is not in the repository, hence this file is outside tsconfig.json).
import { configure } from './orval-fetch.js';
import { createOrder, deleteOrder, getCreateOrderUrl, replaceOrder, type OrderInput } from './orval/client.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

// The default comes from the first server entry of openapi.yaml; a caller points it elsewhere.
const defaultBaseUrl = new URL(getCreateOrderUrl()).origin;
configure({ baseUrl: env('ORDERS_URL'), apiKey: env('ORDERS_API_KEY') });

const order = (datetime: string, totalfee = 100): OrderInput => ({ datetime, totalfee, services: [{ id: 123 }] });

const created = await createOrder(order(env('ORDER_AT')));
if (created.status !== 201) throw new Error(`create answered ${created.status}`);
const id = created.data.id;
const etag = created.headers.get('etag');

const refused = await createOrder(order(env('CONFLICT_AT')));
if (refused.status !== 409) throw new Error(`expected a schedule conflict, got ${refused.status}`);
// Narrowed by the status to ScheduleConflictProblem: a literal type and required members.
const problem = refused.data;
const type: '/problems/schedule-conflict' = problem.type;
const nearestFreeBefore: string | null = problem.nearestFreeBefore;
const nearestFreeAfter: string | null = problem.nearestFreeAfter;
const instance: string = problem.instance;

const replaced = await replaceOrder(id, order(env('ORDER_AT'), 150.5), { 'If-Match': etag ?? '' });
if (replaced.status !== 200) throw new Error(`replace answered ${replaced.status}`);
const newEtag = replaced.headers.get('etag');

const stale = await replaceOrder(id, order(env('ORDER_AT'), 1), { 'If-Match': etag ?? '' });
const staleType = stale.status === 412 ? stale.data.type : null;

const deleted = await deleteOrder(id, { 'If-Match': newEtag ?? '' });

console.log(
  JSON.stringify({
    generator: 'orval',
    defaultBaseUrl,
    created: { status: created.status, id, etag },
    conflict: {
      status: refused.status,
      type,
      instance,
      conflictingOrderId: problem.conflictingOrderId ?? null,
      nearestFreeBefore,
      nearestFreeAfter,
    },
    replaced: { status: replaced.status, totalfee: replaced.data.totalfee, etag: newEtag },
    stale: { status: stale.status, type: staleType },
    deleted: { status: deleted.status },
  }),
);
