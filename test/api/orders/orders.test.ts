import { setTimeout } from 'node:timers/promises';
import { sql } from 'kysely';
import t from 'tap';
import { countRows, storedServiceIds } from '../../helpers/database.js';
import { orderBody, seedCatalogue } from '../../helpers/fixtures.js';
import { startService } from '../../helpers/service.js';

const { client, api, db } = await startService(t);
await seedCatalogue(db);

/** Creates an order through the typed client and returns it; the test fails unless it is a 201. */
async function create(body: ReturnType<typeof orderBody>) {
  const { data, response } = await client.POST('/orders', { body });
  if (response.status !== 201 || !data) throw new Error(`create answered ${response.status}`);
  return data;
}

const remove = (orderId: string) => client.DELETE('/orders/{orderId}', { params: { path: { orderId } } });
const read = (orderId: string) => client.GET('/orders/{orderId}', { params: { path: { orderId } } });

t.test('POST /orders creates an order: 201, Location, the stored order with service names', async (t) => {
  const { data, response } = await client.POST('/orders', {
    body: { datetime: '2022-11-01T11:11:11.111Z', totalfee: 100, services: [{ id: 456 }, { id: 123 }] },
  });
  t.equal(response.status, 201);
  t.match(data?.id, /^\d+$/);
  t.equal(response.headers.get('location'), `/orders/${data!.id}`);
  t.equal(data!.datetime, '2022-11-01T11:11:11.111Z');
  t.equal(data!.totalfee, 100);
  t.same(data!.services, [
    { id: 123, name: 'Inspection' },
    { id: 456, name: 'Analysis' },
  ]);
  t.equal(data!.createdAt, data!.updatedAt);

  const again = await read(data!.id);
  t.equal(again.response.status, 200);
  t.same(again.data, data, 'GET returns what POST returned');
  await remove(data!.id);
});

t.test("the sample's numeric-string service ids are accepted", async (t) => {
  const order = await create(orderBody('2023-01-01T00:00:00Z', { services: [{ id: '789' }] }));
  t.same(order.services, [{ id: 789, name: 'Testing' }]);
  await remove(order.id);
});

t.test('datetimes with an offset are stored and returned as UTC with milliseconds', async (t) => {
  const offset = await create(orderBody('2023-02-01T12:30:00+05:30'));
  t.equal(offset.datetime, '2023-02-01T07:00:00.000Z');
  const lower = await create(orderBody('2023-02-02t10:00:00.123456z'));
  t.equal(
    lower.datetime,
    '2023-02-02T10:00:00.123Z',
    'lower-case t and z are RFC 3339; digits below a millisecond are truncated',
  );
  await remove(offset.id);
  await remove(lower.id);
});

t.test('totalfee is exact: decimals are stored without float drift', async (t) => {
  const small = await create(orderBody('2023-03-01T00:00:00Z', { totalfee: 0.07 }));
  t.equal(small.totalfee, 0.07);
  const big = await create(orderBody('2023-03-02T00:00:00Z', { totalfee: 999999999999.99 }));
  t.equal(big.totalfee, 999999999999.99);
  const stored = await db
    .selectFrom('orders')
    .select('totalfee')
    .where('id', 'in', [small.id, big.id])
    .orderBy('datetime')
    .execute();
  // numeric(14, 2) comes back from both drivers as its exact text, never as a float.
  t.equal(stored[0]?.totalfee, '0.07', 'stored as the exact decimal 0.07');
  t.equal(stored[1]?.totalfee, '999999999999.99', 'stored as the exact decimal 999999999999.99');
  const zero = await create(orderBody('2023-03-03T00:00:00Z', { totalfee: 0 }));
  t.equal(zero.totalfee, 0, 'a free order is allowed');
  for (const { id } of [small, big, zero]) await remove(id);
});

t.test('GET /orders/{id} of an unknown order is 404 problem', async (t) => {
  const { error, response } = await read('999999');
  t.equal(response.status, 404);
  t.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  t.match(error, { type: '/problems/not-found', status: 404, detail: 'There is no order 999999.' });
});

t.test('a malformed order id in the path is 400', async (t) => {
  // The types say "a string of digits" without enforcing it, so the typed client can send these.
  for (const orderId of ['abc', '-1', '1.5', '1234567890123456789']) {
    const { error, response } = await read(orderId);
    t.equal(response.status, 400, orderId);
    t.equal(error?.errors?.[0]?.path, '/path/orderId');
  }
});

