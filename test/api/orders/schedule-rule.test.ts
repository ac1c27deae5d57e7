import t from 'tap';
import { sql } from 'kysely';
import type { components } from '../../../src/client.js';
import { countRows, storedServiceIds } from '../../helpers/database.js';
import { orderBody, seedCatalogue } from '../../helpers/fixtures.js';
import { startService } from '../../helpers/service.js';

// The 3-hour rule (openapi.yaml): no two orders less than 3 hours apart, exactly 3 hours is fine,
// global across all orders, on create and replace, an order never conflicts with itself, deleting
// frees the slot, and it holds under concurrent requests. Every test uses its own month of 2031 so
// the tests sharing this file's database never come within 3 hours of each other.

const { client, db } = await startService(t);
await seedCatalogue(db);

/** The `t` a subtest callback receives. */
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

const HOUR = 3_600_000;

/** `iso` shifted by `ms` milliseconds, as the UTC-with-milliseconds text the API returns. */
function shift(iso: string, ms: number): string {
  return new Date(Date.parse(iso) + ms).toISOString();
}

/** What the typed client answers with, as far as the conflict checks look at it. */
interface Answer {
  response: Response;
  error?: components['schemas']['Problem'];
}

type OrderInput = components['schemas']['OrderInput'];

const post = (body: OrderInput) => client.POST('/orders', { body });
const put = (orderId: string, body: OrderInput) =>
  client.PUT('/orders/{orderId}', { params: { path: { orderId } }, body });
const read = (orderId: string) => client.GET('/orders/{orderId}', { params: { path: { orderId } } });

/** Creates an order and fails the test unless it was accepted. */
async function create(t: Tap, datetime: string, overrides: Partial<OrderInput> = {}) {
  const { data, response } = await post(orderBody(datetime, overrides));
  t.equal(response.status, 201, `an order at ${datetime} is accepted`);
  return data!;
}

/**
 * Opens the pool's connections (the service shares this handle) so that concurrent requests reach
 * the database together instead of queueing behind connection set-up. No-op in effect on PGlite.
 */
async function warmPool(): Promise<void> {
  await Promise.all(Array.from({ length: 10 }, () => sql`SELECT pg_sleep(0.05)`.execute(db)));
}

/** Orders stored with datetime in [from, to), as (id, UTC ISO datetime), oldest first. */
async function storedBetween(from: string, to: string): Promise<{ id: string; datetime: string }[]> {
  const rows = await db
    .selectFrom('orders')
    .select([sql<string>`id::text`.as('id'), 'datetime'])
    .where('datetime', '>=', sql<string>`${from}::timestamptz`)
    .where('datetime', '<', sql<string>`${to}::timestamptz`)
    .orderBy('datetime')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ id: r.id, datetime: r.datetime }));
}

const serviceIdsOf = (orderId: string) => storedServiceIds(db, orderId);

/** A 409 schedule-conflict problem naming `existing` as the conflicting order. */
function assertScheduleConflict(
  t: Tap,
  res: Answer,
  existing: { id: string; datetime: string },
  requestedUtc: string,
  path: string,
) {
  t.equal(res.response.status, 409, 'refused with 409');
  t.match(res.response.headers.get('content-type'), /^application\/problem\+json/, 'as a problem');
  t.match(res.error, {
    type: '/problems/schedule-conflict',
    title: String,
    status: 409,
    conflictingOrderId: existing.id,
    conflictingDatetime: existing.datetime,
    instance: path,
  });
  const detail: unknown = res.error?.detail;
  t.type(detail, 'string', 'with a detail');
  const text = String(detail);
  t.match(text, /^\S.*\.$/, 'the detail is a sentence');
  t.ok(text.includes(existing.id), 'the detail names the conflicting order');
  t.ok(text.includes(existing.datetime), "the detail names the conflicting order's datetime");
  t.ok(text.includes(requestedUtc), 'the detail names the requested datetime');
}

