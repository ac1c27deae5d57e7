import { sql } from 'kysely';
import { storedServiceIds } from '../../helpers/database.js';
import t from 'tap';
import { createApiKey } from '../../../src/keys/use-cases.js';
import type { components, OrdersClient } from '../../../src/client.js';
import { orderBody, seedCatalogue } from '../../helpers/fixtures.js';
import { typedClient } from '../../helpers/http.js';
import { startService } from '../../helpers/service.js';

const { client, db, url } = await startService(t);
await seedCatalogue(db);

type OrderInput = components['schemas']['OrderInput'];

let slot = 0;
/** A datetime no other order in this file uses (a day apart, far from every 3-hour window). */
function nextDatetime(): string {
  slot += 1;
  return new Date(Date.UTC(2031, 0, slot, 9)).toISOString();
}

async function createOrder(overrides: Record<string, unknown> = {}) {
  const { data, error, response } = await client.POST('/orders', { body: orderBody(nextDatetime(), overrides) });
  if (response.status !== 201 || !data)
    throw new Error(`could not create an order: ${response.status} ${JSON.stringify(error)}`);
  return { id: data.id, etag: response.headers.get('etag')!, body: data, datetime: data.datetime };
}

const read = (orderId: string, caller: OrdersClient = client) =>
  caller.GET('/orders/{orderId}', { params: { path: { orderId } } });
const replace = (orderId: string, body: OrderInput) =>
  client.PUT('/orders/{orderId}', { params: { path: { orderId } }, body });
const remove = (orderId: string) => client.DELETE('/orders/{orderId}', { params: { path: { orderId } } });

function putIfMatch(orderId: string, ifMatch: string, body: OrderInput, caller: OrdersClient = client) {
  return caller.PUT('/orders/{orderId}', { params: { path: { orderId }, header: { 'If-Match': ifMatch } }, body });
}

function deleteIfMatch(orderId: string, ifMatch: string) {
  return client.DELETE('/orders/{orderId}', { params: { path: { orderId }, header: { 'If-Match': ifMatch } } });
}

function getIfNoneMatch(orderId: string, ifNoneMatch: string) {
  return client.GET('/orders/{orderId}', { params: { path: { orderId }, header: { 'If-None-Match': ifNoneMatch } } });
}

/** The stored row, to check what a refused request left behind. */
async function storedOrder(id: string) {
  const row = await db
    .selectFrom('orders')
    .select(['version', 'totalfee', 'datetime', 'updated_at', 'updated_by'])
    .where('id', '=', sql<string>`${id}::bigint`)
    .executeTakeFirst();
  return row && { ...row, services: await storedServiceIds(db, id) };
}

async function caller(name: string): Promise<OrdersClient> {
  const { key } = await createApiKey(db, name, ['orders:read', 'orders:write']);
  return typedClient(url, key);
}

const weak = (etag: string) => `W/${etag}`;

t.test('POST, GET and PUT carry a strong ETag; it changes with every PUT and differs between orders', async (t) => {
  const created = await createOrder();
  t.match(created.etag, /^"[^"]+"$/, 'a strong, quoted entity tag');

  const got = await read(created.id);
  t.equal(got.response.status, 200);
  t.equal(got.response.headers.get('etag'), created.etag, 'GET gives the ETag POST gave');

  const seen = new Set([created.etag]);
  let current = created.etag;
  for (let i = 1; i <= 3; i++) {
    // The same content each time: a replace is still a new version.
    const put = await replace(created.id, orderBody(created.datetime, { totalfee: 7 }));
    t.equal(put.response.status, 200);
    const etag = put.response.headers.get('etag')!;
    t.match(etag, /^"[^"]+"$/);
    t.not(etag, current, `PUT ${i} changes the ETag`);
    t.notOk(seen.has(etag), `PUT ${i} gives an ETag never seen before`);
    seen.add(etag);
    current = etag;
    t.equal((await read(created.id)).response.headers.get('etag'), etag, `GET after PUT ${i} gives the new ETag`);
  }
  t.equal((await storedOrder(created.id))!.version, 4, 'the stored version counts the replaces');

  const other = await createOrder();
  t.not(other.etag, created.etag, 'another order has another ETag');
  t.notOk(seen.has(other.etag), 'even at the same version');
  for (const id of [created.id, other.id]) await remove(id);
});

