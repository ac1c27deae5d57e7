import { sql } from 'kysely';
import t from 'tap';
import { createApiKey } from '../src/auth/repository.js';
import { apiClient, orderBody, seedCatalogue, startService, type Api } from './helper.js';

const { api, db, url } = await startService(t);
await seedCatalogue(db);

let slot = 0;
/** A datetime no other order in this file uses (a day apart, far from every 3-hour window). */
function nextDatetime(): string {
  slot += 1;
  return new Date(Date.UTC(2031, 0, slot, 9)).toISOString();
}

async function createOrder(overrides: Record<string, unknown> = {}) {
  const res = await api.post('/orders', orderBody(nextDatetime(), overrides));
  if (res.status !== 201) throw new Error(`could not create an order: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.id as string, etag: res.headers.get('etag')!, body: res.body, datetime: res.body.datetime as string };
}

function ifMatch(client: Api, method: 'PUT' | 'DELETE', id: string, header: string, body?: unknown) {
  return client.request(method, `/orders/${id}`, { body, headers: { 'if-match': header } });
}

function getIfNoneMatch(id: string, header: string) {
  return api.request('GET', `/orders/${id}`, { headers: { 'if-none-match': header } });
}

/** The stored row, to check what a refused request left behind. */
async function storedOrder(id: string) {
  const row = await db
    .selectFrom('orders')
    .select(['version', 'totalfee', 'datetime', 'updated_at', 'updated_by'])
    .where('id', '=', sql<string>`${id}::bigint`)
    .executeTakeFirst();
  const links = await db.selectFrom('order_services').select('service_id').where('order_id', '=', id).orderBy('service_id').execute();
  return row && { ...row, services: links.map((l) => l.service_id) };
}

async function caller(name: string): Promise<Api> {
  const { key } = await createApiKey(db, name, ['orders:read', 'orders:write']);
  return apiClient(url, key);
}

const weak = (etag: string) => `W/${etag}`;

t.test('POST, GET and PUT carry a strong ETag; it changes with every PUT and differs between orders', async (t) => {
  const created = await createOrder();
  t.match(created.etag, /^"[^"]+"$/, 'a strong, quoted entity tag');

  const read = await api.get(`/orders/${created.id}`);
  t.equal(read.status, 200);
  t.equal(read.headers.get('etag'), created.etag, 'GET gives the ETag POST gave');

  const seen = new Set([created.etag]);
  let current = created.etag;
  for (let i = 1; i <= 3; i++) {
    // The same content each time: a replace is still a new version.
    const put = await api.put(`/orders/${created.id}`, orderBody(created.datetime, { totalfee: 7 }));
    t.equal(put.status, 200);
    const etag = put.headers.get('etag')!;
    t.match(etag, /^"[^"]+"$/);
    t.not(etag, current, `PUT ${i} changes the ETag`);
    t.notOk(seen.has(etag), `PUT ${i} gives an ETag never seen before`);
    seen.add(etag);
    current = etag;
    t.equal((await api.get(`/orders/${created.id}`)).headers.get('etag'), etag, `GET after PUT ${i} gives the new ETag`);
  }
  t.equal((await storedOrder(created.id))!.version, 4, 'the stored version counts the replaces');

  const other = await createOrder();
  t.not(other.etag, created.etag, 'another order has another ETag');
  t.notOk(seen.has(other.etag), 'even at the same version');
  for (const id of [created.id, other.id]) await api.delete(`/orders/${id}`);
});

t.test('a refused PUT (409 or 422) leaves the ETag as it was', async (t) => {
  const order = await createOrder();
  const neighbour = await createOrder();
  const conflict = await api.put(`/orders/${order.id}`, orderBody(neighbour.datetime));
  t.equal(conflict.status, 409);
  const unknown = await api.put(`/orders/${order.id}`, orderBody(order.datetime, { services: [{ id: 999 }] }));
  t.equal(unknown.status, 422);
  t.equal((await api.get(`/orders/${order.id}`)).headers.get('etag'), order.etag);
  t.equal((await storedOrder(order.id))!.version, 1);
  const put = await ifMatch(api, 'PUT', order.id, order.etag, orderBody(order.datetime, { totalfee: 1 }));
  t.equal(put.status, 200, 'the ETag from before the refusals still matches');
  for (const id of [order.id, neighbour.id]) await api.delete(`/orders/${id}`);
});

t.test('GET with If-None-Match: 304 without a body while the order is unchanged, 200 otherwise', async (t) => {
  const order = await createOrder();

  const notModified = await getIfNoneMatch(order.id, order.etag);
  t.equal(notModified.status, 304, 'the current ETag');
  t.equal(notModified.body, undefined, 'no body');
  t.equal(notModified.headers.get('etag'), order.etag, 'the ETag is repeated');
  t.notOk(Number(notModified.headers.get('content-length') ?? 0), 'no content');

  const star = await getIfNoneMatch(order.id, '*');
  t.equal(star.status, 304, '`*` matches any existing order');
  t.equal(star.body, undefined);
  t.equal(star.headers.get('etag'), order.etag);

  const weakForm = await getIfNoneMatch(order.id, weak(order.etag));
  t.equal(weakForm.status, 304, 'If-None-Match compares weakly: W/"..." of the current tag matches');
  t.equal(weakForm.headers.get('etag'), order.etag);

  const inList = await getIfNoneMatch(order.id, `"nope", ${order.etag}, W/"other"`);
  t.equal(inList.status, 304, 'a list containing the current tag');

  const put = await api.put(`/orders/${order.id}`, orderBody(order.datetime, { totalfee: 42 }));
  const newEtag = put.headers.get('etag')!;
  const stale = await getIfNoneMatch(order.id, order.etag);
  t.equal(stale.status, 200, 'an old ETag gets the order');
  t.same(stale.body, put.body, 'as it is now');
  t.equal(stale.headers.get('etag'), newEtag);
  t.equal((await getIfNoneMatch(order.id, newEtag)).status, 304, 'and the new ETag is not modified');

  const another = await createOrder();
  const foreign = await getIfNoneMatch(order.id, another.etag);
  t.equal(foreign.status, 200, "another order's ETag does not match");
  t.equal(foreign.body.id, order.id);

  for (const id of [order.id, another.id]) await api.delete(`/orders/${id}`);
  const gone = await getIfNoneMatch(order.id, '*');
  t.equal(gone.status, 404, 'an unknown order is 404 whatever If-None-Match says');
});

t.test('PUT with If-Match: the current ETag (or `*`) applies the change; anything else is 412', async (t) => {
  const order = await createOrder({ services: [{ id: 123 }, { id: 456 }] });

  const current = await ifMatch(api, 'PUT', order.id, order.etag, orderBody(order.datetime, { totalfee: 200 }));
  t.equal(current.status, 200, 'the current ETag');
  t.equal(current.body.totalfee, 200);
  const v2 = current.headers.get('etag')!;
  t.not(v2, order.etag);

  const before = await storedOrder(order.id);
  const readBefore = await api.get(`/orders/${order.id}`);
  const stale = await ifMatch(api, 'PUT', order.id, order.etag, orderBody(nextDatetime(), { totalfee: 999, services: [{ id: 789 }] }));
  t.equal(stale.status, 412, 'an old ETag');
  t.equal(stale.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  t.match(stale.body, { type: '/problems/precondition-failed', status: 412, instance: `/orders/${order.id}` });
  t.equal(stale.headers.get('etag'), v2, 'the 412 carries the current ETag');
  t.ok(stale.body.detail.includes(v2), 'and names it');
  const readAfter = await api.get(`/orders/${order.id}`);
  t.same(readAfter.body, readBefore.body, 'GET shows the order unchanged');
  t.equal(readAfter.headers.get('etag'), v2);
  t.same(await storedOrder(order.id), before, 'the stored row and service links are unchanged');

  const weakCurrent = await ifMatch(api, 'PUT', order.id, weak(v2), orderBody(order.datetime, { totalfee: 5 }));
  t.equal(weakCurrent.status, 412, 'a weak tag never matches If-Match, even the current one');
  t.equal(weakCurrent.headers.get('etag'), v2);
  t.same(await storedOrder(order.id), before);

  const foreign = await createOrder();
  const otherOrders = await ifMatch(api, 'PUT', order.id, foreign.etag, orderBody(order.datetime, { totalfee: 5 }));
  t.equal(otherOrders.status, 412, "another order's ETag does not match");

  t.same(await storedOrder(order.id), before, 'nothing changed by any refused PUT');

  const list = await ifMatch(api, 'PUT', order.id, `"stale", ${order.etag}, ${v2}, W/"x"`, orderBody(order.datetime, { totalfee: 300 }));
  t.equal(list.status, 200, 'a list containing the current tag');
  t.equal(list.body.totalfee, 300);
  const v3 = list.headers.get('etag')!;

  const star = await ifMatch(api, 'PUT', order.id, '*', orderBody(order.datetime, { totalfee: 400 }));
  t.equal(star.status, 200, '`If-Match: *` matches any existing order');
  t.not(star.headers.get('etag'), v3);
  const stored = await storedOrder(order.id);
  t.equal(stored!.totalfee, '400.00');
  t.equal(stored!.version, 4);

  for (const id of [order.id, foreign.id]) await api.delete(`/orders/${id}`);
});

t.test('If-Match compares strongly and exactly: a tag that merely parses to the current version is not it', async (t) => {
  const order = await createOrder();
  const before = await storedOrder(order.id);
  const variants = [
    order.etag.replace(/-(\d+)"$/, '-0$1"'), // "<id>-01" for "<id>-1"
    order.etag.replace(/-(\d+)"$/, '-00$1"'),
  ];
  for (const variant of variants) {
    t.not(variant, order.etag);
    const res = await ifMatch(api, 'PUT', order.id, variant, orderBody(order.datetime, { totalfee: 5 }));
    t.equal(res.status, 412, `PUT: ${variant} is not ${order.etag}`);
    const del = await ifMatch(api, 'DELETE', order.id, variant);
    t.equal(del.status, 412, `DELETE: ${variant} is not ${order.etag}`);
  }
  t.same(await storedOrder(order.id), before, 'the order is unchanged and still exists');
  await api.delete(`/orders/${order.id}`);
});

t.test('the lost update: two clients edit the same version, the second is refused and changes nothing', async (t) => {
  const alice = await caller('alice');
  const bob = await caller('bob');
  const order = await createOrder({ totalfee: 100 });

  const aliceRead = await alice.get(`/orders/${order.id}`);
  const bobRead = await bob.get(`/orders/${order.id}`);
  t.equal(aliceRead.headers.get('etag'), bobRead.headers.get('etag'), 'both saw the same version');

  const aliceWrite = await ifMatch(alice, 'PUT', order.id, aliceRead.headers.get('etag')!, { ...aliceRead.body, totalfee: 150 });
  t.equal(aliceWrite.status, 200, 'the first writer wins');
  t.equal(aliceWrite.body.updatedBy, 'alice');

  const bobWrite = await ifMatch(bob, 'PUT', order.id, bobRead.headers.get('etag')!, { ...bobRead.body, totalfee: 90, services: [{ id: 789 }] });
  t.equal(bobWrite.status, 412, 'the second writer is told the order changed');
  t.equal(bobWrite.headers.get('etag'), aliceWrite.headers.get('etag'), "and gets the winner's ETag");

  const now = await bob.get(`/orders/${order.id}`);
  t.same(now.body, aliceWrite.body, "the order is alice's version");
  const stored = await storedOrder(order.id);
  t.match(stored, { totalfee: '150.00', updated_by: 'alice', version: 2, services: [123] }, "bob's change was not applied");

  const bobRetry = await ifMatch(bob, 'PUT', order.id, now.headers.get('etag')!, { ...now.body, totalfee: 90 });
  t.equal(bobRetry.status, 200, 'after reading again, bob can write');
  t.match(await storedOrder(order.id), { totalfee: '90.00', updated_by: 'bob', version: 3 });
  await api.delete(`/orders/${order.id}`);
});

t.test('concurrent PUTs with the same If-Match: exactly one wins', async (t) => {
  for (let round = 0; round < 5; round++) {
    const order = await createOrder();
    const fees = [11, 22, 33, 44, 55, 66];
    const results = await Promise.all(fees.map((fee) => ifMatch(api, 'PUT', order.id, order.etag, orderBody(order.datetime, { totalfee: fee }))));
    const statuses = results.map((r) => r.status).sort();
    t.same(statuses, [200, 412, 412, 412, 412, 412], `round ${round}: one 200, the rest 412`);
    const winner = results.find((r) => r.status === 200)!;
    for (const loser of results.filter((r) => r.status === 412)) {
      t.equal(loser.headers.get('etag'), winner.headers.get('etag'), `round ${round}: each 412 names the winner's version`);
    }
    const stored = await storedOrder(order.id);
    t.equal(stored!.version, 2, `round ${round}: one replace happened`);
    t.equal(Number(stored!.totalfee), winner.body.totalfee, `round ${round}: the winner's fee is stored`);
    await api.delete(`/orders/${order.id}`);
  }
});

