import t from 'tap';
import { orderBody, seedCatalogue } from '../../helpers/fixtures.js';
import { startService } from '../../helpers/service.js';

// GET /availability and /availability/nearest at their edges (openapi.yaml): the free windows of a
// range, the nearest free starts, excludeOrderId, and bad input as 400/404 problems, never a 5xx.
// Every test uses its own year so those sharing this file's database never meet.

const { client, api, db } = await startService(t);
await seedCatalogue(db);

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (iso: string, ms = 0) => new Date(Date.parse(iso) + ms).toISOString();

async function create(t: Tap, datetime: string): Promise<string> {
  const { data, response } = await client.POST('/orders', { body: orderBody(datetime) });
  t.equal(response.status, 201, `an order at ${datetime} is accepted`);
  return data!.id;
}

async function windows(from: string, to: string, excludeOrderId?: string) {
  const query = excludeOrderId === undefined ? { from, to } : { from, to, excludeOrderId };
  const { data, response } = await client.GET('/availability', { params: { query } });
  if (response.status !== 200) throw new Error(`GET /availability answered ${response.status}`);
  return data!;
}

async function nearest(when: string, excludeOrderId?: string) {
  const query = excludeOrderId === undefined ? { at: when } : { at: when, excludeOrderId };
  const { data, response } = await client.GET('/availability/nearest', { params: { query } });
  if (response.status !== 200) throw new Error(`GET /availability/nearest answered ${response.status}`);
  return data!;
}

const w = (earliestStart: string, latestStart: string) => ({ earliestStart, latestStart });

t.test('an empty range is one window: the whole range, to - 1 ms inclusive', async (t) => {
  t.same(await windows('2041-01-01T00:00:00Z', '2041-01-08T00:00:00+00:00'), {
    from: '2041-01-01T00:00:00.000Z',
    to: '2041-01-08T00:00:00.000Z',
    windows: [w('2041-01-01T00:00:00.000Z', '2041-01-07T23:59:59.999Z')],
  });
  t.same(await nearest('2041-01-03T10:00:00.1239Z'), {
    at: '2041-01-03T10:00:00.123Z',
    before: '2041-01-03T10:00:00.123Z',
    after: '2041-01-03T10:00:00.123Z',
  });
});

t.test('one order splits the range 3 hours either side of it, edges inclusive', async (t) => {
  const id = await create(t, '2042-01-02T12:00:00.000Z');
  t.same((await windows('2042-01-01T00:00:00Z', '2042-01-04T00:00:00Z')).windows, [
    w('2042-01-01T00:00:00.000Z', '2042-01-02T09:00:00.000Z'),
    w('2042-01-02T15:00:00.000Z', '2042-01-03T23:59:59.999Z'),
  ]);
  t.same(await nearest('2042-01-02T13:00:00Z'), {
    at: '2042-01-02T13:00:00.000Z',
    before: '2042-01-02T09:00:00.000Z',
    after: '2042-01-02T15:00:00.000Z',
  });
  t.same(await nearest('2042-01-02T09:00:00Z'), {
    at: '2042-01-02T09:00:00.000Z',
    before: '2042-01-02T09:00:00.000Z',
    after: '2042-01-02T09:00:00.000Z',
  });
  t.same(
    (await nearest('2042-01-02T09:00:00.001Z')).before,
    '2042-01-02T09:00:00.000Z',
    '1 ms inside the blocked span is not free',
  );
  // The only order in range excluded: as if it did not exist.
  t.same((await windows('2042-01-01T00:00:00Z', '2042-01-04T00:00:00Z', id)).windows, [
    w('2042-01-01T00:00:00.000Z', '2042-01-03T23:59:59.999Z'),
  ]);
  t.same(await nearest('2042-01-02T13:00:00Z', id), {
    at: '2042-01-02T13:00:00.000Z',
    before: '2042-01-02T13:00:00.000Z',
    after: '2042-01-02T13:00:00.000Z',
  });
});

t.test('orders exactly at from and at to block 3 hours into the range; outside it they do not', async (t) => {
  await create(t, '2043-01-01T00:00:00.000Z');
  await create(t, '2043-01-02T00:00:00.000Z');
  t.same((await windows('2043-01-01T00:00:00Z', '2043-01-02T00:00:00Z')).windows, [
    w('2043-01-01T03:00:00.000Z', '2043-01-01T21:00:00.000Z'),
  ]);
  // An order 3 hours before from and one 3 hours after to - 1 ms block nothing inside.
  t.same((await windows('2043-01-01T03:00:00Z', '2043-01-01T21:00:00.001Z')).windows, [
    w('2043-01-01T03:00:00.000Z', '2043-01-01T21:00:00.000Z'),
  ]);
});

