import { sql } from 'kysely';
import { connect } from 'node:net';
import t from 'tap';
import type { components, operations } from '../../../src/client.js';
import { countRows } from '../../helpers/database.js';
import { orderBody, seedCatalogue } from '../../helpers/fixtures.js';
import { type ApiResponse, type RequestOptions } from '../../helpers/http.js';
import { startService } from '../../helpers/service.js';

type OrderInput = components['schemas']['OrderInput'];
type ListQuery = NonNullable<operations['listOrders']['parameters']['query']>;

const { client, api, db } = await startService(t);
await seedCatalogue(db);

// The last overload of t.test is (cb), so this is the subtest type.
type Test = Parameters<Parameters<typeof t.test>[0]>[0];
type Counts = Record<'orders' | 'order_services' | 'services', number>;

async function counts(): Promise<Counts> {
  return {
    orders: await countRows(db, 'orders'),
    order_services: await countRows(db, 'order_services'),
    services: await countRows(db, 'services'),
  };
}

// One order that stays for the whole file, so "nothing stored" is checked against a non-empty table.
const created = await client.POST('/orders', {
  body: orderBody('2021-06-01T00:00:00Z', { services: [{ id: 123 }, { id: 456 }] }),
});
if (!created.data) throw new Error(`could not create the kept order: ${JSON.stringify(created.error)}`);
const kept = created.data;

const readOrder = (orderId: string) => client.GET('/orders/{orderId}', { params: { path: { orderId } } });
const readService = (serviceId: number) => client.GET('/services/{serviceId}', { params: { path: { serviceId } } });

/** A typed call's outcome in the raw client's shape, so one set of problem checks serves both. */
async function outcome(call: Promise<{ data?: unknown; error?: unknown; response: Response }>): Promise<ApiResponse> {
  const { data, error, response } = await call;
  return { status: response.status, headers: response.headers, body: data ?? error };
}

/**
 * Every error is an RFC 9457 problem: application/problem+json, `status` equal to the HTTP status,
 * `type`, `title` and `detail` present, `instance` the request path.
 */
function isProblem(t: Test, res: ApiResponse, status: number, type: string, label: string, path?: string) {
  t.equal(res.status, status, `${label}: status ${status}`);
  t.match(res.headers.get('content-type'), /^application\/problem\+json(;|$)/, `${label}: problem content type`);
  t.type(res.body, 'object', `${label}: a JSON body`);
  t.match(res.body, { type, title: String, status, detail: String }, `${label}: problem fields`);
  t.ok(typeof res.body?.title === 'string' && res.body.title.length > 0, `${label}: non-empty title`);
  t.ok(typeof res.body?.detail === 'string' && res.body.detail.length > 0, `${label}: non-empty detail`);
  if (path !== undefined) t.equal(res.body?.instance, path.split('?')[0], `${label}: instance is the request path`);
}

/** Sends a request that must be refused with a problem at `path`, and checks that no table changed. */
async function refusedCall(
  t: Test,
  path: string,
  send: () => Promise<ApiResponse>,
  status: number,
  type: string,
  label: string,
) {
  const before = await counts();
  const res = await send();
  isProblem(t, res, status, type, label, path);
  t.same(await counts(), before, `${label}: nothing stored`);
  return res;
}

/** The same, for a raw request (one the types forbid). */
const refused = (
  t: Test,
  method: string,
  path: string,
  options: RequestOptions,
  status: number,
  type: string,
  label: string,
) => refusedCall(t, path, () => api.request(method, path, options), status, type, label);

/** GET /orders with a bad query is a 400 whose errors name the parameter: typed where the types allow the value, raw otherwise. */
async function refusedQuery(t: Test, query: string | ListQuery, path: string) {
  const search =
    typeof query === 'string'
      ? query
      : Object.entries(query)
          .map(([name, value]) => `${name}=${value}`)
          .join('&');
  const label = `GET /orders?${search}`;
  const res =
    typeof query === 'string'
      ? await refused(t, 'GET', `/orders?${query}`, {}, 400, '/problems/validation', label)
      : await refusedCall(
          t,
          '/orders',
          () => outcome(client.GET('/orders', { params: { query } })),
          400,
          '/problems/validation',
          label,
        );
  t.ok(paths(res).includes(path), `${search}: errors name ${path}`);
}