t.test('DELETE with If-Match: a stale ETag is 412 and keeps the order; the current one deletes it', async (t) => {
  const order = await createOrder();
  const put = await api.put(`/orders/${order.id}`, orderBody(order.datetime, { totalfee: 8 }));
  const v2 = put.headers.get('etag')!;

  const stale = await ifMatch(api, 'DELETE', order.id, order.etag);
  t.equal(stale.status, 412);
  t.match(stale.body, { type: '/problems/precondition-failed', instance: `/orders/${order.id}` });
  t.equal(stale.headers.get('etag'), v2);
  const weakCurrent = await ifMatch(api, 'DELETE', order.id, weak(v2));
  t.equal(weakCurrent.status, 412, 'a weak tag never matches');
  t.equal((await api.get(`/orders/${order.id}`)).status, 200, 'the order still exists');
  t.match(await storedOrder(order.id), { version: 2, services: [123] }, 'with its row and service links');

  const current = await ifMatch(api, 'DELETE', order.id, v2);
  t.equal(current.status, 204);
  t.equal(current.body, undefined);
  t.equal((await api.get(`/orders/${order.id}`)).status, 404);
  t.equal(await storedOrder(order.id), undefined, 'gone from the database');
  const links = await db.selectFrom('order_services').select('service_id').where('order_id', '=', order.id).execute();
  t.same(links, []);

  const another = await createOrder();
  const star = await ifMatch(api, 'DELETE', another.id, '*');
  t.equal(star.status, 204, '`If-Match: *` deletes an existing order');
  t.equal(await storedOrder(another.id), undefined);
});

