import { sql } from 'kysely';
import t from 'tap';
import type { components } from '../../../src/client.js';
import { sweepEvents } from '../../../src/events/use-cases.js';
import { createApiKey } from '../../../src/keys/use-cases.js';
import { storedEvents } from '../../helpers/events.js';
import { orderBody, seedCatalogue } from '../../helpers/fixtures.js';
import { typedClient } from '../../helpers/http.js';
import { startService } from '../../helpers/service.js';

// GET /events and GET /orders/{orderId}/history: the feed in one order, paged without gaps or
// repeats at any page size, filtered by type, refusing bad input with 400 and expired cursors with
// 410; an order's history outlives the order.

const { client, api, db, url } = await startService(t);
await seedCatalogue(db);

type Event = components['schemas']['Event'];
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

let day = 0;
function nextDatetime(): string {
  day += 1;
  return new Date(Date.UTC(2033, 0, day, 9)).toISOString();
}

async function feed(query: { after?: string; limit?: number; types?: string } = {}) {
  const res = await client.GET('/events', { params: { query } });
  if (res.response.status !== 200 || !res.data) throw new Error(`GET /events: ${res.response.status}`);
  return res.data;
}

/** Every event from `after` on, `limit` at a time, until an empty page; and the cursor it ends at. */
async function walk(limit: number, types?: string, after?: string) {
  const seen: Event[] = [];
  let cursor = after;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await feed({ limit, ...(cursor ? { after: cursor } : {}), ...(types ? { types } : {}) });
    if (page.data.length > limit) throw new Error('a page longer than its limit');
    if (typeof page.nextCursor !== 'string') throw new Error('a feed page without a nextCursor');
    cursor = page.nextCursor;
    if (page.data.length === 0) break;
    seen.push(...page.data);
  }
  return { seen, cursor: cursor! };
}

/** Some writes of every kind, by two keys. */
async function writeSomething() {
  const created = await client.POST('/orders', { body: orderBody(nextDatetime()) });
  const id = created.data!.id;
  await client.PUT('/orders/{orderId}', { params: { path: { orderId: id } }, body: orderBody(nextDatetime()) });
  const other = await client.POST('/orders', { body: orderBody(nextDatetime(), { services: [{ id: 456 }] }) });
  const service = await client.POST('/services', { body: { name: `Feed ${day}` } });
  await client.PUT('/services/{serviceId}', {
    params: { path: { serviceId: service.data!.id } },
    body: { name: `Feed renamed ${day}` },
  });
  await client.DELETE('/services/{serviceId}', { params: { path: { serviceId: service.data!.id } } });
  await client.DELETE('/orders/{orderId}', { params: { path: { orderId: id } } });
  return { deletedOrderId: id, keptOrderId: other.data!.id };
}

function isProblem(t: Test, res: { status: number; body: unknown }, status: number, type: string, label: string) {
  t.equal(res.status, status, `${label}: ${status}`);
  t.match(res.body, { type, status, detail: String }, `${label}: a ${type} problem`);
}