const paths = (res: ApiResponse): string[] => (res.body?.errors ?? []).map((e: { path: string }) => e.path);

t.test('a valid order body is accepted (so every refusal below is caused by its one defect)', async (t) => {
  const { data, response } = await client.POST('/orders', { body: orderBody('2021-07-01T00:00:00Z') });
  t.equal(response.status, 201);
  t.equal((await client.DELETE('/orders/{orderId}', { params: { path: { orderId: data!.id } } })).response.status, 204);
});

t.test('an unknown route is a 404 problem', async (t) => {
  for (const [method, path] of [
    ['GET', '/nope'],
    ['GET', '/orders/1/services'],
    ['GET', '/services/1/orders'],
    ['POST', '/customers'],
    ['DELETE', '/'],
  ] as const) {
    const res = await refused(
      t,
      method,
      path,
      method === 'POST' ? { body: { a: 1 } } : {},
      404,
      '/problems/not-found',
      `${method} ${path}`,
    );
    t.match(res.body.detail, path, `${method} ${path}: the detail names the path`);
  }
});

t.test('a wrong method on an existing path is 405 with Allow listing the methods of the path', async (t) => {
  const allow = (res: ApiResponse) =>
    (res.headers.get('allow') ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter(Boolean)
      .sort();
  const cases: Array<[string, string, RequestOptions, string[]]> = [
    ['PATCH', '/orders/1', { body: { totalfee: 1 } }, ['DELETE', 'GET', 'HEAD', 'PUT']],
    ['POST', '/orders/1', { body: orderBody('2021-08-01T00:00:00Z') }, ['DELETE', 'GET', 'HEAD', 'PUT']],
    ['DELETE', '/orders', {}, ['GET', 'HEAD', 'POST']],
    ['PUT', '/orders', { body: orderBody('2021-08-01T00:00:00Z') }, ['GET', 'HEAD', 'POST']],
    ['PUT', '/services', { body: { name: 'X' } }, ['GET', 'HEAD', 'POST']],
    ['DELETE', '/services', {}, ['GET', 'HEAD', 'POST']],
    ['POST', '/services/123', { body: { name: 'X' } }, ['DELETE', 'GET', 'HEAD', 'PUT']],
    ['PATCH', '/services/123', { body: { name: 'X' } }, ['DELETE', 'GET', 'HEAD', 'PUT']],
  ];
  for (const [method, path, options, methods] of cases) {
    const res = await refused(t, method, path, options, 405, '/problems/method-not-allowed', `${method} ${path}`);
    t.same(allow(res), methods, `${method} ${path}: Allow lists ${methods.join(', ')}`);
    t.notOk(allow(res).includes(method), `${method} ${path}: Allow does not list ${method}`);
  }
  t.same((await readService(123)).data, { id: 123, name: 'Inspection' }, 'the service is untouched');
});

t.test('a body over 1 MiB is 413', async (t) => {
  const big = JSON.stringify({ ...orderBody('2021-09-01T00:00:00Z'), padding: 'x'.repeat(1024 * 1024) });
  const headers = { 'content-type': 'application/json' };
  await refused(t, 'POST', '/orders', { raw: big, headers }, 413, '/problems/payload-too-large', 'POST /orders');
  await refused(
    t,
    'PUT',
    `/orders/${kept.id}`,
    { raw: big, headers },
    413,
    '/problems/payload-too-large',
    'PUT /orders/{id}',
  );
  const bigService = JSON.stringify({ name: 'Huge', padding: 'y'.repeat(1024 * 1024 + 10) });
  await refused(
    t,
    'POST',
    '/services',
    { raw: bigService, headers },
    413,
    '/problems/payload-too-large',
    'POST /services',
  );
  t.same((await readOrder(kept.id)).data, kept, 'the kept order is unchanged');
});

t.test('a body that is not application/json is 415', async (t) => {
  const json = JSON.stringify(orderBody('2021-10-01T00:00:00Z'));
  for (const type of [
    'text/plain',
    'text/plain; charset=utf-8',
    'application/xml',
    'application/x-www-form-urlencoded',
    'application/problem+json',
  ]) {
    const res = await refused(
      t,
      'POST',
      '/orders',
      { raw: json, headers: { 'content-type': type } },
      415,
      '/problems/unsupported-media-type',
      `POST /orders as ${type}`,
    );
    t.match(res.body.detail, /application\/json/, `${type}: the detail says what to send`);
  }
  await refused(
    t,
    'PUT',
    `/orders/${kept.id}`,
    { raw: json, headers: { 'content-type': 'text/plain' } },
    415,
    '/problems/unsupported-media-type',
    'PUT /orders/{id} as text/plain',
  );
  await refused(
    t,
    'POST',
    '/services',
    { raw: '{"name":"Plain"}', headers: { 'content-type': 'text/plain' } },
    415,
    '/problems/unsupported-media-type',
    'POST /services as text/plain',
  );
  await refused(
    t,
    'PUT',
    '/services/123',
    { raw: '{"name":"Plain"}', headers: { 'content-type': 'text/plain' } },
    415,
    '/problems/unsupported-media-type',
    'PUT /services/{id} as text/plain',
  );
});

t.test('malformed JSON is 400', async (t) => {
  const headers = { 'content-type': 'application/json' };
  for (const raw of [
    '{',
    '{"datetime": "2021-11-01T00:00:00Z",}',
    "{'datetime': 1}",
    '{"totalfee": 1} trailing',
    'nul',
    '{"a":1}{"b":2}',
  ]) {
    const res = await refused(
      t,
      'POST',
      '/orders',
      { raw, headers },
      400,
      '/problems/validation',
      `POST /orders ${JSON.stringify(raw)}`,
    );
    t.same(paths(res), ['/body'], `${JSON.stringify(raw)}: the error names /body`);
  }
  await refused(
    t,
    'POST',
    '/services',
    { raw: '{"name": ', headers },
    400,
    '/problems/validation',
    'POST /services truncated',
  );
  await refused(
    t,
    'PUT',
    '/services/123',
    { raw: '{"name": ', headers },
    400,
    '/problems/validation',
    'PUT /services/{id} truncated',
  );
});

t.test('an empty body with content-type application/json is 400', async (t) => {
  const res = await refused(
    t,
    'POST',
    '/orders',
    { raw: '', headers: { 'content-type': 'application/json' } },
    400,
    '/problems/validation',
    'POST /orders empty',
  );
  t.same(res.body.errors, [{ path: '/body', message: 'is empty' }]);
  await refused(
    t,
    'PUT',
    `/orders/${kept.id}`,
    { raw: '', headers: { 'content-type': 'application/json' } },
    400,
    '/problems/validation',
    'PUT /orders/{id} empty',
  );
  await refused(
    t,
    'POST',
    '/services',
    { raw: '', headers: { 'content-type': 'application/json' } },
    400,
    '/problems/validation',
    'POST /services empty',
  );
});

t.test('no body at all is 400', async (t) => {
  const res = await refused(t, 'POST', '/orders', {}, 400, '/problems/validation', 'POST /orders without a body');
  t.same(paths(res), ['/body'], 'the error names /body');
  await refused(t, 'PUT', `/orders/${kept.id}`, {}, 400, '/problems/validation', 'PUT /orders/{id} without a body');
  await refused(t, 'POST', '/services', {}, 400, '/problems/validation', 'POST /services without a body');
  await refused(t, 'PUT', '/services/123', {}, 400, '/problems/validation', 'PUT /services/{id} without a body');
});

t.test('a JSON body that is not an object is 400', async (t) => {
  for (const body of [[orderBody('2021-12-01T00:00:00Z')], [], 'an order', 42, true, null]) {
    const res = await refused(
      t,
      'POST',
      '/orders',
      { raw: JSON.stringify(body), headers: { 'content-type': 'application/json' } },
      400,
      '/problems/validation',
      `POST /orders ${JSON.stringify(body)}`,
    );
    t.same(paths(res), ['/body'], `${JSON.stringify(body)}: the error names /body`);
  }
  await refused(t, 'POST', '/services', { body: ['Inspection'] }, 400, '/problems/validation', 'POST /services array');
  await refused(t, 'POST', '/services', { body: 'Inspection' }, 400, '/problems/validation', 'POST /services string');
});

t.test('__proto__ and constructor.prototype keys are 400 and pollute nothing', async (t) => {
  const valid = JSON.stringify(orderBody('2022-01-01T00:00:00Z')).slice(1, -1);
  const headers = { 'content-type': 'application/json' };
  const bodies = [
    `{"__proto__": {"polluted": true}}`,
    `{${valid}, "__proto__": {"polluted": true}}`,
    `{${valid}, "services": [{"id": 123, "__proto__": {"polluted": true}}]}`,
    `{"constructor": {"prototype": {"polluted": true}}}`,
    `{${valid}, "constructor": {"prototype": {"polluted": true}}}`,
  ];
  for (const raw of bodies) {
    await refused(t, 'POST', '/orders', { raw, headers }, 400, '/problems/validation', raw);
  }
  await refused(
    t,
    'POST',
    '/services',
    { raw: '{"name": "Proto", "__proto__": {"polluted": true}}', headers },
    400,
    '/problems/validation',
    'POST /services __proto__',
  );
  await refused(
    t,
    'POST',
    '/services',
    { raw: '{"name": "Ctor", "constructor": {"prototype": {"polluted": true}}}', headers },
    400,
    '/problems/validation',
    'POST /services constructor',
  );
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is not polluted');
});

t.test('order input errors are 400 with errors[].path naming the field', async (t) => {
  const at = '2022-03-01T00:00:00Z';
  const base = orderBody(at);
  const without = (key: string) => Object.fromEntries(Object.entries(base).filter(([k]) => k !== key));
  const many = Array.from({ length: 21 }, (_, i) => ({ id: i + 1 }));
  // Well-typed bodies that only the server can refuse: sent with the typed client.
  const typed: Array<[string, OrderInput, string]> = [
    ['totalfee negative', { ...base, totalfee: -1 }, '/body/totalfee'],
    ['totalfee -0.01', { ...base, totalfee: -0.01 }, '/body/totalfee'],
    ['totalfee with 3 decimals', { ...base, totalfee: 1.005 }, '/body/totalfee'],
    ['totalfee 0.001', { ...base, totalfee: 0.001 }, '/body/totalfee'],
    ['totalfee 1e-7', { ...base, totalfee: 1e-7 }, '/body/totalfee'],
    ['totalfee above the maximum', { ...base, totalfee: 1_000_000_000_000 }, '/body/totalfee'],
    ['totalfee far above the maximum', { ...base, totalfee: 1e300 }, '/body/totalfee'],
    ['datetime without an offset', { ...base, datetime: '2022-11-01T11:11:11' }, '/body/datetime'],
    ['datetime date only', { ...base, datetime: '2022-11-01' }, '/body/datetime'],
    ['datetime 30 February', { ...base, datetime: '2022-02-30T00:00:00Z' }, '/body/datetime'],
    ['datetime hour 24', { ...base, datetime: '2022-03-01T24:00:00Z' }, '/body/datetime'],
    ['datetime garbage', { ...base, datetime: 'next tuesday' }, '/body/datetime'],
    ['datetime empty', { ...base, datetime: '' }, '/body/datetime'],
    ['datetime year 0000', { ...base, datetime: '0000-01-01T00:00:00Z' }, '/body/datetime'],
    ['services empty', { ...base, services: [] }, '/body/services'],
    ['services with 21 entries', { ...base, services: many }, '/body/services'],
    ['duplicate service ids', { ...base, services: [{ id: 123 }, { id: '123' }] }, '/body/services/1/id'],
    ['service id 0', { ...base, services: [{ id: 0 }] }, '/body/services/0/id'],
    ['service id "0"', { ...base, services: [{ id: '0' }] }, '/body/services/0/id'],
    ['service id negative', { ...base, services: [{ id: -123 }] }, '/body/services/0/id'],
    ['service id "abc"', { ...base, services: [{ id: 'abc' }] }, '/body/services/0/id'],
    ['service id 1.5', { ...base, services: [{ id: 1.5 }] }, '/body/services/0/id'],
    ['service id "1.5"', { ...base, services: [{ id: '1.5' }] }, '/body/services/0/id'],
    ['service id too large', { ...base, services: [{ id: 1_000_000_000 }] }, '/body/services/0/id'],
  ];
  // Bodies the types forbid (a missing field, a wrong type, an unknown field): sent raw.
  const untyped: Array<[string, unknown, string]> = [
    ['missing datetime', without('datetime'), '/body/datetime'],
    ['missing totalfee', without('totalfee'), '/body/totalfee'],
    ['missing services', without('services'), '/body/services'],
    ['totalfee as a string', { ...base, totalfee: '100' }, '/body/totalfee'],
    ['totalfee null', { ...base, totalfee: null }, '/body/totalfee'],
    ['totalfee as an object', { ...base, totalfee: { amount: 100 } }, '/body/totalfee'],
    ['datetime a number', { ...base, datetime: 1667301071111 }, '/body/datetime'],
    ['datetime null', { ...base, datetime: null }, '/body/datetime'],
    ['services not an array', { ...base, services: { id: 123 } }, '/body/services'],
    ['services with a bare id', { ...base, services: [123] }, '/body/services/0'],
    ['service id null', { ...base, services: [{ id: null }] }, '/body/services/0/id'],
    ['service entry without an id', { ...base, services: [{ name: 'Inspection' }] }, '/body/services/0/id'],
    ['an extra field in a service entry', { ...base, services: [{ id: 123, qty: 2 }] }, '/body/services/0/qty'],
  ];
  type Case = [label: string, send: () => Promise<ApiResponse>, path: string];
  const cases: Case[] = [
    ...typed.map(([label, body, path]): Case => [label, () => outcome(client.POST('/orders', { body })), path]),
    ...untyped.map(([label, body, path]): Case => [label, () => api.request('POST', '/orders', { body }), path]),
  ];
  for (const [label, send, path] of cases) {
    const res = await refusedCall(t, '/orders', send, 400, '/problems/validation', label);
    t.ok(paths(res).includes(path), `${label}: errors name ${path} (got ${JSON.stringify(res.body.errors)})`);
    t.ok(
      paths(res).every((p) => p === path || p.startsWith(`${path}/`)),
      `${label}: only ${path} is blamed (got ${paths(res).join(', ')})`,
    );
    for (const error of res.body.errors ?? []) {
      t.ok(typeof error.message === 'string' && error.message.length > 0, `${label}: each error has a message`);
    }
  }
});

t.test('field errors say what is wrong in plain words', async (t) => {
  const base = orderBody('2022-04-01T00:00:00Z');
  const errorsOf = async (body: OrderInput) => (await client.POST('/orders', { body })).error?.errors;
  // raw: an unknown field or a wrong type, which the types forbid.
  const untypedErrorsOf = async (body: unknown) => (await api.post('/orders', body)).body.errors;

  const misspelt = await refused(
    t,
    'POST',
    '/orders',
    { body: { datetime: base.datetime, totalFee: 100, services: base.services } },
    400,
    '/problems/validation',
    'totalFee',
  );
  t.same(
    misspelt.body.errors.find((e: { path: string }) => e.path === '/body/totalFee'),
    { path: '/body/totalFee', message: "unknown property 'totalFee' (did you mean 'totalfee'?)" },
    'an unknown field suggests the right spelling',
  );
  t.same(
    misspelt.body.errors.find((e: { path: string }) => e.path === '/body/totalfee'),
    { path: '/body/totalfee', message: 'is required' },
    'and the real field is reported missing',
  );

  const unknown = await untypedErrorsOf({ ...base, colour: 'red' });
  t.equal(unknown.length, 1);
  t.equal(unknown[0].path, '/body/colour');
  t.match(unknown[0].message, /unknown property 'colour'/);

  t.same(await errorsOf({ ...base, totalfee: 1.005 }), [
    { path: '/body/totalfee', message: 'must have at most 2 decimal places' },
  ]);
  t.same(await errorsOf({ ...base, totalfee: -1 }), [{ path: '/body/totalfee', message: 'must be >= 0' }]);
  t.same(await untypedErrorsOf({ ...base, totalfee: '100' }), [{ path: '/body/totalfee', message: 'must be number' }]);
  t.same(await errorsOf({ ...base, datetime: '2022-11-01T11:11:11' }), [
    {
      path: '/body/datetime',
      message:
        'must be an RFC 3339 date-time with Z or an offset, such as 2022-11-01T11:11:11.111Z, in years 0001 to 9999',
    },
  ]);
  t.same(await errorsOf({ ...base, services: [{ id: 123 }, { id: '123' }] }), [
    { path: '/body/services/1/id', message: 'duplicates service 123' },
  ]);
  t.same(await errorsOf({ ...base, services: [{ id: 'abc' }] }), [
    {
      path: '/body/services/0/id',
      message: 'must be a service id, an integer from 1 to 999999999 or a string of its digits',
    },
  ]);

  const several = await errorsOf({ datetime: 'soon', totalfee: -5, services: [] });
  t.same(
    several?.map((e) => e.path).sort(),
    ['/body/datetime', '/body/services', '/body/totalfee'],
    'all invalid fields are reported at once',
  );
});

t.test('a replace with invalid input is 400 and leaves the order unchanged', async (t) => {
  const path = `/orders/${kept.id}`;
  const cases: Array<[string, OrderInput, string]> = [
    ['totalfee with 3 decimals', { ...orderBody('2021-06-01T00:00:00Z'), totalfee: 1.005 }, '/body/totalfee'],
    ['datetime without an offset', orderBody('2021-06-01T00:00:00'), '/body/datetime'],
    [
      'duplicate services',
      orderBody('2021-06-01T00:00:00Z', { services: [{ id: 456 }, { id: 456 }] }),
      '/body/services/1/id',
    ],
    ['services empty', orderBody('2021-06-01T00:00:00Z', { services: [] }), '/body/services'],
  ];
  for (const [label, body, field] of cases) {
    const send = () => outcome(client.PUT('/orders/{orderId}', { params: { path: { orderId: kept.id } }, body }));
    const res = await refusedCall(t, path, send, 400, '/problems/validation', `PUT ${label}`);
    t.ok(paths(res).includes(field), `${label}: errors name ${field}`);
  }
  t.same((await readOrder(kept.id)).data, kept, 'the order is unchanged');
});

t.test('a malformed query is 400 naming the parameter', async (t) => {
  const cases: Array<[string | ListQuery, string]> = [
    [{ limit: 0 }, '/query/limit'],
    [{ limit: 101 }, '/query/limit'],
    ['limit=abc', '/query/limit'],
    [{ from: 'yesterday' }, '/query/from'],
    ['serviceId=abc', '/query/serviceId'],
    [{ cursor: '!!' }, '/query/cursor'],
  ];
  for (const [query, path] of cases) {
    await refusedQuery(t, query, path);
  }
});

t.test('numeric query parameters must be plain decimal integers', async (t) => {
  for (const [query, path] of [
    ['limit=0x10', '/query/limit'],
    ['limit=1e1', '/query/limit'],
    ['serviceId=0x7B', '/query/serviceId'],
  ] as const) {
    await refusedQuery(t, query, path);
  }
});

// openapi.yaml declares 413 (a body over 1 MiB) for DELETE as for every write; the limit is
// applied before the operation runs, so the service named is not looked up, let alone removed.
t.test(
  'a DELETE with a body over 1 MiB is a 413 problem, whether or not the service exists, and removes nothing',
  async (t) => {
    const oversized = {
      raw: JSON.stringify({ padding: 'z'.repeat(1024 * 1024 + 1) }),
      headers: { 'content-type': 'application/json' },
    };
    const probe = await client.POST('/services', { body: { id: 4243, name: 'Oversized delete probe' } });
    t.equal(probe.response.status, 201);
    t.teardown(() => db.deleteFrom('services').where('id', '=', 4243).execute());
    const before = await counts();
    for (const id of [4242, 4243]) {
      const res = await api.request('DELETE', `/services/${id}`, oversized);
      isProblem(t, res, 413, '/problems/payload-too-large', `DELETE /services/${id} with 1 MiB`, `/services/${id}`);
    }
    t.same(await counts(), before, 'nothing changed');
    t.equal(
      (await client.GET('/services/{serviceId}', { params: { path: { serviceId: 4243 } } })).response.status,
      200,
      'the existing service is still there',
    );
  },
);

// Last: this breaks the database under the running service.
t.test('a malformed URL or an over-long path segment is a 400 problem', async (t) => {
  // raw: the typed client would escape the %, and a 120-digit service id does not fit its number type.
  for (const path of ['/orders/%FF', `/services/${'9'.repeat(120)}`]) {
    const res = await refused(t, 'GET', path, {}, 400, '/problems/validation', path.slice(0, 20));
    t.ok(res.headers.get('x-request-id'), 'the request id is echoed');
  }
  const longId = '1'.repeat(600);
  const res = await refusedCall(
    t,
    `/orders/${longId}`,
    () => outcome(readOrder(longId)),
    400,
    '/problems/validation',
    `/orders/${longId}`.slice(0, 20),
  );
  t.ok(res.headers.get('x-request-id'), 'the request id is echoed');
});

t.test('headers too large for the parser are a 431 problem', async (t) => {
  const { port } = new URL(api.url);
  const raw = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(`GET /orders HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`);
    });
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
  t.match(raw, /^HTTP\/1\.1 431 /);
  t.match(raw, /Content-Type: application\/problem\+json/);
  t.match(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)), {
    status: 431,
    title: 'Request Header Fields Too Large',
  });
});