t.test('PUT and DELETE with If-Match on an unknown order are 404', async (t) => {
  const order = await createOrder();
  await api.delete(`/orders/${order.id}`);
  for (const header of [order.etag, '*']) {
    const put = await ifMatch(api, 'PUT', order.id, header, orderBody(order.datetime));
    t.equal(put.status, 404, `PUT, If-Match: ${header}`);
    t.equal(put.body.type, '/problems/not-found');
    const del = await ifMatch(api, 'DELETE', order.id, header);
    t.equal(del.status, 404, `DELETE, If-Match: ${header}`);
    t.equal(del.body.type, '/problems/not-found');
  }
  const never = await ifMatch(api, 'PUT', '987654321', '"987654321-1"', orderBody(nextDatetime()));
  t.equal(never.status, 404);
  t.equal(await storedOrder('987654321'), undefined, 'no upsert');
});

t.test('a PUT and a DELETE racing on one version: one of them wins, cleanly', async (t) => {
  for (let round = 0; round < 5; round++) {
    const order = await createOrder();
    const [put, del] = await Promise.all([
      ifMatch(api, 'PUT', order.id, order.etag, orderBody(order.datetime, { totalfee: 77 })),
      ifMatch(api, 'DELETE', order.id, order.etag),
    ]);
    const stored = await storedOrder(order.id);
    if (put.status === 200) {
      t.equal(del.status, 412, `round ${round}: the replace won, the delete is refused`);
      t.match(stored, { version: 2, totalfee: '77.00' }, `round ${round}: the order exists in its new version`);
      await api.delete(`/orders/${order.id}`);
    } else {
      t.equal(del.status, 204, `round ${round}: the delete won`);
      t.ok(put.status === 404 || put.status === 412, `round ${round}: the replace found no order (${put.status})`);
      t.equal(stored, undefined, `round ${round}: the order is gone, not recreated`);
    }
  }
});