t.test('orders exactly 3 hours apart are both accepted, before and after an existing order', async (t) => {
  const base = '2031-01-15T12:00:00.000Z';
  const middle = await create(t, base);
  const after = await create(t, shift(base, 3 * HOUR));
  const before = await create(t, shift(base, -3 * HOUR));
  t.equal(after.datetime, '2031-01-15T15:00:00.000Z');
  t.equal(before.datetime, '2031-01-15T09:00:00.000Z');

  // With millisecond instants too: .123 and exactly 3h later at .123.
  const odd = await create(t, '2031-01-20T01:02:03.123Z');
  const oddAfter = await create(t, '2031-01-20T04:02:03.123Z');

  t.same(
    await storedBetween('2031-01-01T00:00:00Z', '2031-02-01T00:00:00Z'),
    [before, middle, after, odd, oddAfter].map((o) => ({ id: o.id, datetime: o.datetime })),
    'all five orders are stored',
  );
  for (const o of [before, middle, after, odd, oddAfter]) t.same(await serviceIdsOf(o.id), [123]);
});

t.test(
  '3 hours minus 1 ms is refused with 409 before and after an existing order, and nothing is stored',
  async (t) => {
    const existing = await create(t, '2031-02-15T12:00:00.000Z', { services: [{ id: 456 }, { id: 789 }] });
    const ordersBefore = await countRows(db, 'orders');
    const linksBefore = await countRows(db, 'order_services');

    for (const datetime of ['2031-02-15T14:59:59.999Z', '2031-02-15T09:00:00.001Z', '2031-02-15T12:00:00.000Z']) {
      await t.test(`an order at ${datetime} is refused`, async (t) => {
        const res = await post(orderBody(datetime, { services: [{ id: 123 }, { id: 456 }] }));
        assertScheduleConflict(t, res, existing, datetime, '/orders');
        t.equal(await countRows(db, 'orders'), ordersBefore, 'no order row is stored');
        t.equal(await countRows(db, 'order_services'), linksBefore, 'no order_services row is stored');
      });
    }

    t.same(await storedBetween('2031-02-01T00:00:00Z', '2031-03-01T00:00:00Z'), [
      { id: existing.id, datetime: existing.datetime },
    ]);
    t.same(await serviceIdsOf(existing.id), [456, 789], "the existing order's services are untouched");
    t.same((await read(existing.id)).data, existing, 'the existing order is unchanged');
  },
);

t.test('offsets are normalised: the rule compares instants, not the wall-clock text', async (t) => {
  const existing = await create(t, '2031-03-01T11:00:00Z');
  t.equal(existing.datetime, '2031-03-01T11:00:00.000Z');
  const ordersBefore = await countRows(db, 'orders');
  const linksBefore = await countRows(db, 'order_services');

  // 12:00+02:00 is 10:00Z, one hour before the existing order.
  const plusTwo = await post(orderBody('2031-03-01T12:00:00+02:00'));
  assertScheduleConflict(t, plusTwo, existing, '2031-03-01T10:00:00.000Z', '/orders');
  // 12:59:59.999-01:00 is 13:59:59.999Z, 1 ms short of 3 hours after it.
  const minusOne = await post(orderBody('2031-03-01T12:59:59.999-01:00'));
  assertScheduleConflict(t, minusOne, existing, '2031-03-01T13:59:59.999Z', '/orders');
  // On another calendar day in its own offset: 2031-03-02T00:30+14:00 is 2031-03-01T10:30Z.
  const nextDay = await post(orderBody('2031-03-02T00:30:00+14:00'));
  assertScheduleConflict(t, nextDay, existing, '2031-03-01T10:30:00.000Z', '/orders');
  t.equal(await countRows(db, 'orders'), ordersBefore, 'no refused order is stored');
  t.equal(await countRows(db, 'order_services'), linksBefore, 'no refused service link is stored');

  // 09:00-05:00 is 14:00Z, exactly 3 hours after; 13:30+05:30 is 08:00Z, exactly 3 hours before.
  const later = await create(t, '2031-03-01T09:00:00-05:00');
  t.equal(later.datetime, '2031-03-01T14:00:00.000Z');
  const earlier = await create(t, '2031-03-01T13:30:00+05:30');
  t.equal(earlier.datetime, '2031-03-01T08:00:00.000Z');

  t.same(await storedBetween('2031-03-01T00:00:00Z', '2031-04-01T00:00:00Z'), [
    { id: earlier.id, datetime: '2031-03-01T08:00:00.000Z' },
    { id: existing.id, datetime: '2031-03-01T11:00:00.000Z' },
    { id: later.id, datetime: '2031-03-01T14:00:00.000Z' },
  ]);
});