t.test('a huge invalid body gets a small answer: oversized arrays by length, at most 20 field errors', async (t) => {
  const services = Array.from({ length: 95_000 }, () => ({ x: 1 }));
  const many = await refused(
    t,
    'POST',
    '/orders',
    { body: { ...orderBody('2022-06-01T00:00:00Z'), services } },
    400,
    '/problems/validation',
    '95,000 services',
  );
  t.same(many.body.errors, [{ path: '/body/services', message: 'must NOT have more than 20 items' }]);

  const unknown = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`field${i}`, i]));
  const wide = await refused(
    t,
    'POST',
    '/orders',
    { body: { ...orderBody('2022-06-01T00:00:00Z'), ...unknown } },
    400,
    '/problems/validation',
    '500 unknown fields',
  );
  t.equal(wide.body.errors.length, 20, 'the error list is capped');
});

t.test('a 500 is a problem that reveals nothing but a reference id', async (t) => {
  await sql`DROP TABLE order_services CASCADE`.execute(db);
  const before = { orders: await countRows(db, 'orders'), services: await countRows(db, 'services') };

  const leaks = [
    /order_services/i,
    /relation/i,
    /does not exist/i,
    /select/i,
    /\bfrom\b/i,
    /42P01/,
    /\bat\s/,
    /\.ts\b/,
    /\.js\b/,
    /node_modules/i,
    /postgres/i,
    /pglite/i,
    /kysely/i,
    /\bsql\b/i,
    /error:/i,
    /stack/i,
  ];

  const requests: Array<[string, string, () => Promise<ApiResponse>]> = [
    ['GET', '/orders', () => outcome(client.GET('/orders'))],
    ['GET', `/orders/${kept.id}`, () => outcome(readOrder(kept.id))],
    ['POST', '/orders', () => outcome(client.POST('/orders', { body: orderBody('2022-05-01T00:00:00Z') }))],
    [
      'PUT',
      `/orders/${kept.id}`,
      () =>
        outcome(
          client.PUT('/orders/{orderId}', {
            params: { path: { orderId: kept.id } },
            body: orderBody('2022-05-02T00:00:00Z'),
          }),
        ),
    ],
  ];
  for (const [method, path, send] of requests) {
    const res = await send();
    const label = `${method} ${path}`;
    isProblem(t, res, 500, '/problems/internal', label, path);
    t.same(
      Object.keys(res.body).sort(),
      ['detail', 'instance', 'status', 'title', 'type'],
      `${label}: no extra fields`,
    );
    const requestId = res.headers.get('x-request-id');
    t.ok(requestId, `${label}: the response carries x-request-id`);
    t.equal(
      res.body.detail,
      `An unexpected error occurred. Reference: ${requestId}.`,
      `${label}: the detail is only a reference id`,
    );
    const text = JSON.stringify(res.body).replace(requestId ?? '', '<id>');
    for (const leak of leaks) t.notMatch(text, leak, `${label}: the body does not match ${leak}`);
  }

  const withRequestId = (id: string) => client.GET('/orders', { headers: { 'x-request-id': id } });
  const traced = await withRequestId('trace-42.abc_DEF');
  t.equal(traced.response.status, 500);
  t.equal(
    traced.error?.detail,
    'An unexpected error occurred. Reference: trace-42.abc_DEF.',
    "the caller's sane request id is the reference",
  );

  const hostile = await withRequestId('x; DROP TABLE orders; --');
  t.equal(hostile.response.status, 500);
  t.notMatch(hostile.error?.detail, /DROP/, 'an unsafe request id is not echoed');
  t.match(hostile.error?.detail, /^An unexpected error occurred\. Reference: [0-9a-f-]{36}\.$/);

  t.same(
    { orders: await countRows(db, 'orders'), services: await countRows(db, 'services') },
    before,
    'the failed writes stored nothing',
  );
  t.equal((await readService(123)).response.status, 200, 'the rest of the service still answers');
});