t.test('an If-Match or If-None-Match longer than the contract allows (1000 characters) is 400', async (t) => {
  const order = await createOrder();
  const long = Array.from({ length: 150 }, (_, i) => `"tag-${i}"`).join(', ') + `, ${order.etag}`;
  t.ok(long.length > 1000);
  const put = await ifMatch(api, 'PUT', order.id, long, orderBody(order.datetime, { totalfee: 3 }));
  t.equal(put.status, 400, 'PUT');
  const get = await getIfNoneMatch(order.id, long);
  t.equal(get.status, 400, 'GET');
  t.equal((await storedOrder(order.id))!.version, 1, 'nothing changed');
  await api.delete(`/orders/${order.id}`);
});

t.test('renaming a service moves the ETag of the orders that include it (their body changed)', async (t) => {
  const created = await api.post('/services', { id: 7777, name: 'Etag probe' });
  t.equal(created.status, 201);
  const order = await api.post('/orders', orderBody('2039-06-01T00:00:00Z', { services: [{ id: 7777 }] }));
  const other = await api.post('/orders', orderBody('2039-07-01T00:00:00Z', { services: [{ id: 123 }] }));
  const before = order.headers.get('etag')!;
  t.equal((await api.put('/services/7777', { name: 'Etag probe renamed' })).status, 200);
  const after = await api.request('GET', `/orders/${order.body.id}`, { headers: { 'if-none-match': before } });
  t.equal(after.status, 200, 'not 304: the cached copy shows the old name');
  t.equal(after.body.services[0].name, 'Etag probe renamed');
  t.not(after.headers.get('etag'), before);
  const stale = await api.request('PUT', `/orders/${order.body.id}`, { headers: { 'if-match': before }, body: orderBody('2039-06-01T00:00:00Z', { services: [{ id: 7777 }] }) });
  t.equal(stale.status, 412, 'a write based on the old representation is refused');
  const untouched = await api.request('GET', `/orders/${other.body.id}`, { headers: { 'if-none-match': other.headers.get('etag')! } });
  t.equal(untouched.status, 304, 'orders without the service keep their ETag');
});
