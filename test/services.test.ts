import t from 'tap';
import { countRows, orderBody, seedCatalogue, startService, type ApiResponse } from './helper.js';

const { api, db } = await startService(t);
await seedCatalogue(db);

// The last overload of t.test is (cb), so this is the subtest type.
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

/** The service row as stored, or undefined. */
async function storedService(id: number) {
  return db.selectFrom('services').select(['id', 'name']).where('id', '=', id).executeTakeFirst();
}

/** A problem response with the given status and type. */
function isProblem(t: Test, res: ApiResponse, status: number, type: string, label = '') {
  t.equal(res.status, status, `status ${status} ${label}`);
  t.match(res.headers.get('content-type'), /^application\/problem\+json/, `problem content type ${label}`);
  t.match(res.body, { type, status, title: String, detail: String }, `problem body ${label}`);
}

t.test('POST /services with a chosen id: 201, Location, {id, name}, stored', async (t) => {
  const res = await api.post('/services', { id: 321, name: 'Calibration' });
  t.equal(res.status, 201);
  t.equal(res.headers.get('location'), '/services/321');
  t.same(res.body, { id: 321, name: 'Calibration' });
  t.same(await storedService(321), { id: 321, name: 'Calibration' });

  const read = await api.get('/services/321');
  t.equal(read.status, 200);
  t.same(read.body, res.body, 'GET returns what POST returned');
});

t.test('the highest chosen id (999999) is accepted', async (t) => {
  const res = await api.post('/services', { id: 999999, name: 'Top of the range' });
  t.equal(res.status, 201);
  t.same(res.body, { id: 999999, name: 'Top of the range' });
  t.equal(res.headers.get('location'), '/services/999999');
});

t.test('POST /services without an id: the server assigns one >= 1000000', async (t) => {
  const first = await api.post('/services', { name: 'Cleaning' });
  t.equal(first.status, 201);
  t.ok(Number.isInteger(first.body.id) && first.body.id >= 1_000_000, `assigned id ${first.body.id} is >= 1000000`);
  t.equal(first.body.name, 'Cleaning');
  t.equal(first.headers.get('location'), `/services/${first.body.id}`);
  t.same(await storedService(first.body.id), { id: first.body.id, name: 'Cleaning' });

  const second = await api.post('/services', { name: 'Painting' });
  t.equal(second.status, 201);
  t.ok(second.body.id >= 1_000_000 && second.body.id !== first.body.id, 'a second assigned id is new');
  t.equal((await api.get(`/services/${second.body.id}`)).body.name, 'Painting');
});

t.test('a chosen id of 1000000 or more is 400 and creates nothing', async (t) => {
  const before = await countRows(db, 'services');
  for (const id of [1_000_000, 1_000_001, 999_999_999]) {
    const res = await api.post('/services', { id, name: `Reserved ${id}` });
    isProblem(t, res, 400, '/problems/validation', String(id));
    t.same(res.body.errors.map((e: { path: string }) => e.path), ['/body/id'], `${id}: the error names /body/id`);
  }
  t.equal(await countRows(db, 'services'), before);
});

t.test('an id that is not a positive integer is 400 and creates nothing', async (t) => {
  const before = await countRows(db, 'services');
  for (const id of [0, -5, 1.5, '321', null, 1_000_000_000]) {
    const res = await api.post('/services', { id, name: `Odd id ${String(id)}` });
    isProblem(t, res, 400, '/problems/validation', JSON.stringify(id));
    t.equal(res.body.errors[0]?.path, '/body/id', `${JSON.stringify(id)}: the error names /body/id`);
  }
  t.equal(await countRows(db, 'services'), before);
});

t.test('a duplicate id is 409 and the existing service is unchanged', async (t) => {
  const before = await countRows(db, 'services');
  const res = await api.post('/services', { id: 123, name: 'Something else' });
  isProblem(t, res, 409, '/problems/conflict');
  t.match(res.body.detail, /123/, 'the detail names the id');
  t.same(await storedService(123), { id: 123, name: 'Inspection' });
  t.equal(await countRows(db, 'services'), before);
});

t.test('a duplicate name is 409 regardless of letter case, with or without an id', async (t) => {
  const before = await countRows(db, 'services');
  for (const body of [{ name: 'Inspection' }, { name: 'inspection' }, { name: 'INSPECTION' }, { id: 555, name: 'inspection' }, { name: '  inspection  ' }]) {
    const res = await api.post('/services', body);
    isProblem(t, res, 409, '/problems/conflict', JSON.stringify(body));
    t.match(res.body.detail, /name/i, 'the detail says the name is taken');
  }
  t.equal(await countRows(db, 'services'), before, 'nothing created');
  t.equal(await storedService(555), undefined);
});

t.test('names are trimmed before they are stored and compared', async (t) => {
  const res = await api.post('/services', { id: 4001, name: '  Polishing  ' });
  t.equal(res.status, 201);
  t.same(res.body, { id: 4001, name: 'Polishing' });
  t.same(await storedService(4001), { id: 4001, name: 'Polishing' });
  const dup = await api.post('/services', { name: 'polishing' });
  isProblem(t, dup, 409, '/problems/conflict', 'the trimmed name is the one compared');
});