t.test('replacing an order within its own window succeeds: an order never conflicts with itself', async (t) => {
  const order = await create(t, '2031-04-10T12:00:00.000Z', { services: [{ id: 123 }] });
  // A neighbour exactly 3 hours after the order's new position.
  const neighbour = await create(t, '2031-04-10T16:00:00.000Z');

  const same = await put(order.id, orderBody('2031-04-10T12:00:00.000Z', { totalfee: 50 }));
  t.equal(same.response.status, 200, 'replacing with the same datetime is fine');
  t.equal(same.data?.datetime, '2031-04-10T12:00:00.000Z');

  const moved = await put(order.id, orderBody('2031-04-10T13:00:00Z', { totalfee: 75, services: [{ id: 789 }] }));
  t.equal(
    moved.response.status,
    200,
    'moving it 1 hour later (within its own window, exactly 3h before the neighbour) is fine',
  );
  t.match(moved.data, {
    id: order.id,
    datetime: '2031-04-10T13:00:00.000Z',
    totalfee: 75,
    services: [{ id: 789, name: 'Testing' }],
  });

  const back = await put(
    order.id,
    orderBody('2031-04-10T12:59:59.999+00:00', { totalfee: 75, services: [{ id: 789 }] }),
  );
  t.equal(back.response.status, 200, 'moving it 1 ms earlier is fine');
  t.equal(back.data?.datetime, '2031-04-10T12:59:59.999Z');

  t.same(await storedBetween('2031-04-01T00:00:00Z', '2031-05-01T00:00:00Z'), [
    { id: order.id, datetime: '2031-04-10T12:59:59.999Z' },
    { id: neighbour.id, datetime: '2031-04-10T16:00:00.000Z' },
  ]);
  t.same(await serviceIdsOf(order.id), [789], 'its service links were replaced');
  t.same((await read(order.id)).data, back.data, 'GET returns what PUT returned');
});

