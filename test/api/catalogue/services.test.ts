import t from 'tap';
import type { components } from '../../../src/client.js';
import { countRows, databaseKind, storedServiceIds } from '../../helpers/database.js';
import { orderBody, seedCatalogue } from '../../helpers/fixtures.js';
import { type ApiResponse } from '../../helpers/http.js';
import { startService } from '../../helpers/service.js';

const { client, api, db } = await startService(t);
await seedCatalogue(db);

type NewService = components['schemas']['NewService'];

// The last overload of t.test is (cb), so this is the subtest type.
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

/** The service row as stored, or undefined. */
async function storedService(id: number) {
  return db.selectFrom('services').select(['id', 'name']).where('id', '=', id).executeTakeFirst();
}

const create = (body: NewService) => client.POST('/services', { body });
const read = (serviceId: number) => client.GET('/services/{serviceId}', { params: { path: { serviceId } } });
const rename = (serviceId: number, body: components['schemas']['ServiceInput']) =>
  client.PUT('/services/{serviceId}', { params: { path: { serviceId } }, body });
const remove = (serviceId: number) => client.DELETE('/services/{serviceId}', { params: { path: { serviceId } } });

/** A typed client's answer or a raw one: its status, headers and body. */
function parts(res: { response: Response; error?: unknown } | ApiResponse) {
  return 'response' in res ? { status: res.response.status, headers: res.response.headers, body: res.error } : res;
}

/** A problem response with the given status and type. */
function isProblem(
  t: Test,
  res: { response: Response; error?: unknown } | ApiResponse,
  status: number,
  type: string,
  label = '',
) {
  const { status: actual, headers, body } = parts(res);
  t.equal(actual, status, `status ${status} ${label}`);
  t.match(headers.get('content-type'), /^application\/problem\+json/, `problem content type ${label}`);
  t.match(body, { type, status, title: String, detail: String }, `problem body ${label}`);
}

t.test('POST /services with a chosen id: 201, Location, {id, name}, stored', async (t) => {
  const { data, response } = await create({ id: 321, name: 'Calibration' });
  t.equal(response.status, 201);
  t.equal(response.headers.get('location'), '/services/321');
  t.same(data, { id: 321, name: 'Calibration' });
  t.same(await storedService(321), { id: 321, name: 'Calibration' });

  const again = await read(321);
  t.equal(again.response.status, 200);
  t.same(again.data, data, 'GET returns what POST returned');
});

t.test('the highest chosen id (999999) is accepted', async (t) => {
  const { data, response } = await create({ id: 999999, name: 'Top of the range' });
  t.equal(response.status, 201);
  t.same(data, { id: 999999, name: 'Top of the range' });
  t.equal(response.headers.get('location'), '/services/999999');
});

t.test('POST /services without an id: the server assigns one >= 1000000', async (t) => {
  const first = await create({ name: 'Cleaning' });
  t.equal(first.response.status, 201);
  const id = first.data!.id;
  t.ok(Number.isInteger(id) && id >= 1_000_000, `assigned id ${id} is >= 1000000`);
  t.equal(first.data!.name, 'Cleaning');
  t.equal(first.response.headers.get('location'), `/services/${id}`);
  t.same(await storedService(id), { id, name: 'Cleaning' });

  const second = await create({ name: 'Painting' });
  t.equal(second.response.status, 201);
  t.ok(second.data!.id >= 1_000_000 && second.data!.id !== id, 'a second assigned id is new');
  t.equal((await read(second.data!.id)).data?.name, 'Painting');
});

t.test('a chosen id of 1000000 or more is 400 and creates nothing', async (t) => {
  const before = await countRows(db, 'services');
  for (const id of [1_000_000, 1_000_001, 999_999_999]) {
    const res = await create({ id, name: `Reserved ${id}` });
    isProblem(t, res, 400, '/problems/validation', String(id));
    t.same(
      res.error?.errors?.map((e) => e.path),
      ['/body/id'],
      `${id}: the error names /body/id`,
    );
  }
  t.equal(await countRows(db, 'services'), before);
});