t.test('from inside a blocked span: the first window starts where the span ends', async (t) => {
  await create(t, '2044-01-01T12:00:00.000Z');
  t.same((await windows('2044-01-01T10:00:00Z', '2044-01-01T20:00:00Z')).windows, [
    w('2044-01-01T15:00:00.000Z', '2044-01-01T19:59:59.999Z'),
  ]);
  t.same((await windows('2044-01-01T10:00:00Z', '2044-01-01T14:00:00Z')).windows, [], 'wholly blocked: none');
});

t.test('gaps of 6 h - 1 ms, 6 h and 6 h + 1 ms: none, one instant, two instants', async (t) => {
  const base = '2045-01-01T00:00:00.000Z';
  const times = [0, 6 * HOUR - 1, 12 * HOUR - 1, 18 * HOUR].map((ms) => at(base, ms));
  for (const time of times) await create(t, time);
  t.same((await windows(at(base, -DAY), at(base, 2 * DAY))).windows, [
    w(at(base, -DAY), at(base, -3 * HOUR)),
    w(at(base, 9 * HOUR - 1), at(base, 9 * HOUR - 1)),
    w(at(base, 15 * HOUR - 1), at(base, 15 * HOUR)),
    w(at(base, 21 * HOUR), at(base, 2 * DAY - 1)),
  ]);
});

t.test('nearest walks a run of orders less than 6 hours apart to its ends', async (t) => {
  const base = '2046-03-01T00:00:00.000Z';
  // Twelve orders 5 h 59 min apart: one run of 2.7 days, free only outside it.
  for (let i = 0; i < 12; i++) await create(t, at(base, i * (6 * HOUR - 60_000)));
  const last = at(base, 11 * (6 * HOUR - 60_000));
  const middle = at(base, 5 * (6 * HOUR - 60_000) + HOUR);
  t.same(await nearest(middle), { at: middle, before: at(base, -3 * HOUR), after: at(last, 3 * HOUR) });
  const { windows: found } = await windows(at(base, -DAY), at(last, DAY));
  t.same(found, [w(at(base, -DAY), at(base, -3 * HOUR)), w(at(last, 3 * HOUR), at(last, DAY - 1))]);
});

t.test('nearest is null only where no free start exists within years 0001 to 9999', async (t) => {
  await create(t, '0001-01-01T02:00:00Z');
  t.same(await nearest('0001-01-01T01:00:00Z'), {
    at: '0001-01-01T01:00:00.000Z',
    before: null,
    after: '0001-01-01T05:00:00.000Z',
  });
  t.same((await nearest('0001-01-01T00:00:00Z')).before, null);
  await create(t, '9999-12-31T22:00:00Z');
  t.same(await nearest('9999-12-31T23:59:59.999Z'), {
    at: '9999-12-31T23:59:59.999Z',
    before: '9999-12-31T19:00:00.000Z',
    after: null,
  });
  t.same((await windows('9999-12-31T00:00:00Z', '9999-12-31T23:59:59.999Z')).windows, [
    w('9999-12-31T00:00:00.000Z', '9999-12-31T19:00:00.000Z'),
  ]);
});

t.test('a range of exactly 31 days is accepted', async (t) => {
  const { windows: found } = await windows('2047-01-01T00:00:00Z', '2047-02-01T00:00:00Z');
  t.same(found, [w('2047-01-01T00:00:00.000Z', '2047-01-31T23:59:59.999Z')]);
});

