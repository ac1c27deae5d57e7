import t from 'tap';
import { countRows, orderBody, seedCatalogue, startService } from './helper.js';

const { api, db } = await startService(t);
await seedCatalogue(db);

t.test('POST /orders creates an order: 201, Location, the stored order with service names', async (t) => {
  const res = await api.post('/orders', { datetime: '2022-11-01T11:11:11.111Z', totalfee: 100, services: [{ id: 456 }, { id: 123 }] });
  t.equal(res.status, 201);
  t.match(res.body.id, /^\d+$/);
  t.equal(res.headers.get('location'), `/orders/${res.body.id}`);
  t.equal(res.body.datetime, '2022-11-01T11:11:11.111Z');
  t.equal(res.body.totalfee, 100);
  t.same(res.body.services, [
    { id: 123, name: 'Inspection' },
    { id: 456, name: 'Analysis' },
  ]);
  t.equal(res.body.createdAt, res.body.updatedAt);

  const read = await api.get(res.headers.get('location')!);
  t.equal(read.status, 200);
  t.same(read.body, res.body, 'GET returns what POST returned');
  await api.delete(`/orders/${res.body.id}`);
});

t.test("the sample's numeric-string service ids are accepted", async (t) => {
  const res = await api.post('/orders', orderBody('2023-01-01T00:00:00Z', { services: [{ id: '789' }] }));
  t.equal(res.status, 201);
  t.same(res.body.services, [{ id: 789, name: 'Testing' }]);
  await api.delete(`/orders/${res.body.id}`);
});

t.test('datetimes with an offset are stored and returned as UTC with milliseconds', async (t) => {
  const res = await api.post('/orders', orderBody('2023-02-01T12:30:00+05:30'));
  t.equal(res.body.datetime, '2023-02-01T07:00:00.000Z');
  const lower = await api.post('/orders', orderBody('2023-02-02t10:00:00.123456z'));
  t.equal(lower.status, 201, 'lower-case t and z are RFC 3339');
  t.equal(lower.body.datetime, '2023-02-02T10:00:00.123Z', 'digits below a millisecond are truncated');
  await api.delete(`/orders/${res.body.id}`);
  await api.delete(`/orders/${lower.body.id}`);
});

t.test('totalfee is exact: decimals are stored without float drift', async (t) => {
  const res = await api.post('/orders', orderBody('2023-03-01T00:00:00Z', { totalfee: 0.07 }));
  t.equal(res.body.totalfee, 0.07);
  const big = await api.post('/orders', orderBody('2023-03-02T00:00:00Z', { totalfee: 999999999999.99 }));
  t.equal(big.body.totalfee, 999999999999.99);
  const stored = await db.selectFrom('orders').select('totalfee').where('id', 'in', [res.body.id, big.body.id]).orderBy('datetime').execute();
  t.same(stored.map((r) => r.totalfee), ['0.07', '999999999999.99']);
  const zero = await api.post('/orders', orderBody('2023-03-03T00:00:00Z', { totalfee: 0 }));
  t.equal(zero.body.totalfee, 0, 'a free order is allowed');
  for (const id of [res.body.id, big.body.id, zero.body.id]) await api.delete(`/orders/${id}`);
});

t.test('GET /orders/{id} of an unknown order is 404 problem', async (t) => {
  const res = await api.get('/orders/999999');
  t.equal(res.status, 404);
  t.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  t.match(res.body, { type: '/problems/not-found', status: 404, detail: 'There is no order 999999.' });
});

t.test('a malformed order id in the path is 400', async (t) => {
  for (const id of ['abc', '-1', '1.5', '1234567890123456789']) {
    const res = await api.get(`/orders/${id}`);
    t.equal(res.status, 400, id);
    t.equal(res.body.errors[0].path, '/path/orderId');
  }
});

t.test('PUT replaces datetime, fee and services and bumps updatedAt', async (t) => {
  const created = await api.post('/orders', orderBody('2023-04-01T00:00:00Z', { services: [{ id: 123 }, { id: 789 }] }));
  const res = await api.put(`/orders/${created.body.id}`, { datetime: '2023-04-05T10:00:00Z', totalfee: 12.5, services: [{ id: 789 }, { id: 456 }] });
  t.equal(res.status, 200);
  t.match(res.body, { id: created.body.id, datetime: '2023-04-05T10:00:00.000Z', totalfee: 12.5, createdAt: created.body.createdAt });
  t.same(res.body.services, [
    { id: 456, name: 'Analysis' },
    { id: 789, name: 'Testing' },
  ]);
  t.ok(res.body.updatedAt >= created.body.updatedAt);
  const links = await db.selectFrom('order_services').select('service_id').where('order_id', '=', created.body.id).orderBy('service_id').execute();
  t.same(links.map((l) => l.service_id), [456, 789], 'service links replaced in the database');
  await api.delete(`/orders/${created.body.id}`);
});

t.test('GET then PUT of the whole object works: read-only fields are ignored', async (t) => {
  const created = await api.post('/orders', orderBody('2023-05-01T00:00:00Z'));
  const read = await api.get(`/orders/${created.body.id}`);
  const res = await api.put(`/orders/${created.body.id}`, { ...read.body, totalfee: 250, createdAt: '1999-01-01T00:00:00Z' });
  t.equal(res.status, 200);
  t.equal(res.body.totalfee, 250);
  t.equal(res.body.createdAt, created.body.createdAt, 'createdAt cannot be rewritten');
  await api.delete(`/orders/${created.body.id}`);
});

