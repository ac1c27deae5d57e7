import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import t from 'tap';
import { buildApp } from '../../../src/app.js';
import { createApiKey } from '../../../src/keys/use-cases.js';
import type { components, OrdersClient } from '../../../src/client.js';
import { countRows, freshDatabase, storedServiceIds } from '../../helpers/database.js';
import { deleteStatements, entriesLeft, expiredEntriesWithDeleteLog } from '../../helpers/idempotency-sweep.js';
import { orderBody, seedCatalogue } from '../../helpers/fixtures.js';
import { typedClient } from '../../helpers/http.js';
import { startService } from '../../helpers/service.js';

const { client, api, db, url } = await startService(t);
await seedCatalogue(db);

type OrderInput = components['schemas']['OrderInput'];
type NewService = components['schemas']['NewService'];

let keys = 0;
/** A fresh Idempotency-Key, unique within this file. */
function newKey(label: string): string {
  keys += 1;
  return `${label}-${keys}-3f0c9a5e-8d21-4d7b`;
}

/** POST /orders with an Idempotency-Key, as `caller` (our key unless told otherwise). */
function postOrder(body: OrderInput, key: string, caller: OrdersClient = client) {
  return caller.POST('/orders', { body, params: { header: { 'Idempotency-Key': key } } });
}

/** POST /services with an Idempotency-Key. */
function postService(body: NewService, key: string) {
  return client.POST('/services', { body, params: { header: { 'Idempotency-Key': key } } });
}

const removeOrder = (orderId: string) => client.DELETE('/orders/{orderId}', { params: { path: { orderId } } });
const removeService = (serviceId: number) =>
  client.DELETE('/services/{serviceId}', { params: { path: { serviceId } } });
const renameService = (serviceId: number, name: string) =>
  client.PUT('/services/{serviceId}', { params: { path: { serviceId } }, body: { name } });

async function ordersAt(datetime: string): Promise<string[]> {
  const rows = await db
    .selectFrom('orders')
    .select(sql<string>`id::text`.as('id'))
    .where('datetime', '=', sql<string>`${datetime}::timestamptz`)
    .orderBy('id')
    .execute();
  return rows.map((r) => r.id);
}

async function storedEntry(key: string) {
  return db
    .selectFrom('idempotency_keys')
    .select(['status_code', 'response_headers', 'response_body', 'created_at'])
    .where('key', '=', key)
    .execute();
}

/** A second caller with its own API key, talking to the same service. */
async function anotherCaller(name: string): Promise<OrdersClient> {
  const { key } = await createApiKey(db, name, ['orders:read', 'orders:write', 'services:write']);
  return typedClient(url, key);
}

t.test('a retry after a 201 replays it: same status, body, Location and ETag, and one order', async (t) => {
  const key = newKey('created');
  const body = orderBody('2030-01-01T09:00:00.000Z', { services: [{ id: 123 }, { id: 456 }] });
  const first = await postOrder(body, key);
  t.equal(first.response.status, 201);
  const id = first.data!.id;
  t.equal(first.response.headers.get('idempotent-replayed'), null, 'the first response is not a replay');
  t.equal(first.response.headers.get('location'), `/orders/${id}`);
  t.ok(first.response.headers.get('etag'), 'the first response carries an ETag');

  for (let attempt = 1; attempt <= 3; attempt++) {
    const retry = await postOrder(body, key);
    t.equal(retry.response.status, 201, `retry ${attempt}: same status`);
    t.same(retry.data, first.data, `retry ${attempt}: same body, same order id`);
    t.equal(
      retry.response.headers.get('location'),
      first.response.headers.get('location'),
      `retry ${attempt}: same Location`,
    );
    t.equal(retry.response.headers.get('etag'), first.response.headers.get('etag'), `retry ${attempt}: same ETag`);
    t.equal(retry.response.headers.get('idempotent-replayed'), 'true', `retry ${attempt}: marked as a replay`);
  }

  t.same(await ordersAt(body.datetime), [id], 'exactly one order in the database');
  const serviceIds = await storedServiceIds(db, id);
  t.same(serviceIds, [123, 456], 'its service links were written once');
  const entries = await storedEntry(key);
  t.equal(entries.length, 1, 'one idempotency entry');
  t.equal(entries[0]!.status_code, 201);
  t.same(entries[0]!.response_body, first.data, 'the stored response is the one sent');
  await removeOrder(id);
});