t.test('an id that is not a positive integer is 400 and creates nothing', async (t) => {
  const before = await countRows(db, 'services');
  for (const id of [0, -5, 1.5, 1_000_000_000]) {
    const res = await create({ id, name: `Odd id ${String(id)}` });
    isProblem(t, res, 400, '/problems/validation', JSON.stringify(id));
    t.equal(res.error?.errors?.[0]?.path, '/body/id', `${JSON.stringify(id)}: the error names /body/id`);
  }
  // raw: a string id and a null id are not numbers, which the types forbid
  for (const id of ['321', null]) {
    const res = await api.post('/services', { id, name: `Odd id ${String(id)}` });
    isProblem(t, res, 400, '/problems/validation', JSON.stringify(id));
    t.equal(res.body.errors[0]?.path, '/body/id', `${JSON.stringify(id)}: the error names /body/id`);
  }
  t.equal(await countRows(db, 'services'), before);
});

t.test('a duplicate id is 409 and the existing service is unchanged', async (t) => {
  const before = await countRows(db, 'services');
  const res = await create({ id: 123, name: 'Something else' });
  isProblem(t, res, 409, '/problems/conflict');
  t.match(res.error?.detail, /123/, 'the detail names the id');
  t.same(await storedService(123), { id: 123, name: 'Inspection' });
  t.equal(await countRows(db, 'services'), before);
});

t.test('a duplicate name is 409 regardless of letter case, with or without an id', async (t) => {
  const before = await countRows(db, 'services');
  const bodies: NewService[] = [
    { name: 'Inspection' },
    { name: 'inspection' },
    { name: 'INSPECTION' },
    { id: 555, name: 'inspection' },
    { name: '  inspection  ' },
  ];
  for (const body of bodies) {
    const res = await create(body);
    isProblem(t, res, 409, '/problems/conflict', JSON.stringify(body));
    t.match(res.error?.detail, /name/i, 'the detail says the name is taken');
  }
  t.equal(await countRows(db, 'services'), before, 'nothing created');
  t.equal(await storedService(555), undefined);
});

t.test('names are trimmed before they are stored and compared', async (t) => {
  const { data, response } = await create({ id: 4001, name: '  Polishing  ' });
  t.equal(response.status, 201);
  t.same(data, { id: 4001, name: 'Polishing' });
  t.same(await storedService(4001), { id: 4001, name: 'Polishing' });
  const dup = await create({ name: 'polishing' });
  isProblem(t, dup, 409, '/problems/conflict', 'the trimmed name is the one compared');
});

t.test('inner spaces, accents and other scripts are kept as sent', async (t) => {
  const { data, response } = await create({ id: 4002, name: 'Révision  générale 検査' });
  t.equal(response.status, 201);
  t.equal(data!.name, 'Révision  générale 検査');
  t.equal((await storedService(4002))?.name, 'Révision  générale 検査');
});

t.test('a blank name, an empty name, a missing name or a name with a control character is 400', async (t) => {
  const before = await countRows(db, 'services');
  const names = [
    '   ',
    '',
    '\t\n',
    'Bad\u0007name',
    'Tab\there',
    'Line\nbreak',
    'Nul\u0000byte',
    'Del\u007f',
    'x'.repeat(101),
  ];
  for (const name of names) {
    const res = await create({ id: 4100, name });
    isProblem(t, res, 400, '/problems/validation', JSON.stringify(name));
    t.same(
      res.error?.errors?.map((e) => e.path),
      ['/body/name'],
      `${JSON.stringify(name)}: the error names /body/name`,
    );
  }
  // raw: a number, null or no name at all, which the types forbid
  for (const name of [42, null]) {
    const res = await api.post('/services', { id: 4100, name });
    isProblem(t, res, 400, '/problems/validation', JSON.stringify(name));
    t.same(
      res.body.errors?.map((e: { path: string }) => e.path),
      ['/body/name'],
      `${JSON.stringify(name)}: the error names /body/name`,
    );
  }
  const missing = await api.post('/services', { id: 4100 });
  isProblem(t, missing, 400, '/problems/validation', 'missing name');
  t.same(missing.body.errors, [{ path: '/body/name', message: 'is required' }]);
  t.equal(await countRows(db, 'services'), before, 'nothing created');
});

t.test('C1 control characters (U+0080 to U+009F) are control characters too: 400', async (t) => {
  const before = await countRows(db, 'services');
  for (const name of ['Next\u0085line', 'Csi\u009b2J', '\u0080Start']) {
    const res = await create({ id: 4150, name });
    isProblem(t, res, 400, '/problems/validation', JSON.stringify(name));
    t.equal(res.error?.errors?.[0]?.path, '/body/name', `${JSON.stringify(name)}: the error names /body/name`);
  }
  t.equal(await countRows(db, 'services'), before, 'nothing created');
});

