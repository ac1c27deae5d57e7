import { sql } from 'kysely';
import t from 'tap';
import { insertService } from '../../../src/catalogue/queries.js';
import { insertOrder } from '../../../src/orders/queries.js';
import { createApiKey } from '../../../src/keys/use-cases.js';
import { eventsAppendedBy, storedEvents, writeAndEvents } from '../../helpers/events.js';
import { orderBody, seedCatalogue } from '../../helpers/fixtures.js';
import { typedClient } from '../../helpers/http.js';
import { startService } from '../../helpers/service.js';

// The transactional outbox: every committed write appends exactly one event, in its own
// transaction, with the API key's name and the resource as the API shows it; nothing else does.

const { client, db, url } = await startService(t);
await seedCatalogue(db);
const { key: billingKey } = await createApiKey(db, 'billing', ['orders:read', 'orders:write', 'services:write']);
const billing = typedClient(url, billingKey);

let day = 0;
/** A datetime no other order in this file uses. */
function nextDatetime(): string {
  day += 1;
  return new Date(Date.UTC(2032, 0, day, 9)).toISOString();
}

const readOrder = (orderId: string) => client.GET('/orders/{orderId}', { params: { path: { orderId } } });

async function createOrder(services = [{ id: 123 }]) {
  const { data, response } = await client.POST('/orders', { body: orderBody(nextDatetime(), { services }) });
  if (response.status !== 201 || !data) throw new Error(`could not create an order: ${response.status}`);
  return { order: data, etag: response.headers.get('etag')! };
}

t.test(
  'POST, PUT and DELETE of an order each append one event with the actor and the order as the API shows it',
  async (t) => {
    const { result: created, appended: onCreate } = await writeAndEvents(db, () =>
      billing.POST('/orders', {
        body: orderBody(nextDatetime(), { totalfee: 150.5, services: [{ id: 456 }, { id: 123 }] }),
      }),
    );
    t.equal(created.response.status, 201);
    const order = created.data!;
    t.same(
      onCreate.map(({ type, actor, subjectType, subjectId }) => ({ type, actor, subjectType, subjectId })),
      [{ type: 'order.created', actor: 'billing', subjectType: 'order', subjectId: order.id }],
      'one order.created by billing',
    );
    t.strictSame(onCreate[0]!.data, order, 'data is exactly the 201 body');
    t.strictSame(onCreate[0]!.data, (await readOrder(order.id)).data, 'and what GET shows');

    const { result: replaced, appended: onReplace } = await writeAndEvents(db, () =>
      client.PUT('/orders/{orderId}', {
        params: { path: { orderId: order.id } },
        body: orderBody(nextDatetime(), { totalfee: 0.01, services: [{ id: 789 }] }),
      }),
    );
    t.equal(replaced.response.status, 200);
    t.same(
      onReplace.map(({ type, actor, subjectId }) => ({ type, actor, subjectId })),
      [{ type: 'order.replaced', actor: 'test-suite', subjectId: order.id }],
      'one order.replaced by the key that replaced it',
    );
    t.strictSame(onReplace[0]!.data, replaced.data, 'data is exactly the 200 body');
    const beforeDelete = (await readOrder(order.id)).data;
    t.strictSame(onReplace[0]!.data, beforeDelete, 'and what GET shows');

    const onDelete = await eventsAppendedBy(db, async () => {
      const res = await billing.DELETE('/orders/{orderId}', { params: { path: { orderId: order.id } } });
      t.equal(res.response.status, 204);
    });
    t.same(
      onDelete.map(({ type, actor, subjectId }) => ({ type, actor, subjectId })),
      [{ type: 'order.deleted', actor: 'billing', subjectId: order.id }],
      'one order.deleted',
    );
    t.strictSame(onDelete[0]!.data, beforeDelete, 'data is the order as it was');

    const conditional = await createOrder();
    const onConditionalDelete = await eventsAppendedBy(db, async () => {
      const res = await client.DELETE('/orders/{orderId}', {
        params: { path: { orderId: conditional.order.id }, header: { 'If-Match': conditional.etag } },
      });
      t.equal(res.response.status, 204);
    });
    t.same(
      onConditionalDelete.map((e) => [e.type, e.data]),
      [['order.deleted', conditional.order]],
      'a DELETE with If-Match appends its one event too',
    );
  },
);

t.test(
  'POST, PUT and DELETE of a service each append one event; a rename is one event, not one per order',
  async (t) => {
    const { result: created, appended: onCreate } = await writeAndEvents(db, () =>
      billing.POST('/services', { body: { name: 'Calibration' } }),
    );
    t.equal(created.response.status, 201);
    const service = created.data!;
    t.same(
      onCreate.map(({ type, actor, subjectType, subjectId, data }) => ({ type, actor, subjectType, subjectId, data })),
      [
        {
          type: 'service.created',
          actor: 'billing',
          subjectType: 'service',
          subjectId: String(service.id),
          data: service,
        },
      ],
    );

    const users = [await createOrder([{ id: service.id }]), await createOrder([{ id: service.id }, { id: 123 }])];
    const onRename = await eventsAppendedBy(db, async () => {
      const res = await client.PUT('/services/{serviceId}', {
        params: { path: { serviceId: service.id } },
        body: { name: 'Full calibration' },
      });
      t.equal(res.response.status, 200);
    });
    t.same(
      onRename.map(({ type, actor, subjectId, data }) => ({ type, actor, subjectId, data })),
      [
        {
          type: 'service.replaced',
          actor: 'test-suite',
          subjectId: String(service.id),
          data: { id: service.id, name: 'Full calibration' },
        },
      ],
      'one service.replaced although two orders show the new name',
    );

    for (const { order } of users) {
      await client.DELETE('/orders/{orderId}', { params: { path: { orderId: order.id } } });
    }
    const onDelete = await eventsAppendedBy(db, async () => {
      const res = await client.DELETE('/services/{serviceId}', { params: { path: { serviceId: service.id } } });
      t.equal(res.response.status, 204);
    });
    t.same(
      onDelete.map(({ type, subjectId, data }) => ({ type, subjectId, data })),
      [{ type: 'service.deleted', subjectId: String(service.id), data: { id: service.id, name: 'Full calibration' } }],
      'service.deleted with the service as it was',
    );
  },
);