t.test('PUT replaces datetime, fee and services, moves updatedAt forward and keeps createdAt', async (t) => {
  const created = await create(orderBody('2023-04-01T00:00:00Z', { services: [{ id: 123 }, { id: 789 }] }));
  // Times are kept to the millisecond: let one pass, so a replace that kept updatedAt cannot pass.
  await setTimeout(5);
  const { data, response } = await client.PUT('/orders/{orderId}', {
    params: { path: { orderId: created.id } },
    body: { datetime: '2023-04-05T10:00:00Z', totalfee: 12.5, services: [{ id: 789 }, { id: 456 }] },
  });
  t.equal(response.status, 200);
  t.match(data, { id: created.id, datetime: '2023-04-05T10:00:00.000Z', totalfee: 12.5, createdAt: created.createdAt });
  t.same(data!.services, [
    { id: 456, name: 'Analysis' },
    { id: 789, name: 'Testing' },
  ]);
  t.ok(data!.updatedAt > created.updatedAt, `updatedAt moves forward (${created.updatedAt} -> ${data!.updatedAt})`);
  t.equal(data!.createdAt, created.createdAt, 'createdAt stays as it was');
  const row = await db
    .selectFrom('orders')
    .select(['created_at', 'updated_at'])
    .where('id', '=', sql<string>`${created.id}::bigint`)
    .executeTakeFirstOrThrow();
  t.equal(row.created_at, created.createdAt, 'the stored created_at is unchanged');
  t.equal(row.updated_at, data!.updatedAt, 'the stored updated_at is the one PUT answered');
  const serviceIds = await storedServiceIds(db, created.id);
  t.same(serviceIds, [456, 789], 'service links replaced in the database');
  await remove(created.id);
});

t.test('GET then PUT of the whole object works: read-only fields are ignored', async (t) => {
  const created = await create(orderBody('2023-05-01T00:00:00Z'));
  const { data: fetched } = await read(created.id);
  const { data, response } = await client.PUT('/orders/{orderId}', {
    params: { path: { orderId: created.id } },
    body: { ...fetched!, totalfee: 250, createdAt: '1999-01-01T00:00:00Z' },
  });
  t.equal(response.status, 200);
  t.equal(data!.totalfee, 250);
  t.equal(data!.createdAt, created.createdAt, 'createdAt cannot be rewritten');
  await remove(created.id);
});

t.test('PUT with a body id different from the path is 400 and changes nothing', async (t) => {
  const created = await create(orderBody('2023-06-01T00:00:00Z'));
  const { error, response } = await client.PUT('/orders/{orderId}', {
    params: { path: { orderId: created.id } },
    body: { ...orderBody('2023-06-02T00:00:00Z'), id: '1' },
  });
  t.equal(response.status, 400);
  t.same(error?.errors, [
    { path: '/body/id', message: `must equal the order id in the path (${created.id}) or be left out` },
  ]);
  t.same((await read(created.id)).data, created);
  await remove(created.id);
});

t.test('PUT of an unknown order is 404 and creates nothing (no upsert)', async (t) => {
  const before = await countRows(db, 'orders');
  const { response } = await client.PUT('/orders/{orderId}', {
    params: { path: { orderId: '424242' } },
    body: orderBody('2023-07-01T00:00:00Z'),
  });
  t.equal(response.status, 404);
  t.equal(await countRows(db, 'orders'), before);
});

t.test('DELETE removes the order and its service links: 204, then 404', async (t) => {
  const created = await create(orderBody('2023-08-01T00:00:00Z', { services: [{ id: 123 }, { id: 456 }] }));
  const { data, response } = await remove(created.id);
  t.equal(response.status, 204);
  t.equal(data, undefined);
  t.equal((await read(created.id)).response.status, 404);
  t.equal((await remove(created.id)).response.status, 404);
  t.same(await storedServiceIds(db, created.id), [], 'no service links remain');
});

t.test('an unknown service is 422 naming it, and nothing is stored', async (t) => {
  const before = await countRows(db, 'orders');
  const { error, response } = await client.POST('/orders', {
    body: orderBody('2023-09-01T00:00:00Z', { services: [{ id: 123 }, { id: 999 }, { id: 998 }] }),
  });
  t.equal(response.status, 422);
  t.match(error, { type: '/problems/unknown-service', unknownServiceIds: [999, 998] });
  t.match(error?.detail, /999, 998/);
  t.equal(await countRows(db, 'orders'), before);

  const created = await create(orderBody('2023-09-02T00:00:00Z'));
  const put = await client.PUT('/orders/{orderId}', {
    params: { path: { orderId: created.id } },
    body: orderBody('2023-09-02T00:00:00Z', { services: [{ id: 555 }] }),
  });
  t.equal(put.response.status, 422);
  t.same(
    (await read(created.id)).data?.services,
    [{ id: 123, name: 'Inspection' }],
    'a refused replace changes nothing',
  );
  await remove(created.id);
});

t.test(
  'datetimes in the first century round-trip exactly and sort correctly (PGlite parses them like pg)',
  async (t) => {
    const early = await create(orderBody('0001-01-01T00:00:00Z'));
    const later = await create(orderBody('0099-06-01T12:00:00.123+01:00'));
    const modern = await create(orderBody('1970-01-01T00:00:00Z'));
    t.equal(early.datetime, '0001-01-01T00:00:00.000Z');
    t.equal(later.datetime, '0099-06-01T11:00:00.123Z');
    t.equal((await read(early.id)).data?.datetime, '0001-01-01T00:00:00.000Z');
    const list = await client.GET('/orders', { params: { query: { to: '1971-01-01T00:00:00Z' } } });
    t.same(
      list.data?.data.map((o) => o.id),
      [early.id, later.id, modern.id],
    );
    for (const { id } of [early, later, modern]) await remove(id);
  },
);