t.test('a refused PUT (409 or 422) leaves the ETag as it was', async (t) => {
  const order = await createOrder();
  const neighbour = await createOrder();
  const conflict = await replace(order.id, orderBody(neighbour.datetime));
  t.equal(conflict.response.status, 409);
  const unknown = await replace(order.id, orderBody(order.datetime, { services: [{ id: 999 }] }));
  t.equal(unknown.response.status, 422);
  t.equal((await read(order.id)).response.headers.get('etag'), order.etag);
  t.equal((await storedOrder(order.id))!.version, 1);
  const put = await putIfMatch(order.id, order.etag, orderBody(order.datetime, { totalfee: 1 }));
  t.equal(put.response.status, 200, 'the ETag from before the refusals still matches');
  for (const id of [order.id, neighbour.id]) await remove(id);
});

t.test('GET with If-None-Match: 304 without a body while the order is unchanged, 200 otherwise', async (t) => {
  const order = await createOrder();

  const notModified = await getIfNoneMatch(order.id, order.etag);
  t.equal(notModified.response.status, 304, 'the current ETag');
  // openapi-fetch hands a 304 back as `error`: the empty body text '' (undefined if Content-Length: 0 were sent).
  t.notOk(notModified.data ?? notModified.error, 'no body');
  t.equal(notModified.response.headers.get('etag'), order.etag, 'the ETag is repeated');
  t.notOk(Number(notModified.response.headers.get('content-length') ?? 0), 'no content');

  const star = await getIfNoneMatch(order.id, '*');
  t.equal(star.response.status, 304, '`*` matches any existing order');
  t.notOk(star.data ?? star.error);
  t.equal(star.response.headers.get('etag'), order.etag);

  const weakForm = await getIfNoneMatch(order.id, weak(order.etag));
  t.equal(weakForm.response.status, 304, 'If-None-Match compares weakly: W/"..." of the current tag matches');
  t.equal(weakForm.response.headers.get('etag'), order.etag);

  const inList = await getIfNoneMatch(order.id, `"nope", ${order.etag}, W/"other"`);
  t.equal(inList.response.status, 304, 'a list containing the current tag');

  const put = await replace(order.id, orderBody(order.datetime, { totalfee: 42 }));
  const newEtag = put.response.headers.get('etag')!;
  const stale = await getIfNoneMatch(order.id, order.etag);
  t.equal(stale.response.status, 200, 'an old ETag gets the order');
  t.same(stale.data, put.data, 'as it is now');
  t.equal(stale.response.headers.get('etag'), newEtag);
  t.equal((await getIfNoneMatch(order.id, newEtag)).response.status, 304, 'and the new ETag is not modified');

  const another = await createOrder();
  const foreign = await getIfNoneMatch(order.id, another.etag);
  t.equal(foreign.response.status, 200, "another order's ETag does not match");
  t.equal(foreign.data?.id, order.id);

  for (const id of [order.id, another.id]) await remove(id);
  const gone = await getIfNoneMatch(order.id, '*');
  t.equal(gone.response.status, 404, 'an unknown order is 404 whatever If-None-Match says');
});