t.test("replacing an order into another order's window is 409 and changes nothing", async (t) => {
  const other = await create(t, '2031-05-10T12:00:00.000Z');
  const order = await create(t, '2031-05-10T18:00:00.000Z', { totalfee: 42.5, services: [{ id: 456 }, { id: 789 }] });
  const before = (await read(order.id)).data!;
  const ordersBefore = await countRows(db, 'orders');
  const linksBefore = await countRows(db, 'order_services');

  for (const datetime of [
    '2031-05-10T14:59:59.999Z',
    '2031-05-10T09:00:00.001Z',
    '2031-05-10T12:00:00.000Z',
    '2031-05-10T15:00:00+03:00',
  ]) {
    await t.test(`moving it to ${datetime} is refused`, async (t) => {
      const res = await put(order.id, orderBody(datetime, { totalfee: 1, services: [{ id: 123 }] }));
      assertScheduleConflict(t, res, other, new Date(Date.parse(datetime)).toISOString(), `/orders/${order.id}`);
      t.same((await read(order.id)).data, before, 'the order reads back exactly as before');
      t.same(await serviceIdsOf(order.id), [456, 789], 'its service links are unchanged');
      t.equal(await countRows(db, 'orders'), ordersBefore);
      t.equal(await countRows(db, 'order_services'), linksBefore);
    });
  }

  // A whole GET-then-PUT body (read-only fields included) is refused the same way.
  const whole = await client.PUT('/orders/{orderId}', {
    params: { path: { orderId: order.id } },
    body: { ...before, datetime: '2031-05-10T13:00:00Z' },
  });
  assertScheduleConflict(t, whole, other, '2031-05-10T13:00:00.000Z', `/orders/${order.id}`);

  t.same(await storedBetween('2031-05-01T00:00:00Z', '2031-06-01T00:00:00Z'), [
    { id: other.id, datetime: '2031-05-10T12:00:00.000Z' },
    { id: order.id, datetime: '2031-05-10T18:00:00.000Z' },
  ]);
  const row = await db
    .selectFrom('orders')
    .select(['totalfee', 'updated_at'])
    .where('id', '=', sql<string>`${order.id}::bigint`)
    .executeTakeFirstOrThrow();
  t.equal(row.totalfee, '42.50', 'the stored fee is unchanged');
  t.equal(row.updated_at, before.updatedAt, 'updated_at is unchanged');
  t.same((await read(other.id)).data, other, 'the other order is unchanged');
});

t.test('deleting an order frees its slot: a new order in that slot is then accepted', async (t) => {
  const existing = await create(t, '2031-06-10T12:00:00.000Z');
  const ordersBefore = await countRows(db, 'orders');

  const blocked = await post(orderBody('2031-06-10T13:00:00.000Z'));
  assertScheduleConflict(t, blocked, existing, '2031-06-10T13:00:00.000Z', '/orders');
  const sameInstant = await post(orderBody('2031-06-10T12:00:00.000Z'));
  assertScheduleConflict(t, sameInstant, existing, '2031-06-10T12:00:00.000Z', '/orders');
  t.equal(await countRows(db, 'orders'), ordersBefore);

  t.equal(
    (await client.DELETE('/orders/{orderId}', { params: { path: { orderId: existing.id } } })).response.status,
    204,
  );
  t.same(await storedBetween('2031-06-01T00:00:00Z', '2031-07-01T00:00:00Z'), [], 'the slot is empty');

  const replacement = await create(t, '2031-06-10T13:00:00.000Z');
  t.not(replacement.id, existing.id);
  t.same(await storedBetween('2031-06-01T00:00:00Z', '2031-07-01T00:00:00Z'), [
    { id: replacement.id, datetime: '2031-06-10T13:00:00.000Z' },
  ]);
  t.same(await serviceIdsOf(replacement.id), [123]);
  t.same(await serviceIdsOf(existing.id), [], "the deleted order's links are gone");
});

t.test('moving an order away by replace frees its old slot', async (t) => {
  const order = await create(t, '2031-07-10T12:00:00.000Z');
  const moved = await put(order.id, orderBody('2031-07-20T12:00:00.000Z'));
  t.equal(moved.response.status, 200);
  const newcomer = await create(t, '2031-07-10T12:00:00.000Z');
  t.same(await storedBetween('2031-07-01T00:00:00Z', '2031-08-01T00:00:00Z'), [
    { id: newcomer.id, datetime: '2031-07-10T12:00:00.000Z' },
    { id: order.id, datetime: '2031-07-20T12:00:00.000Z' },
  ]);
});