t.test('inner spaces, accents and other scripts are kept as sent', async (t) => {
  const res = await api.post('/services', { id: 4002, name: 'Révision  générale 検査' });
  t.equal(res.status, 201);
  t.equal(res.body.name, 'Révision  générale 検査');
  t.equal((await storedService(4002))?.name, 'Révision  générale 検査');
});

t.test('a blank name, an empty name, a missing name or a name with a control character is 400', async (t) => {
  const before = await countRows(db, 'services');
  const names: unknown[] = ['   ', '', '\t\n', 'Bad\u0007name', 'Tab\there', 'Line\nbreak', 'Nul\u0000byte', 'Del\u007f', 'x'.repeat(101), 42, null];
  for (const name of names) {
    const res = await api.post('/services', { id: 4100, name });
    isProblem(t, res, 400, '/problems/validation', JSON.stringify(name));
    t.same(res.body.errors?.map((e: { path: string }) => e.path), ['/body/name'], `${JSON.stringify(name)}: the error names /body/name`);
  }
  const missing = await api.post('/services', { id: 4100 });
  isProblem(t, missing, 400, '/problems/validation', 'missing name');
  t.same(missing.body.errors, [{ path: '/body/name', message: 'is required' }]);
  t.equal(await countRows(db, 'services'), before, 'nothing created');
});

t.test('C1 control characters (U+0080 to U+009F) are control characters too: 400', async (t) => {
  const before = await countRows(db, 'services');
  for (const name of ['Next\u0085line', 'Csi\u009b2J', '\u0080Start']) {
    const res = await api.post('/services', { id: 4150, name });
    isProblem(t, res, 400, '/problems/validation', JSON.stringify(name));
    t.equal(res.body.errors?.[0]?.path, '/body/name', `${JSON.stringify(name)}: the error names /body/name`);
  }
  t.equal(await countRows(db, 'services'), before, 'nothing created');
});

t.test('a name of exactly 100 characters is accepted', async (t) => {
  const name = 'N'.repeat(100);
  const res = await api.post('/services', { id: 4200, name });
  t.equal(res.status, 201);
  t.equal(res.body.name, name);
  t.equal((await storedService(4200))?.name, name);
});

t.test('an unknown field in a service body is 400 naming it', async (t) => {
  const before = await countRows(db, 'services');
  const res = await api.post('/services', { id: 4300, name: 'Extra', price: 10 });
  isProblem(t, res, 400, '/problems/validation');
  t.equal(res.body.errors[0]?.path, '/body/price');
  t.match(res.body.errors[0]?.message, /price/);
  t.equal(await countRows(db, 'services'), before);
});

t.test('GET /services/{id}: 200 for a service, 404 problem for an unknown one', async (t) => {
  const res = await api.get('/services/789');
  t.equal(res.status, 200);
  t.same(res.body, { id: 789, name: 'Testing' });

  const missing = await api.get('/services/4242');
  isProblem(t, missing, 404, '/problems/not-found');
  t.equal(missing.body.detail, 'There is no service 4242.');
});

t.test('GET /services/{id} with a malformed id is 400 naming /path/serviceId', async (t) => {
  for (const id of ['abc', '0', '1000000000', '-1', '1.5', '12abc', '99999999999999999999']) {
    const res = await api.get(`/services/${id}`);
    isProblem(t, res, 400, '/problems/validation', id);
    t.equal(res.body.errors?.[0]?.path, '/path/serviceId', `${id}: the error names the path parameter`);
  }
});

t.test('GET /services/{id} with an id that is not plain decimal digits is 400, not an alias', async (t) => {
  for (const id of ['0x7B', '1e2', '%20123', '123%20', '+123']) {
    const res = await api.get(`/services/${id}`);
    isProblem(t, res, 400, '/problems/validation', id);
    t.equal(res.body.errors?.[0]?.path, '/path/serviceId', `${id}: the error names the path parameter`);
  }
});

t.test('PUT renames a service: 200, the new name, stored; a body id equal to the path is fine', async (t) => {
  await api.post('/services', { id: 5001, name: 'Welding' });
  const res = await api.put('/services/5001', { name: 'Arc welding' });
  t.equal(res.status, 200);
  t.same(res.body, { id: 5001, name: 'Arc welding' });
  t.same(await storedService(5001), { id: 5001, name: 'Arc welding' });

  const withId = await api.put('/services/5001', { id: 5001, name: '  Gas welding  ' });
  t.equal(withId.status, 200);
  t.same(withId.body, { id: 5001, name: 'Gas welding' }, 'the new name is trimmed');
  t.same((await api.get('/services/5001')).body, { id: 5001, name: 'Gas welding' });
});