t.test('refused writes (404, 409, 412, 422) append no event', async (t) => {
  const { order, etag } = await createOrder();
  const neighbour = await createOrder();
  await client.PUT('/orders/{orderId}', {
    params: { path: { orderId: order.id } },
    body: orderBody(order.datetime, { totalfee: 1 }),
  });
  const statuses: number[] = [];
  const appended = await eventsAppendedBy(db, async () => {
    const attempts = [
      client.POST('/orders', { body: orderBody(order.datetime) }), // 409: the 3-hour rule
      client.POST('/orders', { body: orderBody(nextDatetime(), { services: [{ id: 999 }] }) }), // 422
      client.PUT('/orders/{orderId}', {
        params: { path: { orderId: order.id } },
        body: orderBody(neighbour.order.datetime),
      }), // 409
      client.PUT('/orders/{orderId}', {
        params: { path: { orderId: order.id } },
        body: orderBody(order.datetime, { services: [{ id: 999 }] }),
      }), // 422
      client.PUT('/orders/{orderId}', {
        params: { path: { orderId: order.id }, header: { 'If-Match': etag } },
        body: orderBody(order.datetime),
      }), // 412: stale
      client.DELETE('/orders/{orderId}', { params: { path: { orderId: order.id }, header: { 'If-Match': etag } } }), // 412
      client.PUT('/orders/{orderId}', { params: { path: { orderId: '987654321' } }, body: orderBody(nextDatetime()) }), // 404
      client.DELETE('/orders/{orderId}', { params: { path: { orderId: '987654321' } } }), // 404
      client.POST('/services', { body: { name: ' inspection ' } }), // 409: duplicate name
      client.POST('/services', { body: { id: 123, name: 'Another' } }), // 409: duplicate id
      client.PUT('/services/{serviceId}', { params: { path: { serviceId: 456 } }, body: { name: 'Testing' } }), // 409
      client.DELETE('/services/{serviceId}', { params: { path: { serviceId: 123 } } }), // 409: in use
      client.DELETE('/services/{serviceId}', { params: { path: { serviceId: 4242 } } }), // 404
    ];
    for (const attempt of attempts) statuses.push((await attempt).response.status);
  });
  t.same(statuses, [409, 422, 409, 422, 412, 412, 404, 404, 409, 409, 409, 409, 404], 'every write was refused');
  t.same(appended, [], 'and none appended an event');
});

t.test('an idempotent replay appends no event; neither does a replayed refusal', async (t) => {
  const body = orderBody(nextDatetime());
  const send = (key: string, b = body) =>
    client.POST('/orders', { body: b, params: { header: { 'Idempotency-Key': key } } });
  const first = await eventsAppendedBy(db, () => send('outbox-replay-1'));
  t.equal(first.length, 1, 'the first request appends its event');
  const replays = await eventsAppendedBy(db, async () => {
    for (let i = 0; i < 3; i++) {
      const res = await send('outbox-replay-1');
      t.equal(res.response.headers.get('idempotent-replayed'), 'true');
    }
    const refused = await send('outbox-replay-2'); // the same slot: 409, stored
    t.equal(refused.response.status, 409);
    const replayedRefusal = await send('outbox-replay-2');
    t.equal(replayedRefusal.response.headers.get('idempotent-replayed'), 'true');
  });
  t.same(replays, [], 'no replay appended anything');

  const service = await eventsAppendedBy(db, async () => {
    for (let i = 0; i < 2; i++) {
      await client.POST('/services', {
        body: { name: 'Keyed service' },
        params: { header: { 'Idempotency-Key': 'outbox-service' } },
      });
    }
  });
  t.same(
    service.map((e) => e.type),
    ['service.created'],
    'a keyed service create and its replay: one event',
  );
});

t.test('a write whose transaction rolls back leaves no event', async (t) => {
  const before = await storedEvents(db);
  const datetime = nextDatetime();
  await t.rejects(
    db.transaction().execute(async (trx) => {
      const outcome = await insertOrder(trx, { datetime, totalfee: '5', serviceIds: [123] }, 'rolled-back');
      t.ok('created' in outcome, 'the order was written in the transaction');
      await insertService(trx, { name: 'Never committed' }, 'rolled-back');
      const { rows } = await sql<{ n: number }>`SELECT count(*)::integer AS n FROM events`.execute(trx);
      t.equal(rows[0]!.n, before.length + 2, 'its events were appended in the same transaction');
      throw new Error('roll back');
    }),
    /roll back/,
  );
  t.same(await storedEvents(db), before, 'after the rollback: no event');
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::integer AS n FROM orders WHERE datetime = ${datetime}::timestamptz`.execute(db);
  t.equal(rows[0]!.n, 0, 'and no order');
});