t.test('a walk of the feed with every limit from 1 to 5 visits every event once, in one order', async (t) => {
  for (let i = 0; i < 3; i++) await writeSomething();
  const stored = await storedEvents(db);
  t.ok(stored.length >= 21, `${stored.length} events stored`);
  const reference = (await walk(100)).seen;
  t.same(
    reference.map((e) => e.id),
    stored.map((e) => e.id),
    'limit 100: every stored event, in feed order',
  );
  t.equal(new Set(reference.map((e) => e.id)).size, reference.length, 'each once');
  for (let limit = 1; limit <= 5; limit++) {
    const { seen } = await walk(limit);
    t.same(
      seen.map((e) => e.id),
      reference.map((e) => e.id),
      `limit ${limit}: the same events, each once, in the same order`,
    );
  }
  t.strictSame(
    reference.map((e) => ({ type: e.type, actor: e.actor, subject: e.subject, data: e.data })),
    stored.map((e) => ({
      type: e.type,
      actor: e.actor,
      subject: { type: e.subjectType, id: e.subjectId },
      data: e.data,
    })),
    'each event as stored',
  );
  for (const e of reference) t.match(e.occurredAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

t.test(
  'every page has a nextCursor, an empty one too; polling from it sees exactly what committed since',
  async (t) => {
    const { cursor } = await walk(50);
    const empty = await feed({ after: cursor });
    t.same(empty.data, [], 'nothing new');
    t.type(empty.nextCursor, 'string', 'an empty page has a cursor');
    const again = await feed({ after: empty.nextCursor });
    t.same(again.data, [], 'its cursor is as good as the one before');

    const created = await client.POST('/orders', { body: orderBody(nextDatetime()) });
    const next = await feed({ after: again.nextCursor });
    t.same(
      next.data.map((e) => [e.type, e.subject.id]),
      [['order.created', created.data!.id]],
      'the one new event',
    );
    t.strictSame(next.data[0]!.data, created.data, 'with the order as the 201 showed it');
    t.same((await feed({ after: next.nextCursor })).data, [], 'and then nothing again');
  },
);

t.test('types filters the feed, keeping its order; a filtered poll moves past other events', async (t) => {
  const all = (await walk(100)).seen;
  for (const types of ['order.created', 'order.deleted,service.replaced', 'service.created,service.deleted']) {
    const wanted = types.split(',');
    for (const limit of [1, 3, 100]) {
      const { seen } = await walk(limit, types);
      t.same(
        seen.map((e) => e.id),
        all.filter((e) => wanted.includes(e.type)).map((e) => e.id),
        `types=${types}, limit ${limit}: exactly those events, in feed order`,
      );
    }
  }
  const { cursor } = await walk(100, 'service.deleted');
  const { seen } = await walk(100, undefined, cursor);
  t.same(seen, [], 'a filtered walk ends past every event, not only those of its types');
  const duplicate = await feed({ types: 'order.created,order.created', limit: 100 });
  t.same(
    duplicate.data.map((e) => e.id),
    all.filter((e) => e.type === 'order.created').map((e) => e.id),
    'a type named twice counts once',
  );
});

t.test('bad input to the feed is a 400 problem naming the parameter, never a 5xx', async (t) => {
  const { nextCursor } = await feed({ limit: 1 });
  const tampered = nextCursor.slice(0, 5) + (nextCursor[5] === 'A' ? 'B' : 'A') + nextCursor.slice(6);
  const ordersCursor = (await client.GET('/orders', { params: { query: { limit: 1 } } })).data!.nextCursor!;
  const createdId = (await client.POST('/orders', { body: orderBody(nextDatetime()) })).data!.id;
  await client.PUT('/orders/{orderId}', {
    params: { path: { orderId: createdId } },
    body: orderBody(nextDatetime()),
  });
  const historyCursor = (
    await client.GET('/orders/{orderId}/history', { params: { path: { orderId: createdId }, query: { limit: 1 } } })
  ).data!.nextCursor!;
  const cases: [string, string][] = [
    ['/events?after=not-a-cursor', '/query/after'],
    [`/events?after=${tampered}`, '/query/after'],
    [`/events?after=${ordersCursor}`, '/query/after'],
    [`/events?after=${historyCursor}`, '/query/after'],
    ['/events?after=', '/query/after'],
    ['/events?types=order.moved', '/query/types'],
    ['/events?types=order.created,', '/query/types'],
    ['/events?types=', '/query/types'],
    ['/events?limit=0', '/query/limit'],
    ['/events?limit=101', '/query/limit'],
    ['/events?limit=x', '/query/limit'],
    ['/events?cursor=x', '/query'],
    [`/orders/${createdId}/history?cursor=${nextCursor}`, '/query/cursor'],
    [`/orders/${createdId}/history?cursor=${tampered}`, '/query/cursor'],
    [`/orders/${createdId}/history?limit=0`, '/query/limit'],
    ['/orders/abc/history', '/path/orderId'],
  ];
  for (const [path, errorPath] of cases) {
    const res = await api.get(path);
    isProblem(t, res, 400, '/problems/validation', path);
    t.ok(
      (res.body.errors as { path: string }[]).some((e) => e.path.startsWith(errorPath)),
      `${path}: names ${errorPath}`,
    );
  }
});

t.test('scopes: /events needs events:read; a history needs orders:read', async (t) => {
  const { key: readerKey } = await createApiKey(db, 'orders-reader', ['orders:read']);
  const { key: feedKey } = await createApiKey(db, 'feed-reader', ['events:read']);
  const reader = typedClient(url, readerKey);
  const follower = typedClient(url, feedKey);
  t.equal((await reader.GET('/events')).response.status, 403, 'orders:read alone cannot read the feed');
  t.equal((await follower.GET('/events')).response.status, 200, 'events:read can');
  const history = (orderId: string, c = reader) =>
    c.GET('/orders/{orderId}/history', { params: { path: { orderId } } });
  const { keptOrderId } = await writeSomething();
  t.equal((await history(keptOrderId)).response.status, 200, 'orders:read can read a history');
  t.equal((await history(keptOrderId, follower)).response.status, 403, 'events:read alone cannot');
});

t.test(
  'the history of an order: oldest first, each change with its actor, paged, and kept after deletion',
  async (t) => {
    const { key } = await createApiKey(db, 'dispatch', ['orders:read', 'orders:write']);
    const dispatch = typedClient(url, key);
    const created = await client.POST('/orders', { body: orderBody(nextDatetime(), { totalfee: 10 }) });
    const orderId = created.data!.id;
    const moved = await dispatch.PUT('/orders/{orderId}', {
      params: { path: { orderId } },
      body: orderBody(nextDatetime(), { totalfee: 20 }),
    });
    t.equal((await dispatch.DELETE('/orders/{orderId}', { params: { path: { orderId } } })).response.status, 204);
    t.equal((await client.GET('/orders/{orderId}', { params: { path: { orderId } } })).response.status, 404);

    const whole = await client.GET('/orders/{orderId}/history', { params: { path: { orderId } } });
    t.equal(whole.response.status, 200, 'the history outlives the order');
    t.same(
      whole.data!.data.map((e) => [e.type, e.actor, e.subject]),
      [
        ['order.created', 'test-suite', { type: 'order', id: orderId }],
        ['order.replaced', 'dispatch', { type: 'order', id: orderId }],
        ['order.deleted', 'dispatch', { type: 'order', id: orderId }],
      ],
    );
    t.strictSame(
      whole.data!.data.map((e) => e.data),
      [created.data, moved.data, moved.data],
      'each with the order after the change (as it was, for the deletion)',
    );
    t.equal(whole.data!.nextCursor, null, 'one page');

    const paged = [];
    let cursor: string | undefined;
    for (let i = 0; i < 5; i++) {
      const page = await client.GET('/orders/{orderId}/history', {
        params: { path: { orderId }, query: { limit: 1, ...(cursor ? { cursor } : {}) } },
      });
      paged.push(...page.data!.data);
      if (page.data!.nextCursor === null) break;
      cursor = page.data!.nextCursor;
    }
    t.same(
      paged.map((e) => e.id),
      whole.data!.data.map((e) => e.id),
      'one at a time: the same three, with a null cursor on the last page',
    );

    const never = await client.GET('/orders/{orderId}/history', { params: { path: { orderId: '987654321' } } });
    t.equal(never.response.status, 404, 'an id that never had an order is 404');
    t.match(never.error, { type: '/problems/not-found' });
  },
);

t.test('retention: swept events are gone, an older cursor is 410, a history all swept is 404', async (t) => {
  const { cursor: start } = await walk(100);
  const early = await feed({ after: start, limit: 100 });
  t.same(early.data, [], 'a cursor at the end of the feed');
  const { deletedOrderId, keptOrderId } = await writeSomething();
  const firstOfNew = await feed({ after: start, limit: 1 });
  const afterFirst = firstOfNew.nextCursor;

  // Everything up to the kept order's creation (and that order's own events) is old enough to sweep.
  const all = await storedEvents(db);
  const keptCreated = all.findIndex((e) => e.subjectId === keptOrderId && e.type === 'order.created');
  const expired = all.slice(0, keptCreated + 1).map((e) => e.id);
  await sql`UPDATE events SET occurred_at = now() - interval '31 days' WHERE id = ANY(${expired}::bigint[])`.execute(
    db,
  );
  t.equal(await sweepEvents(db, 30, 2), expired.length, 'the sweep deletes exactly the expired ones, in batches');
  t.same(
    (await storedEvents(db)).map((e) => e.id),
    all.slice(keptCreated + 1).map((e) => e.id),
    'the rest is kept',
  );
  t.equal(await sweepEvents(db, 30), 0, 'sweeping again deletes nothing');

  for (const [label, after] of [
    ['a cursor from before the swept events', start],
    ['a cursor inside them', afterFirst],
  ] as const) {
    const res = await api.get(`/events?after=${after}`);
    isProblem(t, res, 410, '/problems/cursor-expired', label);
    t.match(res.body.detail, /resynchronise/, `${label}: tells the consumer to resynchronise`);
  }
  const fresh = await walk(100);
  t.same(
    fresh.seen.map((e) => e.id),
    all.slice(keptCreated + 1).map((e) => e.id),
    'without a cursor the feed starts at the oldest event kept',
  );
  t.same((await feed({ after: fresh.cursor })).data, [], 'and a cursor from it is good');

  const kept = await client.GET('/orders/{orderId}/history', { params: { path: { orderId: keptOrderId } } });
  t.equal(kept.response.status, 404, 'a history whose events were all swept is 404 (even while the order exists)');
  t.match(kept.error, { type: '/problems/not-found' });
  const partly = await client.GET('/orders/{orderId}/history', { params: { path: { orderId: deletedOrderId } } });
  t.same(
    partly.data?.data.map((e) => e.type),
    ['order.deleted'],
    'a history partly swept keeps what is left',
  );
});

t.test('a sweep never deletes past an event that is not yet expired', async (t) => {
  const { keptOrderId } = await writeSomething();
  const all = await storedEvents(db);
  // The oldest event is kept; everything after it would be old enough.
  const later = all.slice(1).map((e) => e.id);
  await sql`UPDATE events SET occurred_at = now() - interval '40 days' WHERE id = ANY(${later}::bigint[])`.execute(db);
  t.equal(await sweepEvents(db, 30), 0, 'nothing is deleted while an older event is kept');
  t.equal((await storedEvents(db)).length, all.length);
  t.equal(
    (await client.GET('/orders/{orderId}/history', { params: { path: { orderId: keptOrderId } } })).response.status,
    200,
  );
});