t.test('PUT may change only the letter case of its own name', async (t) => {
  await api.post('/services', { id: 5002, name: 'grinding' });
  const res = await api.put('/services/5002', { name: 'Grinding' });
  t.equal(res.status, 200);
  t.same(res.body, { id: 5002, name: 'Grinding' });
  t.equal((await storedService(5002))?.name, 'Grinding');
});

t.test('PUT of an unknown service is 404 and creates nothing (no upsert)', async (t) => {
  const before = await countRows(db, 'services');
  const res = await api.put('/services/5999', { name: 'Ghost' });
  isProblem(t, res, 404, '/problems/not-found');
  t.equal(res.body.detail, 'There is no service 5999.');
  t.equal(await countRows(db, 'services'), before);
  t.equal(await storedService(5999), undefined);
});

t.test('PUT with a body id different from the path id is 400 and changes nothing', async (t) => {
  const res = await api.put('/services/789', { id: 456, name: 'Renamed' });
  isProblem(t, res, 400, '/problems/validation');
  t.same(res.body.errors, [{ path: '/body/id', message: 'must equal the service id in the path (789) or be left out' }]);
  t.same(await storedService(789), { id: 789, name: 'Testing' });
  t.same(await storedService(456), { id: 456, name: 'Analysis' });
});

t.test('PUT with a name another service has is 409 (any letter case) and changes nothing', async (t) => {
  for (const name of ['Inspection', 'inspection', ' ANALYSIS ']) {
    const res = await api.put('/services/789', { name });
    isProblem(t, res, 409, '/problems/conflict', name);
  }
  t.same(await storedService(789), { id: 789, name: 'Testing' });
});

t.test('PUT with an invalid name or a malformed path id is 400 and changes nothing', async (t) => {
  for (const name of ['   ', '', 'Bell\u0007']) {
    const res = await api.put('/services/789', { name });
    isProblem(t, res, 400, '/problems/validation', JSON.stringify(name));
    t.equal(res.body.errors?.[0]?.path, '/body/name');
  }
  const badId = await api.put('/services/abc', { name: 'Whatever' });
  isProblem(t, badId, 400, '/problems/validation', 'bad path id');
  t.equal(badId.body.errors?.[0]?.path, '/path/serviceId');
  t.same(await storedService(789), { id: 789, name: 'Testing' });
});

t.test('DELETE removes a service: 204 without a body, then GET and DELETE are 404', async (t) => {
  await api.post('/services', { id: 6001, name: 'Disposal' });
  const before = await countRows(db, 'services');
  const res = await api.delete('/services/6001');
  t.equal(res.status, 204);
  t.equal(res.body, undefined);
  t.equal(await storedService(6001), undefined, 'the row is gone');
  t.equal(await countRows(db, 'services'), before - 1);
  isProblem(t, await api.get('/services/6001'), 404, '/problems/not-found', 'GET after DELETE');
  isProblem(t, await api.delete('/services/6001'), 404, '/problems/not-found', 'DELETE after DELETE');

  const again = await api.post('/services', { id: 6001, name: 'disposal' });
  t.equal(again.status, 201, 'the id and the name are free again');
});

t.test('DELETE of a malformed id is 400', async (t) => {
  const res = await api.delete('/services/0');
  isProblem(t, res, 400, '/problems/validation');
  t.equal(res.body.errors?.[0]?.path, '/path/serviceId');
});

t.test('DELETE of a service an order includes is 409 and the service and order remain', async (t) => {
  await api.post('/services', { id: 7001, name: 'Sealing' });
  const order = await api.post('/orders', orderBody('2024-01-01T00:00:00Z', { services: [{ id: 7001 }, { id: 123 }] }));
  t.equal(order.status, 201);

  const res = await api.delete('/services/7001');
  isProblem(t, res, 409, '/problems/conflict');
  t.match(res.body.detail, /7001/, 'the detail names the service');
  t.same(await storedService(7001), { id: 7001, name: 'Sealing' });
  t.same((await api.get('/services/7001')).body, { id: 7001, name: 'Sealing' });
  const links = await db.selectFrom('order_services').select('service_id').where('order_id', '=', order.body.id).orderBy('service_id').execute();
  t.same(links.map((l) => l.service_id), [123, 7001], 'the order keeps its services');

  // Once no order includes it, it can go.
  t.equal((await api.delete(`/orders/${order.body.id}`)).status, 204);
  t.equal((await api.delete('/services/7001')).status, 204);
  t.equal(await storedService(7001), undefined);
});

t.test('a renamed service shows its new name in the orders that include it', async (t) => {
  await api.post('/services', { id: 7002, name: 'Coating' });
  const order = await api.post('/orders', orderBody('2024-02-01T00:00:00Z', { services: [{ id: 7002 }] }));
  t.equal(order.status, 201);
  t.equal((await api.put('/services/7002', { name: 'Powder coating' })).status, 200);
  const read = await api.get(`/orders/${order.body.id}`);
  t.same(read.body.services, [{ id: 7002, name: 'Powder coating' }]);
  await api.delete(`/orders/${order.body.id}`);
});