t.test(
  'a 31-day range packed with orders exactly 3 hours apart, as many as the rule allows near it (250), has no window; one order fewer at its end opens one',
  async (t) => {
    const from = Date.parse('2048-01-01T00:00:00Z');
    const to = from + 31 * DAY;
    // From 3 h - 1 ms before `from` (the first order that still blocks `from`) to past `to` + 3 h.
    const times = Array.from({ length: 251 }, (_, i) => new Date(from - 3 * HOUR + 1 + i * 3 * HOUR).toISOString());
    const near = times.filter((time) => Date.parse(time) < to + 3 * HOUR);
    t.equal(near.length, 250, 'the most orders within 3 hours of a 31-day range');
    // Stored directly: 251 creates through HTTP would only be slower, the rule checks them alike.
    const inserted = await db
      .insertInto('orders')
      .values(times.map((datetime) => ({ datetime, totalfee: '1' })))
      .returning('id')
      .execute();
    const range = { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
    t.same((await windows(range.from, range.to)).windows, [], 'every instant of the range is blocked');
    // Without the order before last near the range's end, one window opens there.
    const gone = inserted[near.length - 2]!.id;
    const opened = (await windows(range.from, range.to, String(gone))).windows;
    const before = Date.parse(near[near.length - 3]!);
    t.same(opened, [w(new Date(before + 3 * HOUR).toISOString(), new Date(before + 3 * HOUR).toISOString())]);
  },
);

/** A 400 validation problem with an error at `path`. */
async function assertInvalid(t: Tap, path: string, errorPath: string) {
  const res = await api.get(path);
  t.equal(res.status, 400, `${path} is 400`);
  t.equal(res.body.type, '/problems/validation', `${path} is a validation problem`);
  t.ok(
    (res.body.errors as { path: string }[]).some((e) => e.path === errorPath),
    `${path} names ${errorPath}`,
    { errors: res.body.errors },
  );
}

t.test('bad input is a 400 problem naming the parameter, never a 5xx', async (t) => {
  const to = '2048-01-02T00:00:00Z';
  await assertInvalid(t, `/availability?to=${to}`, '/query/from');
  await assertInvalid(t, '/availability?from=2048-01-01T00:00:00Z', '/query/to');
  await assertInvalid(t, `/availability?from=yesterday&to=${to}`, '/query/from');
  await assertInvalid(t, `/availability?from=2048-01-01T00:00:00&to=${to}`, '/query/from');
  await assertInvalid(t, `/availability?from=2048-02-30T00:00:00Z&to=${to}`, '/query/from');
  await assertInvalid(t, `/availability?from=${to}&to=${to}`, '/query/to');
  await assertInvalid(t, `/availability?from=2048-01-03T00:00:00Z&to=${to}`, '/query/to');
  await assertInvalid(t, '/availability?from=2048-01-01T00:00:00Z&to=2048-02-01T00:00:00.001Z', '/query/to');
  await assertInvalid(
    t,
    `/availability?from=2048-01-01T00:00:00Z&to=${to}&excludeOrderId=abc`,
    '/query/excludeOrderId',
  );
  await assertInvalid(t, `/availability?from=2048-01-01T00:00:00Z&to=${to}&exclude=1`, '/query/exclude');
  await assertInvalid(t, '/availability/nearest', '/query/at');
  await assertInvalid(t, '/availability/nearest?at=2048-01-01T10:00:00', '/query/at');
  await assertInvalid(t, '/availability/nearest?at=0000-12-31T23:00:00Z', '/query/at');
  await assertInvalid(t, '/availability/nearest?at=0001-01-01T00:30:00%2B01:00', '/query/at');
  // A bound's finer digits round it up, here into year 10000: the pattern refuses them.
  await assertInvalid(t, '/availability?from=9999-12-31T00:00:00Z&to=9999-12-31T23:59:59.9991Z', '/query/to');
  await assertInvalid(t, '/availability/nearest?at=2048-01-01T10:00:00Z&from=2048-01-01T10:00:00Z', '/query/from');
});

t.test('an excludeOrderId that does not exist is a 404 problem', async (t) => {
  for (const path of [
    '/availability?from=2049-01-01T00:00:00Z&to=2049-01-02T00:00:00Z&excludeOrderId=999999',
    '/availability/nearest?at=2049-01-01T10:00:00Z&excludeOrderId=999999',
  ]) {
    const res = await api.get(path);
    t.equal(res.status, 404, `${path} is 404`);
    t.match(res.body, { type: '/problems/not-found', detail: 'There is no order 999999.' });
  }
});

t.test('availability needs a key with orders:read', async (t) => {
  const res = await api.request('GET', '/availability/nearest?at=2049-01-01T10:00:00Z', {
    headers: { authorization: null },
  });
  t.equal(res.status, 401);
});

t.test('a refused move advises the nearest free times as if the moved order were gone', async (t) => {
  const moved = await create(t, '2050-01-01T12:00:00.000Z');
  await create(t, '2050-01-01T16:00:00.000Z');
  const { error, response } = await client.PUT('/orders/{orderId}', {
    params: { path: { orderId: moved } },
    body: orderBody('2050-01-01T17:00:00Z'),
  });
  t.equal(response.status, 409);
  t.match(error, {
    type: '/problems/schedule-conflict',
    nearestFreeBefore: '2050-01-01T13:00:00.000Z',
    nearestFreeAfter: '2050-01-01T19:00:00.000Z',
  });
  t.match(error?.detail, /2050-01-01T13:00:00\.000Z \(before\) and 2050-01-01T19:00:00\.000Z \(after\)\.$/);
  t.same(await nearest('2050-01-01T17:00:00Z', moved), {
    at: '2050-01-01T17:00:00.000Z',
    before: '2050-01-01T13:00:00.000Z',
    after: '2050-01-01T19:00:00.000Z',
  });
  // A create at the same time has no order to leave out: the run is both orders.
  const refused = await client.POST('/orders', { body: orderBody('2050-01-01T17:00:00Z') });
  t.match(refused.error, {
    nearestFreeBefore: '2050-01-01T09:00:00.000Z',
    nearestFreeAfter: '2050-01-01T19:00:00.000Z',
  });
});