t.test('a name of exactly 100 characters is accepted', async (t) => {
  const name = 'N'.repeat(100);
  const { data, response } = await create({ id: 4200, name });
  t.equal(response.status, 201);
  t.equal(data!.name, name);
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
  const { data, response } = await read(789);
  t.equal(response.status, 200);
  t.same(data, { id: 789, name: 'Testing' });

  const missing = await read(4242);
  isProblem(t, missing, 404, '/problems/not-found');
  t.equal(missing.error?.detail, 'There is no service 4242.');
});

t.test('GET /services/{id} with a malformed id is 400 naming /path/serviceId', async (t) => {
  // The types say "a number" without bounds, so the typed client can send these.
  for (const id of [0, 1_000_000_000, -1, 1.5]) {
    const res = await read(id);
    isProblem(t, res, 400, '/problems/validation', String(id));
    t.equal(res.error?.errors?.[0]?.path, '/path/serviceId', `${id}: the error names the path parameter`);
  }
  // raw: not numbers at all, or (20 digits) more than a JS number carries exactly
  for (const id of ['abc', '12abc', '99999999999999999999']) {
    const res = await api.get(`/services/${id}`);
    isProblem(t, res, 400, '/problems/validation', id);
    t.equal(res.body.errors?.[0]?.path, '/path/serviceId', `${id}: the error names the path parameter`);
  }
});

t.test('GET /services/{id} with an id that is not plain decimal digits is 400, not an alias', async (t) => {
  // raw: these are spellings of 123 or 100 that only a string path can carry
  for (const id of ['0x7B', '1e2', '%20123', '123%20', '+123']) {
    const res = await api.get(`/services/${id}`);
    isProblem(t, res, 400, '/problems/validation', id);
    t.equal(res.body.errors?.[0]?.path, '/path/serviceId', `${id}: the error names the path parameter`);
  }
});

t.test('PUT renames a service: 200, the new name, stored; a body id equal to the path is fine', async (t) => {
  await create({ id: 5001, name: 'Welding' });
  const { data, response } = await rename(5001, { name: 'Arc welding' });
  t.equal(response.status, 200);
  t.same(data, { id: 5001, name: 'Arc welding' });
  t.same(await storedService(5001), { id: 5001, name: 'Arc welding' });

  const withId = await rename(5001, { id: 5001, name: '  Gas welding  ' });
  t.equal(withId.response.status, 200);
  t.same(withId.data, { id: 5001, name: 'Gas welding' }, 'the new name is trimmed');
  t.same((await read(5001)).data, { id: 5001, name: 'Gas welding' });
});

t.test('PUT may change only the letter case of its own name', async (t) => {
  await create({ id: 5002, name: 'grinding' });
  const { data, response } = await rename(5002, { name: 'Grinding' });
  t.equal(response.status, 200);
  t.same(data, { id: 5002, name: 'Grinding' });
  t.equal((await storedService(5002))?.name, 'Grinding');
});

t.test('PUT of an unknown service is 404 and creates nothing (no upsert)', async (t) => {
  const before = await countRows(db, 'services');
  const res = await rename(5999, { name: 'Ghost' });
  isProblem(t, res, 404, '/problems/not-found');
  t.equal(res.error?.detail, 'There is no service 5999.');
  t.equal(await countRows(db, 'services'), before);
  t.equal(await storedService(5999), undefined);
});

t.test('PUT with a body id different from the path id is 400 and changes nothing', async (t) => {
  const res = await rename(789, { id: 456, name: 'Renamed' });
  isProblem(t, res, 400, '/problems/validation');
  t.same(res.error?.errors, [
    { path: '/body/id', message: 'must equal the service id in the path (789) or be left out' },
  ]);
  t.same(await storedService(789), { id: 789, name: 'Testing' });
  t.same(await storedService(456), { id: 456, name: 'Analysis' });
});

t.test('PUT with a name another service has is 409 (any letter case) and changes nothing', async (t) => {
  for (const name of ['Inspection', 'inspection', ' ANALYSIS ']) {
    const res = await rename(789, { name });
    isProblem(t, res, 409, '/problems/conflict', name);
  }
  t.same(await storedService(789), { id: 789, name: 'Testing' });
});