t.test('PUT with If-Match: the current ETag (or `*`) applies the change; anything else is 412', async (t) => {
  const order = await createOrder({ services: [{ id: 123 }, { id: 456 }] });

  const current = await putIfMatch(order.id, order.etag, orderBody(order.datetime, { totalfee: 200 }));
  t.equal(current.response.status, 200, 'the current ETag');
  t.equal(current.data?.totalfee, 200);
  const v2 = current.response.headers.get('etag')!;
  t.not(v2, order.etag);

  const before = await storedOrder(order.id);
  const readBefore = await read(order.id);
  const stale = await putIfMatch(
    order.id,
    order.etag,
    orderBody(nextDatetime(), { totalfee: 999, services: [{ id: 789 }] }),
  );
  t.equal(stale.response.status, 412, 'an old ETag');
  t.equal(stale.response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  t.match(stale.error, { type: '/problems/precondition-failed', status: 412, instance: `/orders/${order.id}` });
  t.equal(stale.response.headers.get('etag'), v2, 'the 412 carries the current ETag');
  t.ok(stale.error?.detail.includes(v2), 'and names it');
  const readAfter = await read(order.id);
  t.same(readAfter.data, readBefore.data, 'GET shows the order unchanged');
  t.equal(readAfter.response.headers.get('etag'), v2);
  t.same(await storedOrder(order.id), before, 'the stored row and service links are unchanged');

  const weakCurrent = await putIfMatch(order.id, weak(v2), orderBody(order.datetime, { totalfee: 5 }));
  t.equal(weakCurrent.response.status, 412, 'a weak tag never matches If-Match, even the current one');
  t.equal(weakCurrent.response.headers.get('etag'), v2);
  t.same(await storedOrder(order.id), before);

  const foreign = await createOrder();
  const otherOrders = await putIfMatch(order.id, foreign.etag, orderBody(order.datetime, { totalfee: 5 }));
  t.equal(otherOrders.response.status, 412, "another order's ETag does not match");

  t.same(await storedOrder(order.id), before, 'nothing changed by any refused PUT');

  const list = await putIfMatch(
    order.id,
    `"stale", ${order.etag}, ${v2}, W/"x"`,
    orderBody(order.datetime, { totalfee: 300 }),
  );
  t.equal(list.response.status, 200, 'a list containing the current tag');
  t.equal(list.data?.totalfee, 300);
  const v3 = list.response.headers.get('etag')!;

  const star = await putIfMatch(order.id, '*', orderBody(order.datetime, { totalfee: 400 }));
  t.equal(star.response.status, 200, '`If-Match: *` matches any existing order');
  t.not(star.response.headers.get('etag'), v3);
  const stored = await storedOrder(order.id);
  t.equal(stored!.totalfee, '400.00');
  t.equal(stored!.version, 4);

  for (const id of [order.id, foreign.id]) await remove(id);
});

t.test(
  'If-Match compares strongly and exactly: a tag that merely parses to the current version is not it',
  async (t) => {
    const order = await createOrder();
    const before = await storedOrder(order.id);
    const variants = [
      order.etag.replace(/-(\d+)"$/, '-0$1"'), // "<id>-01" for "<id>-1"
      order.etag.replace(/-(\d+)"$/, '-00$1"'),
    ];
    for (const variant of variants) {
      t.not(variant, order.etag);
      const res = await putIfMatch(order.id, variant, orderBody(order.datetime, { totalfee: 5 }));
      t.equal(res.response.status, 412, `PUT: ${variant} is not ${order.etag}`);
      const del = await deleteIfMatch(order.id, variant);
      t.equal(del.response.status, 412, `DELETE: ${variant} is not ${order.etag}`);
    }
    t.same(await storedOrder(order.id), before, 'the order is unchanged and still exists');
    await remove(order.id);
  },
);

t.test(
  "another order's ETag at the same version matches neither If-Match nor If-None-Match: the order id is compared, not only the version",
  async (t) => {
    const a = await createOrder({ totalfee: 10, services: [{ id: 123 }, { id: 456 }] });
    const b = await createOrder({ totalfee: 20 });
    const before = await storedOrder(a.id);
    t.equal(before!.version, 1, 'precondition: A is at version 1');
    t.equal((await storedOrder(b.id))!.version, 1, 'precondition: B is at version 1 too');
    t.not(b.etag, a.etag);
    const readBefore = await read(a.id);

    const put = await putIfMatch(a.id, b.etag, orderBody(a.datetime, { totalfee: 99, services: [{ id: 789 }] }));
    t.equal(put.response.status, 412, "PUT A with If-Match: B's ETag is 412");
    t.match(put.error, { type: '/problems/precondition-failed', instance: `/orders/${a.id}` });
    t.equal(put.response.headers.get('etag'), a.etag, "the 412 carries A's own ETag");
    t.same(await storedOrder(a.id), before, 'the refused PUT changed nothing in the database');

    const del = await deleteIfMatch(a.id, b.etag);
    t.equal(del.response.status, 412, "DELETE A with If-Match: B's ETag is 412");
    t.equal(del.response.headers.get('etag'), a.etag);
    t.same(await storedOrder(a.id), before, 'the refused DELETE left the row and its service links');

    for (const tag of [b.etag, weak(b.etag)]) {
      const got = await getIfNoneMatch(a.id, tag);
      t.equal(got.response.status, 200, `GET A with If-None-Match: ${tag} is 200, not 304`);
      t.same(got.data, readBefore.data, 'with the whole order as its body');
      t.equal(got.response.headers.get('etag'), a.etag);
    }
    const bAfter = await storedOrder(b.id);
    t.equal(bAfter!.version, 1, 'B is untouched: still version 1');
    t.equal(bAfter!.totalfee, '20.00', 'and its fee');
    for (const id of [a.id, b.id]) await remove(id);
  },
);

t.test('the lost update: two clients edit the same version, the second is refused and changes nothing', async (t) => {
  const alice = await caller('alice');
  const bob = await caller('bob');
  const order = await createOrder({ totalfee: 100 });

  const aliceRead = await read(order.id, alice);
  const bobRead = await read(order.id, bob);
  t.equal(aliceRead.response.headers.get('etag'), bobRead.response.headers.get('etag'), 'both saw the same version');

  const aliceWrite = await putIfMatch(
    order.id,
    aliceRead.response.headers.get('etag')!,
    { ...aliceRead.data!, totalfee: 150 },
    alice,
  );
  t.equal(aliceWrite.response.status, 200, 'the first writer wins');
  t.equal(aliceWrite.data?.updatedBy, 'alice');

  const bobWrite = await putIfMatch(
    order.id,
    bobRead.response.headers.get('etag')!,
    { ...bobRead.data!, totalfee: 90, services: [{ id: 789 }] },
    bob,
  );
  t.equal(bobWrite.response.status, 412, 'the second writer is told the order changed');
  t.equal(bobWrite.response.headers.get('etag'), aliceWrite.response.headers.get('etag'), "and gets the winner's ETag");

  const now = await read(order.id, bob);
  t.same(now.data, aliceWrite.data, "the order is alice's version");
  const stored = await storedOrder(order.id);
  t.match(stored, { updated_by: 'alice', version: 2, services: [123] }, "bob's change was not applied");
  t.equal(stored!.totalfee, '150.00', "alice's fee is stored, exactly");

  const bobRetry = await putIfMatch(order.id, now.response.headers.get('etag')!, { ...now.data!, totalfee: 90 }, bob);
  t.equal(bobRetry.response.status, 200, 'after reading again, bob can write');
  const afterRetry = await storedOrder(order.id);
  t.match(afterRetry, { updated_by: 'bob', version: 3 });
  t.equal(afterRetry!.totalfee, '90.00');
  await remove(order.id);
});

t.test('concurrent PUTs with the same If-Match: exactly one wins', async (t) => {
  for (let round = 0; round < 5; round++) {
    const order = await createOrder();
    const fees = [11, 22, 33, 44, 55, 66];
    const results = await Promise.all(
      fees.map((fee) => putIfMatch(order.id, order.etag, orderBody(order.datetime, { totalfee: fee }))),
    );
    const statuses = results.map((r) => r.response.status).sort();
    t.same(statuses, [200, 412, 412, 412, 412, 412], `round ${round}: one 200, the rest 412`);
    const winner = results.find((r) => r.response.status === 200)!;
    for (const loser of results.filter((r) => r.response.status === 412)) {
      t.equal(
        loser.response.headers.get('etag'),
        winner.response.headers.get('etag'),
        `round ${round}: each 412 names the winner's version`,
      );
    }
    const stored = await storedOrder(order.id);
    t.equal(stored!.version, 2, `round ${round}: one replace happened`);
    t.equal(stored!.totalfee, `${winner.data?.totalfee}.00`, `round ${round}: the winner's fee is stored`);
    await remove(order.id);
  }
});

t.test('DELETE with If-Match: a stale ETag is 412 and keeps the order; the current one deletes it', async (t) => {
  const order = await createOrder();
  const put = await replace(order.id, orderBody(order.datetime, { totalfee: 8 }));
  const v2 = put.response.headers.get('etag')!;

  const stale = await deleteIfMatch(order.id, order.etag);
  t.equal(stale.response.status, 412);
  t.match(stale.error, { type: '/problems/precondition-failed', instance: `/orders/${order.id}` });
  t.equal(stale.response.headers.get('etag'), v2);
  const weakCurrent = await deleteIfMatch(order.id, weak(v2));
  t.equal(weakCurrent.response.status, 412, 'a weak tag never matches');
  t.equal((await read(order.id)).response.status, 200, 'the order still exists');
  t.match(await storedOrder(order.id), { version: 2, services: [123] }, 'with its row and service links');

  const current = await deleteIfMatch(order.id, v2);
  t.equal(current.response.status, 204);
  t.equal(current.data, undefined);
  t.equal((await read(order.id)).response.status, 404);
  t.equal(await storedOrder(order.id), undefined, 'gone from the database');
  t.same(await storedServiceIds(db, order.id), [], 'no service links remain');

  const another = await createOrder();
  const star = await deleteIfMatch(another.id, '*');
  t.equal(star.response.status, 204, '`If-Match: *` deletes an existing order');
  t.equal(await storedOrder(another.id), undefined);
});

t.test('PUT and DELETE with If-Match on an unknown order are 404', async (t) => {
  const order = await createOrder();
  await remove(order.id);
  for (const header of [order.etag, '*']) {
    const put = await putIfMatch(order.id, header, orderBody(order.datetime));
    t.equal(put.response.status, 404, `PUT, If-Match: ${header}`);
    t.equal(put.error?.type, '/problems/not-found');
    const del = await deleteIfMatch(order.id, header);
    t.equal(del.response.status, 404, `DELETE, If-Match: ${header}`);
    t.equal(del.error?.type, '/problems/not-found');
  }
  const never = await putIfMatch('987654321', '"987654321-1"', orderBody(nextDatetime()));
  t.equal(never.response.status, 404);
  t.equal(await storedOrder('987654321'), undefined, 'no upsert');
});

t.test('a PUT and a DELETE racing on one version: one of them wins, cleanly', async (t) => {
  for (let round = 0; round < 5; round++) {
    const order = await createOrder();
    const [put, del] = await Promise.all([
      putIfMatch(order.id, order.etag, orderBody(order.datetime, { totalfee: 77 })),
      deleteIfMatch(order.id, order.etag),
    ]);
    const stored = await storedOrder(order.id);
    if (put.response.status === 200) {
      t.equal(del.response.status, 412, `round ${round}: the replace won, the delete is refused`);
      t.match(stored, { version: 2 }, `round ${round}: the order exists in its new version`);
      t.equal(stored!.totalfee, '77.00', `round ${round}: with the new fee`);
      await remove(order.id);
    } else {
      t.equal(del.response.status, 204, `round ${round}: the delete won`);
      t.ok(
        put.response.status === 404 || put.response.status === 412,
        `round ${round}: the replace found no order (${put.response.status})`,
      );
      t.equal(stored, undefined, `round ${round}: the order is gone, not recreated`);
    }
  }
});

t.test('an If-Match or If-None-Match longer than the contract allows (1000 characters) is 400', async (t) => {
  const order = await createOrder();
  const long = Array.from({ length: 150 }, (_, i) => `"tag-${i}"`).join(', ') + `, ${order.etag}`;
  t.ok(long.length > 1000);
  const put = await putIfMatch(order.id, long, orderBody(order.datetime, { totalfee: 3 }));
  t.equal(put.response.status, 400, 'PUT');
  const get = await getIfNoneMatch(order.id, long);
  t.equal(get.response.status, 400, 'GET');
  t.equal((await storedOrder(order.id))!.version, 1, 'nothing changed');
  await remove(order.id);
});

t.test('renaming a service moves the ETag of the orders that include it (their body changed)', async (t) => {
  const created = await client.POST('/services', { body: { id: 7777, name: 'Etag probe' } });
  t.equal(created.response.status, 201);
  const order = await client.POST('/orders', { body: orderBody('2039-06-01T00:00:00Z', { services: [{ id: 7777 }] }) });
  const other = await client.POST('/orders', { body: orderBody('2039-07-01T00:00:00Z', { services: [{ id: 123 }] }) });
  const before = order.response.headers.get('etag')!;
  const renamed = await client.PUT('/services/{serviceId}', {
    params: { path: { serviceId: 7777 } },
    body: { name: 'Etag probe renamed' },
  });
  t.equal(renamed.response.status, 200);
  const after = await getIfNoneMatch(order.data!.id, before);
  t.equal(after.response.status, 200, 'not 304: the cached copy shows the old name');
  t.equal(after.data?.services[0]?.name, 'Etag probe renamed');
  t.not(after.response.headers.get('etag'), before);
  const stale = await putIfMatch(
    order.data!.id,
    before,
    orderBody('2039-06-01T00:00:00Z', { services: [{ id: 7777 }] }),
  );
  t.equal(stale.response.status, 412, 'a write based on the old representation is refused');
  const untouched = await getIfNoneMatch(other.data!.id, other.response.headers.get('etag')!);
  t.equal(untouched.response.status, 304, 'orders without the service keep their ETag');
});