t.test('a replay is the stored response, not the current state of the order', async (t) => {
  const key = newKey('snapshot');
  const body = orderBody('2030-01-05T09:00:00.000Z');
  const first = await postOrder(body, key);
  t.equal(first.response.status, 201);
  const id = first.data!.id;
  const changed = await client.PUT('/orders/{orderId}', {
    params: { path: { orderId: id } },
    body: { ...body, totalfee: 555 },
  });
  t.equal(changed.response.status, 200);

  const retry = await postOrder(body, key);
  t.equal(retry.response.status, 201);
  t.same(retry.data, first.data, 'the first response, byte for byte');
  t.equal(retry.response.headers.get('etag'), first.response.headers.get('etag'));
  t.equal(retry.response.headers.get('idempotent-replayed'), 'true');
  t.equal(await countRows(db, 'orders'), 1, 'no order was created by the retry');
  const stored = await db.selectFrom('orders').select('totalfee').where('id', '=', id).executeTakeFirstOrThrow();
  t.equal(stored.totalfee, '555.00', 'and the replace was not undone');
  await removeOrder(id);
});

t.test('a retry after a 409 replays the 409, even once the conflict is gone, and creates nothing', async (t) => {
  const blocker = await client.POST('/orders', { body: orderBody('2030-02-01T09:00:00.000Z') });
  t.equal(blocker.response.status, 201);
  const key = newKey('conflict');
  const body = orderBody('2030-02-01T10:00:00.000Z');

  const first = await postOrder(body, key);
  t.equal(first.response.status, 409);
  t.match(first.error, {
    type: '/problems/schedule-conflict',
    status: 409,
    conflictingOrderId: blocker.data!.id,
    instance: '/orders',
  });
  t.equal(first.response.headers.get('idempotent-replayed'), null);

  const retry = await postOrder(body, key);
  t.equal(retry.response.status, 409);
  t.same(retry.error, first.error, 'the same problem');
  t.equal(retry.response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  t.equal(retry.response.headers.get('idempotent-replayed'), 'true');

  t.equal((await removeOrder(blocker.data!.id)).response.status, 204, 'the conflicting order is deleted');
  const afterDelete = await postOrder(body, key);
  t.equal(afterDelete.response.status, 409, 'still the stored 409, not a fresh create');
  t.same(afterDelete.error, first.error);
  t.equal(afterDelete.response.headers.get('idempotent-replayed'), 'true');

  t.same(await ordersAt(body.datetime), [], 'no order was created at the requested time');
  t.equal(await countRows(db, 'orders'), 0);
  const entries = await storedEntry(key);
  t.equal(entries[0]!.status_code, 409);

  const fresh = await postOrder(body, newKey('conflict-new'));
  t.equal(fresh.response.status, 201, 'a new key is a new request, and now succeeds');
  await removeOrder(fresh.data!.id);
});

t.test('a retry after a 422 (unknown service) replays the 422, even once the service exists', async (t) => {
  const key = newKey('unknown');
  const body = orderBody('2030-03-01T09:00:00.000Z', { services: [{ id: 123 }, { id: 9001 }] });
  const first = await postOrder(body, key);
  t.equal(first.response.status, 422);
  t.match(first.error, { type: '/problems/unknown-service', unknownServiceIds: [9001] });

  const retry = await postOrder(body, key);
  t.equal(retry.response.status, 422);
  t.same(retry.error, first.error);
  t.equal(retry.response.headers.get('idempotent-replayed'), 'true');

  await db.insertInto('services').values({ id: 9001, name: 'Late addition' }).execute();
  const afterInsert = await postOrder(body, key);
  t.equal(afterInsert.response.status, 422, 'still the stored 422');
  t.same(afterInsert.error, first.error);
  t.equal(afterInsert.response.headers.get('idempotent-replayed'), 'true');

  t.equal(await countRows(db, 'orders'), 0, 'nothing was created');
  t.equal(await countRows(db, 'order_services'), 0);
  await db.deleteFrom('services').where('id', '=', 9001).execute();
});

t.test('the same key with a different body is 422 idempotency-key-reused and creates nothing', async (t) => {
  const key = newKey('reused');
  const body = orderBody('2030-04-01T09:00:00.000Z');
  const first = await postOrder(body, key);
  t.equal(first.response.status, 201);

  const variants: [string, OrderInput][] = [
    ['another datetime', orderBody('2030-04-10T09:00:00.000Z')],
    ['another fee', { ...body, totalfee: 101 }],
    ['other services', { ...body, services: [{ id: 456 }] }],
    ['an extra service', { ...body, services: [{ id: 123 }, { id: 456 }] }],
  ];
  for (const [label, variant] of variants) {
    const res = await postOrder(variant, key);
    t.equal(res.response.status, 422, label);
    t.match(res.error, { type: '/problems/idempotency-key-reused', status: 422, instance: '/orders' }, label);
    t.equal(res.response.headers.get('idempotent-replayed'), null, `${label}: not a replay`);
  }
  t.same(await ordersAt('2030-04-10T09:00:00.000Z'), [], 'the other datetime was not booked');
  t.equal(await countRows(db, 'orders'), 1, 'only the first order exists');
  const entries = await storedEntry(key);
  t.equal(entries.length, 1);
  t.same(entries[0]!.response_body, first.data, 'the stored response is still the first one');

  const retry = await postOrder(body, key);
  t.equal(retry.response.status, 201, 'the original body still replays afterwards');
  t.same(retry.data, first.data);
  await removeOrder(first.data!.id);
});

t.test('the order of keys inside the JSON body does not make it a different request', async (t) => {
  // raw: the point is the exact JSON text on the wire (key order and whitespace)
  const key = newKey('reordered');
  const first = await api.request('POST', '/orders', {
    raw: '{"datetime":"2030-05-01T09:00:00.000Z","totalfee":100,"services":[{"id":123}]}',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
  });
  t.equal(first.status, 201);
  const reordered = await api.request('POST', '/orders', {
    raw: '{ "services": [ { "id": 123 } ], "totalfee": 100, "datetime": "2030-05-01T09:00:00.000Z" }',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
  });
  t.equal(reordered.status, 201, 'replayed, not refused');
  t.same(reordered.body, first.body);
  t.equal(reordered.headers.get('idempotent-replayed'), 'true');
  t.equal(await countRows(db, 'orders'), 1);
  await removeOrder(first.body.id);
});

t.test(
  'a retry that says the same thing differently replays: "123" for 123, .000Z for Z, services reordered',
  async (t) => {
    const key = newKey('normalised');
    const first = await postOrder(
      { datetime: '2030-06-01T09:00:00Z', totalfee: 100, services: [{ id: 123 }, { id: 456 }] },
      key,
    );
    t.equal(first.response.status, 201);
    const same = await postOrder(
      {
        datetime: '2030-06-01T10:00:00.000+01:00',
        totalfee: 100.0,
        services: [{ id: '456' }, { id: 123, name: 'Inspection' }],
      },
      key,
    );
    t.equal(same.response.status, 201, 'replayed, not refused');
    t.equal(same.response.headers.get('idempotent-replayed'), 'true');
    t.same(same.data, first.data);
    const different = await postOrder(
      { datetime: '2030-06-01T09:00:00Z', totalfee: 100.01, services: [{ id: 123 }, { id: 456 }] },
      key,
    );
    t.equal(different.response.status, 422, 'a different fee is a different request');
    t.equal(await countRows(db, 'orders'), 1);
    await removeOrder(first.data!.id);
  },
);

t.test('Idempotency-Keys are scoped per API key', async (t) => {
  const key = newKey('shared');
  const body = orderBody('2030-06-01T09:00:00.000Z');
  const first = await postOrder(body, key);
  t.equal(first.response.status, 201);
  const ours = first.data!;

  const billing = await anotherCaller('billing');
  const billingBody = orderBody('2030-06-02T09:00:00.000Z');
  const theirs = await postOrder(billingBody, key, billing);
  t.equal(theirs.response.status, 201, 'another caller with the same key string creates its own order (not 422)');
  t.not(theirs.data?.id, ours.id);
  t.equal(theirs.response.headers.get('idempotent-replayed'), null);
  t.equal(theirs.data?.createdBy, 'billing');

  const shipping = await anotherCaller('shipping');
  const same = await postOrder(body, key, shipping);
  t.equal(same.response.status, 409, "a third caller's identical request is a fresh request, not our replay");
  t.match(same.error, { type: '/problems/schedule-conflict', conflictingOrderId: ours.id });
  t.equal(same.response.headers.get('idempotent-replayed'), null);

  const ourRetry = await postOrder(body, key);
  t.same([ourRetry.response.status, ourRetry.data], [201, ours], 'our retry still replays ours');
  const theirRetry = await postOrder(billingBody, key, billing);
  t.same([theirRetry.response.status, theirRetry.data], [201, theirs.data], 'their retry replays theirs');
  t.equal(theirRetry.response.headers.get('idempotent-replayed'), 'true');

  t.same(await ordersAt(body.datetime), [ours.id]);
  t.same(await ordersAt(billingBody.datetime), [theirs.data!.id]);
  const entries = await db
    .selectFrom('idempotency_keys')
    .select(sql<string>`api_key_id::text`.as('owner'))
    .where('key', '=', key)
    .execute();
  t.equal(new Set(entries.map((e) => e.owner)).size, 3, 'one entry per API key');
  for (const id of [ours.id, theirs.data!.id]) await removeOrder(id);
});

// Concurrent duplicates do not race: the first to claim the key holds its row lock until its
// transaction ends, the others wait on that lock and then replay what it stored (no "in progress"
// answer exists). PGlite runs one transaction at a time, so only the Postgres run really races.
t.test(
  'concurrent duplicates with one key: every one gets the same 201, exactly one did the work, one order (the race is real in the Postgres run only)',
  async (t) => {
    for (let round = 0; round < 5; round++) {
      const key = newKey(`race-${round}`);
      const body = orderBody(`2030-07-0${round + 1}T09:00:00.000Z`, { totalfee: 10 + round });
      const results = await Promise.all(Array.from({ length: 20 }, () => postOrder(body, key)));

      t.same(
        results.map((r) => r.response.status),
        Array(20).fill(201),
        `round ${round}: all 20 answered 201 (a duplicate waits for the first and replays it)`,
      );
      const first = results[0]!;
      for (const [i, r] of results.entries()) {
        t.same(r.data, first.data, `round ${round}: request ${i} has the same body`);
        t.equal(
          r.response.headers.get('location'),
          `/orders/${first.data!.id}`,
          `round ${round}: request ${i} has the same Location`,
        );
        t.equal(
          r.response.headers.get('etag'),
          first.response.headers.get('etag'),
          `round ${round}: request ${i} has the same ETag`,
        );
      }
      const replayed = results.map((r) => r.response.headers.get('idempotent-replayed'));
      t.equal(
        replayed.filter((h) => h === null).length,
        1,
        `round ${round}: exactly one request did the work (no idempotent-replayed)`,
      );
      t.equal(
        replayed.filter((h) => h === 'true').length,
        19,
        `round ${round}: the other 19 say idempotent-replayed: true`,
      );

      const id = first.data!.id;
      t.same(await ordersAt(body.datetime), [id], `round ${round}: one order in the database`);
      const entries = await storedEntry(key);
      t.equal(entries.length, 1);
      t.equal(entries[0]!.status_code, 201, `round ${round}: the 201 is stored`);

      const retry = await postOrder(body, key);
      t.same([retry.response.status, retry.data], [201, first.data], `round ${round}: a later retry replays it`);
      await removeOrder(id);
    }
    t.equal(await countRows(db, 'orders'), 0);
  },
);

t.test('an entry younger than 24 hours still replays; an older one does not', async (t) => {
  const key = newKey('aging');
  const body = orderBody('2030-08-01T09:00:00.000Z');
  const first = await postOrder(body, key);
  t.equal(first.response.status, 201);
  const firstId = first.data!.id;

  await sql`UPDATE idempotency_keys SET created_at = now() - interval '23 hours' WHERE key = ${key}`.execute(db);
  const young = await postOrder(body, key);
  t.equal(young.response.status, 201, 'a 23-hour-old entry replays');
  t.same(young.data, first.data);
  t.equal(young.response.headers.get('idempotent-replayed'), 'true');

  await sql`UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = ${key}`.execute(db);
  const old = await postOrder(body, key);
  t.equal(old.response.status, 409, 'after 25 hours the same request is fresh, and conflicts with the first order');
  t.match(old.error, { type: '/problems/schedule-conflict', conflictingOrderId: firstId });
  t.equal(old.response.headers.get('idempotent-replayed'), null, 'not a replay');
  t.same(await ordersAt(body.datetime), [firstId], 'no second order');
  const entries = await storedEntry(key);
  t.equal(entries.length, 1);
  t.equal(entries[0]!.status_code, 409, 'the entry now holds the fresh answer');
  t.ok(Date.now() - Date.parse(entries[0]!.created_at) < 60 * 60 * 1000, 'and a new creation time');

  const replayOfFresh = await postOrder(body, key);
  t.same(
    [replayOfFresh.response.status, replayOfFresh.error],
    [409, old.error],
    'the fresh answer is what replays now',
  );
  t.equal(replayOfFresh.response.headers.get('idempotent-replayed'), 'true');

  const key2 = newKey('aging-new-body');
  const second = await postOrder(orderBody('2030-08-05T09:00:00.000Z'), key2);
  t.equal(second.response.status, 201);
  await sql`UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = ${key2}`.execute(db);
  const reusedLater = await postOrder(orderBody('2030-08-10T09:00:00.000Z'), key2);
  t.equal(reusedLater.response.status, 201, 'an expired key may be used for a different request: a new 201, not 422');
  t.not(reusedLater.data?.id, second.data?.id);
  t.equal(reusedLater.response.headers.get('idempotent-replayed'), null);
  t.same(await ordersAt('2030-08-10T09:00:00.000Z'), [reusedLater.data?.id]);
  for (const id of [firstId, second.data!.id, reusedLater.data!.id]) await removeOrder(id);
});

t.test('a malformed Idempotency-Key header is 400 and creates nothing', async (t) => {
  const cases: [string, string][] = [
    ['empty', ''],
    ['over 255 characters', 'k'.repeat(256)],
    ['with a space', 'two words'],
    ['with a tab', 'tab\there'],
    ['non-ASCII', 'clé-1'],
  ];
  // Each case asks for its own slot, so a wrongly accepted one shows as a 201, not as a conflict.
  const datetimes = cases.map((_, i) => `2030-09-0${i + 1}T09:00:00.000Z`);
  for (const [i, [label, value]] of cases.entries()) {
    const res = await postOrder(orderBody(datetimes[i]!), value);
    t.equal(res.response.status, 400, label);
    t.equal(res.error?.type, '/problems/validation', label);
    t.match(res.error?.errors?.[0]?.path ?? '', /idempotency-key/i, `${label}: the error names the header`);
  }
  const services = await postService({ name: 'Header check' }, 'bad services key');
  t.equal(services.response.status, 400, 'POST /services checks the header too');

  const stray = await db
    .selectFrom('orders')
    .select(sql<string>`id::text`.as('id'))
    .execute();
  t.same(stray, [], 'no order was created');
  t.equal(await countRows(db, 'services'), 3, 'no service was created');
  const entries = await db.selectFrom('idempotency_keys').select('key').execute();
  const refused = new Set([...cases.map(([, value]) => value), 'bad services key']);
  t.same(
    entries.filter((e) => refused.has(e.key)),
    [],
    'no idempotency entry for a refused key',
  );
  // Leave the file's later tests a clean slate even when the checks above fail.
  for (const { id } of stray) await removeOrder(id);
  await db.deleteFrom('services').where('name', '=', 'Header check').execute();

  const longest = await postOrder(orderBody('2030-09-10T09:00:00.000Z'), '~'.repeat(255));
  t.equal(longest.response.status, 201, 'a 255-character key of visible ASCII is fine');
  const edges = await postOrder(orderBody('2030-09-11T09:00:00.000Z'), '!azAZ09-_.:~');
  t.equal(edges.response.status, 201, 'any visible ASCII character is fine');
  for (const res of [longest, edges]) await removeOrder(res.data!.id);
});

t.test('POST /services replays the created service; the same key with another name is 422', async (t) => {
  const key = newKey('service');
  const first = await postService({ id: 321, name: 'Calibration' }, key);
  t.equal(first.response.status, 201);
  t.same(first.data, { id: 321, name: 'Calibration' });
  t.equal(first.response.headers.get('location'), '/services/321');

  const retry = await postService({ id: 321, name: 'Calibration' }, key);
  t.equal(retry.response.status, 201, 'replayed, not 409 for a duplicate');
  t.same(retry.data, first.data);
  t.equal(retry.response.headers.get('location'), '/services/321');
  t.equal(retry.response.headers.get('idempotent-replayed'), 'true');

  const renamed = await postService({ id: 321, name: 'Recalibration' }, key);
  t.equal(renamed.response.status, 422);
  t.match(renamed.error, { type: '/problems/idempotency-key-reused', instance: '/services' });
  t.equal(renamed.response.headers.get('idempotent-replayed'), null);

  const asOrder = await postOrder(orderBody('2030-09-20T09:00:00.000Z'), key);
  t.equal(asOrder.response.status, 422, 'the key used for another operation is a different request too');
  t.equal(asOrder.error?.type, '/problems/idempotency-key-reused');
  t.equal(await countRows(db, 'orders'), 0);

  const assignedKey = newKey('service-assigned');
  const assigned = await postService({ name: 'Assigned id' }, assignedKey);
  t.equal(assigned.response.status, 201);
  const assignedRetry = await postService({ name: 'Assigned id' }, assignedKey);
  t.same(
    [assignedRetry.response.status, assignedRetry.data],
    [201, assigned.data],
    'a server-assigned id is replayed too',
  );

  const names = await db
    .selectFrom('services')
    .select('name')
    .where('name', 'in', ['Calibration', 'Recalibration', 'Assigned id'])
    .orderBy('name')
    .execute();
  t.same(
    names.map((n) => n.name),
    ['Assigned id', 'Calibration'],
    'each service stored once, the renamed one never',
  );
  t.equal(await countRows(db, 'services'), 5);
  await removeService(321);
  await removeService(assigned.data!.id);
});

t.test('a refused POST /services (duplicate name) replays its 409', async (t) => {
  const key = newKey('service-dup');
  const first = await postService({ name: 'inspection' }, key);
  t.equal(first.response.status, 409);
  t.equal(first.error?.type, '/problems/conflict');
  await renameService(123, 'Visual inspection');
  const retry = await postService({ name: 'inspection' }, key);
  t.equal(retry.response.status, 409, 'still the stored 409 after the name became free');
  t.same(retry.error, first.error);
  t.equal(retry.response.headers.get('idempotent-replayed'), 'true');
  t.equal(await countRows(db, 'services'), 3);
  await renameService(123, 'Inspection');
});

t.test('without an Idempotency-Key two identical POSTs are two requests', async (t) => {
  const body = orderBody('2030-10-01T09:00:00.000Z');
  const first = await client.POST('/orders', { body });
  t.equal(first.response.status, 201);
  const second = await client.POST('/orders', { body });
  t.equal(second.response.status, 409, 'the second conflicts with the first');
  t.match(second.error, { type: '/problems/schedule-conflict', conflictingOrderId: first.data!.id });
  t.equal(second.response.headers.get('idempotent-replayed'), null);
  t.same(await ordersAt(body.datetime), [first.data!.id]);
  t.equal(await countRows(db, 'orders'), 1);
  await removeOrder(first.data!.id);
});

t.test(
  'on start the service sweeps 50,000 expired entries in batches of at most 2,000 rows a statement, and keeps the rest',
  async (t) => {
    const { db } = await freshDatabase(t);
    await expiredEntriesWithDeleteLog(db, 50_000, 10);
    const app = await buildApp({ db });
    t.teardown(() => app.close());
    await app.listen({ port: 0, host: '127.0.0.1' });

    const deadline = Date.now() + 60_000;
    while ((await entriesLeft(db)).expired > 0 && Date.now() < deadline) await sleep(200);
    t.same(await entriesLeft(db), { expired: 0, fresh: 10 }, 'every expired entry is gone; the younger ones stay');
    const statements = await deleteStatements(db);
    t.equal(
      statements.reduce((sum, n) => sum + n, 0),
      50_000,
      'the deletes, together, removed the 50,000',
    );
    t.ok(statements.length >= 25, `in ${statements.length} DELETE statements`);
    t.ok(
      statements.every((n) => n <= 2_000),
      `none removed more than 2,000 rows (largest ${Math.max(...statements)})`,
    );
  },
);