t.test('the rule is global: orders with disjoint services still conflict', async (t) => {
  const existing = await create(t, '2031-08-10T12:00:00.000Z', { services: [{ id: 123 }] });
  const ordersBefore = await countRows(db, 'orders');
  const linksBefore = await countRows(db, 'order_services');

  const res = await post(orderBody('2031-08-10T13:00:00.000Z', { services: [{ id: 456 }, { id: 789 }] }));
  assertScheduleConflict(t, res, existing, '2031-08-10T13:00:00.000Z', '/orders');
  t.equal(await countRows(db, 'orders'), ordersBefore);
  t.equal(await countRows(db, 'order_services'), linksBefore);

  // And on replace: an order with other services cannot move next to it either.
  const far = await create(t, '2031-08-20T12:00:00.000Z', { services: [{ id: 789 }] });
  const moved = await put(far.id, orderBody('2031-08-10T10:00:00.000Z', { services: [{ id: 456 }] }));
  assertScheduleConflict(t, moved, existing, '2031-08-10T10:00:00.000Z', `/orders/${far.id}`);
  t.same(await serviceIdsOf(far.id), [789]);

  t.same(await storedBetween('2031-08-01T00:00:00Z', '2031-09-01T00:00:00Z'), [
    { id: existing.id, datetime: '2031-08-10T12:00:00.000Z' },
    { id: far.id, datetime: '2031-08-20T12:00:00.000Z' },
  ]);
});

t.test(
  'a window that overlaps two orders is refused naming the earlier of them, on create and on replace',
  async (t) => {
    // The later order is created first, so the earlier one is neither the first created nor the lowest id.
    const late = await create(t, '2031-11-10T14:00:00.000Z');
    const early = await create(t, '2031-11-10T10:00:00.000Z');
    const third = await create(t, '2031-11-10T20:00:00.000Z');
    const ordersBefore = await countRows(db, 'orders');

    // 12:00-15:00 meets both 10:00-13:00 and 14:00-17:00.
    const created = await post(orderBody('2031-11-10T12:00:00.000Z'));
    assertScheduleConflict(t, created, early, '2031-11-10T12:00:00.000Z', '/orders');
    t.equal(await countRows(db, 'orders'), ordersBefore, 'the refused create stored nothing');

    const moved = await put(third.id, orderBody('2031-11-10T12:00:00.000Z'));
    assertScheduleConflict(t, moved, early, '2031-11-10T12:00:00.000Z', `/orders/${third.id}`);
    t.same((await read(third.id)).data, third, 'the refused replace changed nothing');

    t.same(await storedBetween('2031-11-01T00:00:00Z', '2031-12-01T00:00:00Z'), [
      { id: early.id, datetime: early.datetime },
      { id: late.id, datetime: late.datetime },
      { id: third.id, datetime: third.datetime },
    ]);
  },
);

t.test(
  'a refused replace names the other order in the way, never the order being replaced, even where its old slot is earlier',
  async (t) => {
    const x = await create(t, '2031-12-10T10:00:00.000Z');
    const y = await create(t, '2031-12-10T13:00:00.000Z');
    // 11:00-14:00 meets Y (13:00-16:00) and X's own current slot (10:00-13:00), which starts earlier.
    const res = await put(x.id, orderBody('2031-12-10T11:00:00.000Z', { totalfee: 1 }));
    assertScheduleConflict(t, res, y, '2031-12-10T11:00:00.000Z', `/orders/${x.id}`);
    t.not(res.error?.conflictingOrderId, x.id, 'an order never conflicts with itself');
    t.same((await read(x.id)).data, x, 'X is unchanged');
    t.same(await storedBetween('2031-12-01T00:00:00Z', '2032-01-01T00:00:00Z'), [
      { id: x.id, datetime: x.datetime },
      { id: y.id, datetime: y.datetime },
    ]);
  },
);

/** After a race around `center`: every refusal names the winner, and only the winner is stored there. */
// The last overload of t.test is (cb), so this is the subtest type.
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

async function assertOnlyWinnerHolds(
  t: Test,
  responses: Answer[],
  winner: { id: string; datetime: string },
  center: string,
): Promise<void> {
  for (const [i, res] of responses.entries()) {
    if (res.response.status !== 409) continue;
    t.match(
      res.error,
      { type: '/problems/schedule-conflict', conflictingOrderId: winner.id, conflictingDatetime: winner.datetime },
      `request ${i} names the winner`,
    );
  }
  t.same(
    await storedBetween(shift(center, -3 * HOUR), shift(center, 3 * HOUR)),
    [{ id: winner.id, datetime: winner.datetime }],
    'only the winner is stored in the window',
  );
}