t.test('PUT with a body id different from the path is 400 and changes nothing', async (t) => {
  const created = await api.post('/orders', orderBody('2023-06-01T00:00:00Z'));
  const res = await api.put(`/orders/${created.body.id}`, { ...orderBody('2023-06-02T00:00:00Z'), id: '1' });
  t.equal(res.status, 400);
  t.same(res.body.errors, [{ path: '/body/id', message: `must equal the order id in the path (${created.body.id}) or be left out` }]);
  t.same((await api.get(`/orders/${created.body.id}`)).body, created.body);
  await api.delete(`/orders/${created.body.id}`);
});

t.test('PUT of an unknown order is 404 and creates nothing (no upsert)', async (t) => {
  const before = await countRows(db, 'orders');
  const res = await api.put('/orders/424242', orderBody('2023-07-01T00:00:00Z'));
  t.equal(res.status, 404);
  t.equal(await countRows(db, 'orders'), before);
});

t.test('DELETE removes the order and its service links: 204, then 404', async (t) => {
  const created = await api.post('/orders', orderBody('2023-08-01T00:00:00Z', { services: [{ id: 123 }, { id: 456 }] }));
  const res = await api.delete(`/orders/${created.body.id}`);
  t.equal(res.status, 204);
  t.equal(res.body, undefined);
  t.equal((await api.get(`/orders/${created.body.id}`)).status, 404);
  t.equal((await api.delete(`/orders/${created.body.id}`)).status, 404);
  const links = await db.selectFrom('order_services').select('service_id').where('order_id', '=', created.body.id).execute();
  t.same(links, []);
});

t.test('an unknown service is 422 naming it, and nothing is stored', async (t) => {
  const before = await countRows(db, 'orders');
  const res = await api.post('/orders', orderBody('2023-09-01T00:00:00Z', { services: [{ id: 123 }, { id: 999 }, { id: 998 }] }));
  t.equal(res.status, 422);
  t.match(res.body, { type: '/problems/unknown-service', unknownServiceIds: [999, 998] });
  t.match(res.body.detail, /999, 998/);
  t.equal(await countRows(db, 'orders'), before);

  const created = await api.post('/orders', orderBody('2023-09-02T00:00:00Z'));
  const put = await api.put(`/orders/${created.body.id}`, orderBody('2023-09-02T00:00:00Z', { services: [{ id: 555 }] }));
  t.equal(put.status, 422);
  t.same((await api.get(`/orders/${created.body.id}`)).body.services, [{ id: 123, name: 'Inspection' }], 'a refused replace changes nothing');
  await api.delete(`/orders/${created.body.id}`);
});

t.test('datetimes in the first century round-trip exactly and sort correctly (PGlite parses them like pg)', async (t) => {
  const early = await api.post('/orders', orderBody('0001-01-01T00:00:00Z'));
  const later = await api.post('/orders', orderBody('0099-06-01T12:00:00.123+01:00'));
  const modern = await api.post('/orders', orderBody('1970-01-01T00:00:00Z'));
  t.equal(early.body.datetime, '0001-01-01T00:00:00.000Z');
  t.equal(later.body.datetime, '0099-06-01T11:00:00.123Z');
  t.equal((await api.get(`/orders/${early.body.id}`)).body.datetime, '0001-01-01T00:00:00.000Z');
  const list = await api.get('/orders?to=1971-01-01T00:00:00Z');
  t.same(
    list.body.data.map((o: { id: string }) => o.id),
    [early.body.id, later.body.id, modern.body.id],
  );
  for (const o of [early, later, modern]) await api.delete(`/orders/${o.body.id}`);
});

t.test('concurrent replaces of one order leave exactly one request’s services and fee, as its GET shows', async (t) => {
  const sets = [[123], [456], [789], [123, 456], [456, 789]];
  for (let round = 0; round < 10; round++) {
    const created = await api.post('/orders', orderBody(`2024-0${1 + (round % 9)}-1${round >= 9 ? 5 : 0}T00:00:00Z`, { services: [{ id: 123 }, { id: 789 }] }));
    t.equal(created.status, 201);
    const id = created.body.id;
    const results = await Promise.all(
      sets.map((ids, i) => api.put(`/orders/${id}`, { datetime: created.body.datetime, totalfee: i + 1, services: ids.map((s) => ({ id: s })) })),
    );
    t.same(results.map((r) => r.status), sets.map(() => 200), `round ${round}: every replace succeeds`);
    const final = (await api.get(`/orders/${id}`)).body;
    const winner = sets[final.totalfee - 1]!;
    t.same(final.services.map((s: { id: number }) => s.id), winner, `round ${round}: services belong to the request whose fee won`);
    const links = await db.selectFrom('order_services').select('service_id').where('order_id', '=', id).orderBy('service_id').execute();
    t.same(links.map((l) => l.service_id), winner, `round ${round}: the stored links are that request's`);
    await api.delete(`/orders/${id}`);
  }
});