t.test('the edges of years 0001 to 9999: what the contract allows is stored as sent, the rest is 400', async (t) => {
  for (const [sent, stored] of [
    ['0001-01-01T00:00:00+00:00', '0001-01-01T00:00:00.000Z'],
    ['0001-01-01T00:00:00-01:00', '0001-01-01T01:00:00.000Z'],
    ['9999-12-31T23:59:59.999Z', '9999-12-31T23:59:59.999Z'],
    ['9999-12-31T23:59:59.9990-00:00', '9999-12-31T23:59:59.999Z'],
    ['9999-12-31T23:59:59.999+01:00', '9999-12-31T22:59:59.999Z'],
  ]) {
    const order = await create(orderBody(sent!));
    t.equal(order.datetime, stored, `${sent} is stored as ${stored}`);
    t.equal((await read(order.id)).data?.datetime, stored, 'and read back as it');
    await remove(order.id);
  }
  const before = await countRows(db, 'orders');
  for (const refused of [
    '0000-12-31T23:59:59Z',
    '0001-01-01T00:30:00+01:00',
    // Conservative, as the pattern cannot compare a time with its offset: 22:00Z on 0001-01-01 and
    // 22:59:59.999Z on 9999-12-31 would do.
    '0001-01-01T23:00:00+01:00',
    '9999-12-31T23:59:59.9999+01:00',
    '9999-12-31T23:30:00-01:00',
    '9999-12-31T23:59:59.9991Z',
    '2016-12-31T23:59:60Z',
  ]) {
    const { response, error } = await client.POST('/orders', { body: orderBody(refused) });
    t.equal(response.status, 400, refused);
    t.same(error?.errors, [
      {
        path: '/body/datetime',
        message:
          'must be an RFC 3339 date-time with Z or an offset, such as 2022-11-01T11:11:11.111Z, in years 0001 to 9999',
      },
    ]);
  }
  t.equal(await countRows(db, 'orders'), before, 'nothing refused was stored');
});

t.test('a fee with at most 2 decimals is a multiple of 0.01, however binary division rounds it', async (t) => {
  for (const fee of [0.29, 0.57, 938742181714.44]) {
    const order = await create(orderBody('2023-03-05T00:00:00Z', { totalfee: fee }));
    t.equal(order.totalfee, fee, `${fee} is accepted and stored as sent`);
    await remove(order.id);
  }
  const { response, error } = await client.POST('/orders', {
    body: orderBody('2023-03-05T00:00:00Z', { totalfee: 57 * 0.01 }),
  });
  t.equal(response.status, 400, '57 × 0.01 in binary is 0.5700000000000001: more than 2 decimals');
  t.same(error?.errors, [{ path: '/body/totalfee', message: 'must have at most 2 decimal places' }]);
});

t.test('concurrent replaces of one order leave exactly one request’s services and fee, as its GET shows', async (t) => {
  const sets = [[123], [456], [789], [123, 456], [456, 789]];
  for (let round = 0; round < 10; round++) {
    const created = await create(
      orderBody(`2024-0${1 + (round % 9)}-1${round >= 9 ? 5 : 0}T00:00:00Z`, { services: [{ id: 123 }, { id: 789 }] }),
    );
    const results = await Promise.all(
      sets.map((ids, i) =>
        client.PUT('/orders/{orderId}', {
          params: { path: { orderId: created.id } },
          body: { datetime: created.datetime, totalfee: i + 1, services: ids.map((id) => ({ id })) },
        }),
      ),
    );
    t.same(
      results.map((r) => r.response.status),
      sets.map(() => 200),
      `round ${round}: every replace succeeds`,
    );
    const final = (await read(created.id)).data!;
    const winner = sets[final.totalfee - 1]!;
    t.same(
      final.services.map((s) => s.id),
      winner,
      `round ${round}: services belong to the request whose fee won`,
    );
    const serviceIds = await storedServiceIds(db, created.id);
    t.same(serviceIds, winner, `round ${round}: the stored links are that request's`);
    await remove(created.id);
  }
});

t.test('raw requests remain for what the types forbid: a numeric order id in the body is refused', async (t) => {
  const { body: created } = await api.post('/orders', orderBody('2023-10-01T00:00:00Z'));
  const res = await api.put(`/orders/${created.id}`, { ...orderBody('2023-10-01T00:00:00Z'), id: Number(created.id) });
  t.equal(res.status, 400);
  t.equal(res.body.errors[0].path, '/body/id');
  await remove(created.id);
});