t.test('PUT with an invalid name or a malformed path id is 400 and changes nothing', async (t) => {
  for (const name of ['   ', '', 'Bell\u0007']) {
    const res = await rename(789, { name });
    isProblem(t, res, 400, '/problems/validation', JSON.stringify(name));
    t.equal(res.error?.errors?.[0]?.path, '/body/name');
  }
  // raw: the types only allow a number in the path
  const badId = await api.put('/services/abc', { name: 'Whatever' });
  isProblem(t, badId, 400, '/problems/validation', 'bad path id');
  t.equal(badId.body.errors?.[0]?.path, '/path/serviceId');
  t.same(await storedService(789), { id: 789, name: 'Testing' });
});

t.test('DELETE removes a service: 204 without a body, then GET and DELETE are 404', async (t) => {
  await create({ id: 6001, name: 'Disposal' });
  const before = await countRows(db, 'services');
  const { data, response } = await remove(6001);
  t.equal(response.status, 204);
  t.equal(data, undefined);
  t.equal(await storedService(6001), undefined, 'the row is gone');
  t.equal(await countRows(db, 'services'), before - 1);
  isProblem(t, await read(6001), 404, '/problems/not-found', 'GET after DELETE');
  isProblem(t, await remove(6001), 404, '/problems/not-found', 'DELETE after DELETE');

  const again = await create({ id: 6001, name: 'disposal' });
  t.equal(again.response.status, 201, 'the id and the name are free again');
});

t.test('DELETE of a malformed id is 400', async (t) => {
  const res = await remove(0);
  isProblem(t, res, 400, '/problems/validation');
  t.equal(res.error?.errors?.[0]?.path, '/path/serviceId');
});

// The database refuses the delete (ON DELETE RESTRICT) with a SQLSTATE that depends on its
// version: Postgres 15, the server of the Postgres run, reports 23503; Postgres 18, which PGlite
// embeds, reports 23001. The service maps both to 409, but each run proves only its own mapping,
// so a PGlite-only run leaves the 23503 path untested.
const restrictState = databaseKind === 'postgres' ? '23503' : '23001';
const whichRunProves =
  databaseKind === 'postgres'
    ? 'Postgres run: proves the 23503 mapping; 23001 is proven by the PGlite run'
    : 'PGlite run: proves the 23001 mapping only; 23503 is proven by the Postgres run';
t.test(
  `DELETE of a service an order includes is 409 and the service and order remain (${whichRunProves})`,
  async (t) => {
    await create({ id: 7001, name: 'Sealing' });
    const order = await client.POST('/orders', {
      body: orderBody('2024-01-01T00:00:00Z', { services: [{ id: 7001 }, { id: 123 }] }),
    });
    t.equal(order.response.status, 201);
    const orderId = order.data!.id;

    const refusal: unknown = await db
      .deleteFrom('services')
      .where('id', '=', 7001)
      .execute()
      .catch((error: unknown) => error);
    t.equal(
      (refusal as { code?: string }).code,
      restrictState,
      `the database itself refuses the delete with ${restrictState}, as the name says`,
    );

    const res = await remove(7001);
    isProblem(t, res, 409, '/problems/conflict');
    t.match(res.error?.detail, /7001/, 'the detail names the service');
    t.same(await storedService(7001), { id: 7001, name: 'Sealing' });
    t.same((await read(7001)).data, { id: 7001, name: 'Sealing' });
    const serviceIds = await storedServiceIds(db, orderId);
    t.same(serviceIds, [123, 7001], 'the order keeps its services');

    // Once no order includes it, it can go.
    t.equal((await client.DELETE('/orders/{orderId}', { params: { path: { orderId } } })).response.status, 204);
    t.equal((await remove(7001)).response.status, 204);
    t.equal(await storedService(7001), undefined);
  },
);

t.test('a renamed service shows its new name in the orders that include it', async (t) => {
  await create({ id: 7002, name: 'Coating' });
  const order = await client.POST('/orders', { body: orderBody('2024-02-01T00:00:00Z', { services: [{ id: 7002 }] }) });
  t.equal(order.response.status, 201);
  const orderId = order.data!.id;
  t.equal((await rename(7002, { name: 'Powder coating' })).response.status, 200);
  const { data } = await client.GET('/orders/{orderId}', { params: { path: { orderId } } });
  t.same(data?.services, [{ id: 7002, name: 'Powder coating' }]);
  await client.DELETE('/orders/{orderId}', { params: { path: { orderId } } });
});