t.test('concurrent overlapping creates: exactly one 201, every other request 409, one order stored', async (t) => {
  const base = '2031-09-10T12:00:00.000Z';
  const n = 40;
  const datetimes = Array.from({ length: n }, (_, i) => shift(base, i * 60_000)); // all within 39 minutes
  const ordersBefore = await countRows(db, 'orders');
  const linksBefore = await countRows(db, 'order_services');

  await warmPool();
  const responses = await Promise.all(datetimes.map((dt) => post(orderBody(dt, { services: [{ id: 456 }] }))));

  const statuses = responses.map((r) => r.response.status);
  t.same(
    [...new Set(statuses)].filter((s) => s !== 201 && s !== 409),
    [],
    `only 201 and 409 (got ${JSON.stringify(statuses)})`,
  );
  const created = responses.filter((r) => r.response.status === 201);
  t.equal(created.length, 1, 'exactly one 201');
  t.equal(statuses.filter((s) => s === 409).length, n - 1, 'all the others are 409');
  const winner = created[0]?.data;
  if (!winner) return;

  await assertOnlyWinnerHolds(t, responses, winner, base);
  t.same(await serviceIdsOf(winner.id), [456], 'with its service link');
  t.equal(await countRows(db, 'orders'), ordersBefore + 1);
  t.equal(await countRows(db, 'order_services'), linksBefore + 1, 'no stray service links from the refused requests');
});

t.test(
  'concurrent replaces into the same empty window: exactly one 200, the rest 409, one order in the window',
  async (t) => {
    const n = 12;
    // Existing orders one day apart, then all moved at once into a window of 2031-10-20.
    const orders = [];
    for (let i = 0; i < n; i++)
      orders.push(
        await create(t, shift('2031-10-01T12:00:00.000Z', i * 24 * HOUR), { services: [{ id: 123 }, { id: 789 }] }),
      );
    const target = '2031-10-20T12:00:00.000Z';
    const ordersBefore = await countRows(db, 'orders');
    const linksBefore = await countRows(db, 'order_services');

    await warmPool();
    const responses = await Promise.all(
      orders.map((o, i) => put(o.id, orderBody(shift(target, i * 60_000), { totalfee: 1, services: [{ id: 456 }] }))),
    );

    const statuses = responses.map((r) => r.response.status);
    t.same(
      [...new Set(statuses)].filter((s) => s !== 200 && s !== 409),
      [],
      `only 200 and 409 (got ${JSON.stringify(statuses)})`,
    );
    t.equal(statuses.filter((s) => s === 200).length, 1, 'exactly one 200');
    t.equal(statuses.filter((s) => s === 409).length, n - 1, 'all the others are 409');
    const winnerIndex = statuses.indexOf(200);
    const winner = responses[winnerIndex]?.data;
    if (!winner) return;
    t.equal(winner.id, orders[winnerIndex]!.id);
    t.equal(winner.datetime, shift(target, winnerIndex * 60_000));

    await assertOnlyWinnerHolds(t, responses, winner, target);
    t.same(await serviceIdsOf(winner.id), [456], "the winner's services were replaced");
    for (const [i, o] of orders.entries()) {
      if (i === winnerIndex) continue;
      t.same((await read(o.id)).data, o, `order ${i} is unchanged`);
      t.same(await serviceIdsOf(o.id), [123, 789], `order ${i} keeps its service links`);
    }
    t.equal(await countRows(db, 'orders'), ordersBefore);
    t.equal(
      await countRows(db, 'order_services'),
      linksBefore - 1,
      'the winner went from 2 links to 1, nothing else changed',
    );
  },
);
