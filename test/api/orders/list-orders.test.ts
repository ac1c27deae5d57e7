import { randomBytes } from 'node:crypto';
import { CompiledQuery, sql } from 'kysely';
import t from 'tap';
import type { components, operations } from '../../../src/client.js';
import type { Db } from '../../../src/db/database.js';
import type { OrderListQuery } from '../../../src/orders/model.js';
import { listOrders as listOrderRecords } from '../../../src/orders/queries.js';
import { countRows } from '../../helpers/database.js';
import { orderBody, seedCatalogue } from '../../helpers/fixtures.js';
import { type ApiResponse } from '../../helpers/http.js';
import { startService } from '../../helpers/service.js';

const { client, api, db } = await startService(t);
await seedCatalogue(db);

/** What tap's `t` offers that the local helpers use. */
interface Teardown {
  teardown(fn: () => unknown): void;
}
interface Asserts {
  equal(found: unknown, wanted: unknown, message: string): boolean;
  match(found: unknown, pattern: unknown, message: string): boolean;
}

const HOUR = 3_600_000;

/** `base` moved by `hours`, as the UTC instant with milliseconds the API returns. */
function at(base: string, hours: number): string {
  return new Date(Date.parse(base) + hours * HOUR).toISOString();
}

/**
 * Each test owns one calendar year of datetimes (so tests never see each other's orders through
 * from/to) and deletes whatever it scheduled in that year when it ends, pass or fail.
 */
function ownYear(t: Teardown, year: number): string {
  const start = `${year}-01-01T00:00:00.000Z`;
  const end = `${year + 1}-01-01T00:00:00.000Z`;
  t.teardown(() =>
    db
      .deleteFrom('orders')
      .where('datetime', '>=', sql<string>`${start}::timestamptz`)
      .where('datetime', '<', sql<string>`${end}::timestamptz`)
      .execute(),
  );
  return start;
}

interface OrderSpec {
  datetime: string;
  services?: number[];
  totalfee?: string;
}

/** Bulk-inserts orders (ids are generated in the given order); returns their ids in the given order. */
async function insertOrders(specs: OrderSpec[]): Promise<string[]> {
  const ids: string[] = [];
  // A statement stays well under the 65535 bind parameters limit.
  for (let i = 0; i < specs.length; i += 1000) {
    const chunk = specs.slice(i, i + 1000);
    const rows = await db
      .insertInto('orders')
      .values(chunk.map((s) => ({ datetime: s.datetime, totalfee: s.totalfee ?? '10.00' })))
      .returning([sql<string>`id::text`.as('id'), 'datetime'])
      .execute();
    const idAt = new Map(rows.map((r) => [r.datetime, r.id]));
    const chunkIds = chunk.map((s) => idAt.get(new Date(s.datetime).toISOString())!);
    const links = chunk.flatMap((s, k) =>
      (s.services ?? [123]).map((service_id) => ({ order_id: chunkIds[k]!, service_id })),
    );
    await db.insertInto('order_services').values(links).execute();
    ids.push(...chunkIds);
  }
  return ids;
}

type Order = components['schemas']['Order'];

/**
 * What the list should hold according to the database, worked out without the service's SQL: every
 * row of orders and order_services read plainly (no filter, no order), turned into the API's shape
 * here, then filtered to [from, to) and serviceId and sorted by (datetime, id) here.
 */
async function ordersInDatabase(filter: { from?: string; to?: string; serviceId?: number } = {}): Promise<Order[]> {
  const rows = await db
    .selectFrom('orders')
    .select([
      sql<string>`id::text`.as('id'),
      'datetime',
      sql<string>`totalfee::text`.as('totalfee'),
      'created_at',
      'updated_at',
      'created_by',
      'updated_by',
    ])
    .execute();
  const links = await db
    .selectFrom('order_services')
    .select([sql<string>`order_id::text`.as('order_id'), 'service_id'])
    .execute();
  const names = new Map((await db.selectFrom('services').select(['id', 'name']).execute()).map((s) => [s.id, s.name]));
  const from = filter.from === undefined ? -Infinity : Date.parse(filter.from);
  const to = filter.to === undefined ? Infinity : Date.parse(filter.to);
  return rows
    .map((r) => ({
      id: r.id,
      datetime: r.datetime,
      totalfee: Number(r.totalfee),
      services: links
        .filter((l) => l.order_id === r.id)
        .map((l) => l.service_id)
        .sort((a, b) => a - b)
        .map((id) => ({ id, name: names.get(id)! })),
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      createdBy: r.created_by,
      updatedBy: r.updated_by,
    }))
    .filter((o) => Date.parse(o.datetime) >= from && Date.parse(o.datetime) < to)
    .filter((o) => filter.serviceId === undefined || o.services.some((s) => s.id === filter.serviceId))
    .sort((a, b) => Date.parse(a.datetime) - Date.parse(b.datetime) || (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
}
const idsInDatabase = async (filter: Parameters<typeof ordersInDatabase>[0] = {}) =>
  (await ordersInDatabase(filter)).map((o) => o.id);

type OrdersQuery = NonNullable<operations['listOrders']['parameters']['query']>;
type ServicesQuery = NonNullable<operations['listServices']['parameters']['query']>;

const listOrders = (query: OrdersQuery = {}) => client.GET('/orders', { params: { query } });
const listServices = (query: ServicesQuery = {}) => client.GET('/services', { params: { query } });

/** Raw: for query values the types forbid (a limit or serviceId that is not a number). */
function rawList(path: '/orders' | '/services', query: Record<string, string>): Promise<ApiResponse> {
  const search = new URLSearchParams(query).toString();
  return api.get(search ? `${path}?${search}` : path);
}

/** What the typed client answers with for a page request. */
interface PageAnswer<T> {
  response: Response;
  data?: { data: T[]; nextCursor: string | null };
}

/** Follows nextCursor from the first page to the last, keeping the same query; returns every page. */
async function walk<P extends PageAnswer<unknown>>(
  page: (cursor: string | undefined) => Promise<P>,
  maxPages = 100,
): Promise<P[]> {
  const pages: P[] = [];
  let cursor: string | undefined;
  do {
    const answer = await page(cursor);
    pages.push(answer);
    if (answer.response.status !== 200) break;
    cursor = answer.data?.nextCursor ?? undefined;
  } while (cursor !== undefined && pages.length < maxPages);
  return pages;
}
const walkOrders = (query: OrdersQuery) =>
  walk((cursor) => listOrders(cursor === undefined ? query : { ...query, cursor }));
const walkServices = (query: ServicesQuery) =>
  walk((cursor) => listServices(cursor === undefined ? query : { ...query, cursor }));

/** The items of a page; an answer that is not a page fails the test here. */
function itemsOf<T>(res: PageAnswer<T>): T[] {
  if (!res.data) throw new Error(`expected a page, got ${res.response.status}`);
  return res.data.data;
}
const idsOf = (res: PageAnswer<{ id: string }>): string[] => itemsOf(res).map((o) => o.id);

const cursorOf = (json: unknown) => Buffer.from(JSON.stringify(json), 'utf8').toString('base64url');

/** A 400 validation problem whose first error points at `path`, from the typed client or a raw request. */
function isBadRequest(
  t: Asserts,
  res: { response: Response; error?: components['schemas']['Problem'] } | ApiResponse,
  path: string,
  label: string,
) {
  const { status, headers } = 'response' in res ? res.response : res;
  const problem: components['schemas']['Problem'] | undefined = 'response' in res ? res.error : res.body;
  t.equal(status, 400, `${label}: status`);
  t.equal(headers.get('content-type'), 'application/problem+json; charset=utf-8', `${label}: problem media type`);
  t.match(problem, { type: '/problems/validation', status: 400 }, `${label}: validation problem`);
  t.equal(problem?.errors?.[0]?.path, path, `${label}: errors[0].path`);
}

t.test('an empty database lists { data: [], nextCursor: null }', async (t) => {
  t.equal(await countRows(db, 'orders'), 0, 'precondition: no orders');
  const res = await listOrders();
  t.equal(res.response.status, 200);
  t.equal(res.response.headers.get('content-type'), 'application/json; charset=utf-8');
  t.same(res.data, { data: [], nextCursor: null });
  const queries: OrdersQuery[] = [
    { limit: 1 },
    { from: '2030-01-01T00:00:00Z', to: '2031-01-01T00:00:00Z' },
    { serviceId: 123 },
  ];
  for (const query of queries) {
    const filtered = await listOrders(query);
    t.equal(filtered.response.status, 200, JSON.stringify(query));
    t.same(filtered.data, { data: [], nextCursor: null }, JSON.stringify(query));
  }
  const forged = await listOrders({ cursor: cursorOf(['2030-01-01T00:00:00.000Z', '1000']) });
  t.equal(forged.response.status, 400, 'a cursor the server did not issue is refused, even if well-formed');
  t.equal(await countRows(db, 'orders'), 0, 'listing stores nothing');
});

t.test('orders are listed by datetime then id, each with all its services and their names', async (t) => {
  const base = ownYear(t, 2030);
  t.equal(await countRows(db, 'orders'), 0, 'precondition: no other orders');
  // Inserted out of datetime order, so id order and datetime order differ.
  const specs: OrderSpec[] = [
    { datetime: at(base, 30), services: [789], totalfee: '30.00' },
    { datetime: at(base, 3), services: [123, 456, 789], totalfee: '3.50' },
    { datetime: '2030-01-02T12:00:00.123Z', services: [456], totalfee: '0.07' },
    { datetime: at(base, 0), services: [456, 123], totalfee: '0.00' },
    { datetime: at(base, 6), services: [123], totalfee: '999999999999.99' },
    { datetime: at(base, 9), services: [789, 123], totalfee: '12.00' },
  ];
  const ids = await insertOrders(specs);
  const expected = specs
    .map((s, i) => ({ ...s, id: ids[i]! }))
    .sort((a, b) => Date.parse(a.datetime) - Date.parse(b.datetime));

  const res = await listOrders();
  t.equal(res.response.status, 200);
  t.equal(res.data?.nextCursor, null, 'one page');
  t.same(
    idsOf(res),
    expected.map((o) => o.id),
    'ids in datetime order',
  );
  t.not(idsOf(res).join(), [...ids].sort((a, b) => Number(a) - Number(b)).join(), 'not simply id order');
  t.same(
    itemsOf(res),
    await ordersInDatabase(),
    'the database agrees: every stored order, field by field, in (datetime, id) order',
  );
  t.same(
    itemsOf(res).map((o) => o.datetime),
    expected.map((o) => new Date(o.datetime).toISOString()),
    'datetimes are UTC with milliseconds, ascending',
  );
  t.same(
    itemsOf(res).map((o) => o.totalfee),
    expected.map((o) => Number(o.totalfee)),
    'exact fees',
  );
  const names: Record<number, string> = { 123: 'Inspection', 456: 'Analysis', 789: 'Testing' };
  t.same(
    itemsOf(res).map((o) => o.services),
    expected.map((o) => [...o.services!].sort((a, b) => a - b).map((id) => ({ id, name: names[id] }))),
    'every service of every order, with its name',
  );
  for (const order of itemsOf(res)) {
    const one = await client.GET('/orders/{orderId}', { params: { path: { orderId: order.id } } });
    t.same(one.data, order, `order ${order.id} in the list is what GET /orders/{id} returns`);
  }
});

t.test('limit defaults to 50 and any limit from 1 to 100 is accepted', async (t) => {
  const base = ownYear(t, 2031);
  t.equal(await countRows(db, 'orders'), 0, 'precondition: no other orders');
  const ids = await insertOrders(Array.from({ length: 120 }, (_, i) => ({ datetime: at(base, 3 * i) })));
  t.equal(await countRows(db, 'orders'), 120);

  const byDefault = await listOrders();
  t.equal(byDefault.response.status, 200);
  t.equal(byDefault.data?.data.length, 50, 'default page size is 50');
  t.same(idsOf(byDefault), ids.slice(0, 50));
  t.type(byDefault.data?.nextCursor, 'string', 'more pages follow');

  for (const limit of [1, 2, 49, 50, 51, 99, 100]) {
    const res = await listOrders({ limit });
    t.equal(res.response.status, 200, `limit=${limit}`);
    t.same(idsOf(res), ids.slice(0, limit), `limit=${limit} gives the first ${limit} orders`);
    t.type(res.data?.nextCursor, 'string', `limit=${limit}: more pages follow`);
  }
  const rest = await listOrders({ limit: 100, cursor: (await listOrders({ limit: 100 })).data!.nextCursor! });
  t.same(idsOf(rest), ids.slice(100), 'the second page of 100 holds the remaining 20');
  t.equal(rest.data?.nextCursor, null, 'and is the last');
});

t.test('limit 0, 101, -1, abc, 1.5 or empty is 400 with errors[0].path /query/limit', async (t) => {
  const base = ownYear(t, 2039);
  await insertOrders([{ datetime: at(base, 0) }, { datetime: at(base, 3) }]);
  const before = await countRows(db, 'orders');
  for (const limit of [0, 101, -1, 1.5]) {
    isBadRequest(t, await listOrders({ limit }), '/query/limit', `limit=${JSON.stringify(String(limit))}`);
  }
  // raw: a limit that is not a number (or is written other than as a plain number)
  for (const limit of ['abc', '', '1e3', '10abc']) {
    isBadRequest(t, await rawList('/orders', { limit }), '/query/limit', `limit=${JSON.stringify(limit)}`);
  }
  t.equal((await listOrders({ limit: 1 })).data?.data.length, 1, 'a valid limit still works');
  t.equal(await countRows(db, 'orders'), before, 'nothing changed');
});

t.test(
  'a keyset walk with limit 5 visits each of 23 orders exactly once, in order, in 5 pages ending with nextCursor null',
  async (t) => {
    const base = ownYear(t, 2032);
    t.equal(await countRows(db, 'orders'), 0, 'precondition: no other orders');
    // Shuffled datetimes, so ids do not follow the list order.
    const hours = Array.from({ length: 23 }, (_, i) => ((i * 7) % 23) * 3);
    await insertOrders(hours.map((h) => ({ datetime: at(base, h) })));
    const stored = await idsInDatabase();
    t.equal(stored.length, 23);

    const pages = await walkOrders({ limit: 5 });
    t.equal(pages.length, 5, '23 orders in pages of 5 is 5 pages');
    t.same(
      pages.map((p) => p.response.status),
      [200, 200, 200, 200, 200],
    );
    t.same(
      pages.map((p) => p.data?.data.length),
      [5, 5, 5, 5, 3],
    );
    t.same(
      pages.map((p) => p.data?.nextCursor === null),
      [false, false, false, false, true],
      'only the last page has nextCursor null',
    );
    const seen = pages.flatMap(idsOf);
    t.same(seen, stored, 'every order once, in (datetime, id) order');
    t.equal(new Set(seen).size, 23, 'no order twice');
    const datetimes = pages.flatMap((p) => itemsOf(p).map((o) => o.datetime));
    t.same(datetimes, [...datetimes].sort(), 'datetimes ascend across pages');

    // A total that is a multiple of the limit ends on a full page, not an empty extra one.
    const exact = await walkOrders({ limit: 5, to: at(base, 60) });
    t.same(
      exact.map((p) => p.data?.data.length),
      [5, 5, 5, 5],
      '20 orders: 4 full pages',
    );
    t.equal(exact[3]?.data?.nextCursor, null, 'the fourth page is the last');
    t.same(exact.flatMap(idsOf), stored.slice(0, 20));

    const single = await walkOrders({ limit: 100 });
    t.equal(single.length, 1, 'all 23 fit on one page of 100');
    t.equal(single[0]?.data?.nextCursor, null);
  },
);

t.test('a tampered cursor is 400 with errors[0].path /query/cursor', async (t) => {
  const base = ownYear(t, 2033);
  await insertOrders([{ datetime: at(base, 0) }, { datetime: at(base, 3) }, { datetime: at(base, 6) }]);
  const first = await listOrders({ limit: 1, from: base });
  const real = first.data!.nextCursor!;
  t.match(real, /^[A-Za-z0-9_-]+$/, 'a real cursor is base64url');
  t.equal((await listOrders({ limit: 1, from: base, cursor: real })).response.status, 200, 'the real cursor works');
  const before = await countRows(db, 'orders');

  const flip = (s: string, i: number, to: string) => s.slice(0, i) + to + s.slice(i + 1);
  const tampered: Record<string, string> = {
    'first character flipped': flip(real, 0, real[0] === 'X' ? 'Y' : 'X'),
    'last character flipped': flip(real, real.length - 1, real.at(-1) === 'A' ? 'B' : 'A'),
    'a character appended': real + 'A',
    truncated: real.slice(0, -2),
    'random base64url garbage (16 bytes)': randomBytes(16).toString('base64url'),
    'random base64url garbage (90 bytes)': randomBytes(90).toString('base64url'),
    'not base64 of JSON': 'abc',
    'JSON object': cursorOf({ datetime: at(base, 0), id: '1000' }),
    'JSON null': cursorOf(null),
    'JSON string': cursorOf('x'),
    'empty array': cursorOf([]),
    'one element': cursorOf([at(base, 0)]),
    'three elements': cursorOf([at(base, 0), '1000', 'x']),
    'numeric id': cursorOf([at(base, 0), 1000]),
    'negative id': cursorOf([at(base, 0), '-5']),
    'id of 19 digits': cursorOf([at(base, 0), '1234567890123456789']),
    'datetime without milliseconds': cursorOf([`${base.slice(0, 19)}Z`, '1000']),
    'datetime with an offset': cursorOf([`${base.slice(0, 23)}+00:00`, '1000']),
    'impossible datetime': cursorOf(['2033-02-30T00:00:00.000Z', '1000']),
    'not a datetime': cursorOf(['yesterday', '1000']),
    'a services cursor': cursorOf([123]),
    'JSON with whitespace': Buffer.from(`[ "${at(base, 0)}", "1000" ]`).toString('base64url'),
    'standard base64 with padding': Buffer.from(JSON.stringify([at(base, 0), '1000'])).toString('base64') + '==',
    'base64 with + and /': '++//',
    'longer than 200 characters (valid alphabet)': 'A'.repeat(201),
    'a real cursor padded past 200 characters': real + 'A'.repeat(201 - real.length),
    empty: '',
  };
  for (const [label, cursor] of Object.entries(tampered)) {
    isBadRequest(t, await listOrders({ limit: 1, from: base, cursor }), '/query/cursor', label);
  }
  t.equal(await countRows(db, 'orders'), before, 'nothing changed');
});

t.test(
  'a cursor altered to another well-formed position is 400 too (cursors are opaque and tamper-evident)',
  async (t) => {
    // The contract: "Opaque; an altered cursor is 400." Every single-character change of a real
    // cursor is an altered cursor, including those that still decode to some other position.
    const base = ownYear(t, 2034);
    await insertOrders([{ datetime: at(base, 0) }, { datetime: at(base, 3) }]);
    const orderCursor = (await listOrders({ limit: 1, from: base })).data?.nextCursor;
    const serviceCursor = (await listServices({ limit: 1 })).data?.nextCursor;
    t.type(orderCursor, 'string');
    t.type(serviceCursor, 'string');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (const [path, real, list] of [
      ['/orders', orderCursor!, (cursor: string) => listOrders({ limit: 1, from: base, cursor })],
      ['/services', serviceCursor!, (cursor: string) => listServices({ limit: 1, cursor })],
    ] as const) {
      const accepted: string[] = [];
      let tried = 0;
      for (let i = 0; i < real.length; i++) {
        for (const c of alphabet) {
          if (c === real[i]) continue;
          const altered = real.slice(0, i) + c + real.slice(i + 1);
          tried++;
          const { error, response } = await list(altered);
          if (response.status !== 400 || error?.errors?.[0]?.path !== '/query/cursor') {
            accepted.push(`${altered} (${Buffer.from(altered, 'base64url').toString('utf8')}) -> ${response.status}`);
          }
        }
      }
      t.ok(tried > 0);
      t.same(accepted.slice(0, 5), [], `${path}: no altered cursor is accepted (${accepted.length} of ${tried} were)`);
    }
  },
);

t.test('from is inclusive and to is exclusive: from/to select orders in [from, to)', async (t) => {
  const base = ownYear(t, 2035);
  const ids = await insertOrders([0, 3, 6, 9, 12].map((h) => ({ datetime: at(base, h) })));
  const end = '2036-01-01T00:00:00.000Z';
  const cases: [OrdersQuery, string[]][] = [
    [{ from: at(base, 3), to: end }, ids.slice(1)],
    [{ from: base, to: at(base, 9) }, ids.slice(0, 3)],
    [{ from: at(base, 3), to: at(base, 9) }, ids.slice(1, 3)],
    [{ from: at(base, 3), to: at(base, 3) }, []],
    [{ from: new Date(Date.parse(at(base, 3)) + 1).toISOString(), to: end }, ids.slice(2)],
    [{ from: base, to: new Date(Date.parse(at(base, 9)) + 1).toISOString() }, ids.slice(0, 4)],
    [{ from: new Date(Date.parse(base) - 1).toISOString(), to: base }, []],
    [{ from: at(base, 12), to: end }, ids.slice(4)],
  ];
  for (const [query, expected] of cases) {
    const res = await listOrders(query);
    t.equal(res.response.status, 200, JSON.stringify(query));
    t.same(idsOf(res), expected, JSON.stringify(query));
    t.equal(res.data?.nextCursor, null);
    t.same(
      itemsOf(res),
      await ordersInDatabase(query),
      `${JSON.stringify(query)}: the database agrees, field by field`,
    );
  }
  // from alone and to alone (this test's year is the only data in the database).
  t.same(idsOf(await listOrders({ from: at(base, 6) })), ids.slice(2), 'from alone');
  t.same(idsOf(await listOrders({ to: at(base, 6) })), ids.slice(0, 2), 'to alone');
  // Stored datetimes are whole milliseconds; bounds finer than that round up, never down.
  const sixPlus = at(base, 6).replace('Z', '1Z'); // 0.1 ms after the order at 06:00
  t.same(idsOf(await listOrders({ from: sixPlus, to: end })), ids.slice(3), 'from 0.1 ms after an order excludes it');
  t.same(idsOf(await listOrders({ from: base, to: sixPlus })), ids.slice(0, 3), 'to 0.1 ms after an order includes it');
});

t.test('offsets in from and to are normalised to the same UTC instant', async (t) => {
  const base = ownYear(t, 2041);
  const ids = await insertOrders([0, 3, 6, 9, 12].map((h) => ({ datetime: at(base, h) })));
  // 2041-01-01T03:00Z written three ways, 2041-01-01T09:00Z written three ways.
  const froms = [
    '2041-01-01T03:00:00.000Z',
    '2041-01-01T08:00:00+05:00',
    '2040-12-31t22:00:00-05:00',
    '2041-01-01T03:00:00z',
  ];
  const tos = ['2041-01-01T09:00:00Z', '2041-01-01T04:30:00-04:30', '2041-01-01T18:00:00.000+09:00'];
  for (const from of froms) {
    for (const to of tos) {
      const res = await listOrders({ from, to });
      t.equal(res.response.status, 200, `${from} .. ${to}`);
      t.same(idsOf(res), ids.slice(1, 3), `${from} .. ${to} selects 03:00Z (inclusive) to 09:00Z (exclusive)`);
    }
  }
  // A from with a positive offset that is after a to in Z on the wall clock is still fine.
  const crossing = await listOrders({ from: '2041-01-01T10:00:00+10:00', to: '2041-01-01T01:00:00Z' });
  t.equal(crossing.response.status, 200, 'from 00:00Z is not after to 01:00Z');
  t.same(idsOf(crossing), ids.slice(0, 1));
});

t.test('from after to is 400', async (t) => {
  const before = await countRows(db, 'orders');
  const res = await listOrders({ from: '2035-01-02T00:00:00Z', to: '2035-01-01T00:00:00Z' });
  isBadRequest(t, res, '/query/to', 'from after to');
  // By a millisecond, and when only the offsets make from later.
  isBadRequest(
    t,
    await listOrders({ from: '2035-01-01T00:00:00.001Z', to: '2035-01-01T00:00:00.000Z' }),
    '/query/to',
    'by 1 ms',
  );
  isBadRequest(
    t,
    await listOrders({ from: '2035-01-01T00:00:00-01:00', to: '2035-01-01T00:30:00Z' }),
    '/query/to',
    'by offset',
  );
  t.equal(await countRows(db, 'orders'), before);
});

t.test('a from or to without an offset, or that is not a real instant, is 400', async (t) => {
  const before = await countRows(db, 'orders');
  for (const bad of [
    '2023-01-01T00:00:00',
    '2023-01-01T00:00:00.000',
    '2023-01-01',
    'yesterday',
    '2023-02-30T00:00:00Z',
    '2023-01-01 00:00:00Z',
    '2023-01-01T24:00:01Z',
    '',
  ]) {
    isBadRequest(t, await listOrders({ from: bad }), '/query/from', `from=${JSON.stringify(bad)}`);
    isBadRequest(t, await listOrders({ to: bad }), '/query/to', `to=${JSON.stringify(bad)}`);
  }
  t.equal(await countRows(db, 'orders'), before);
});

t.test('serviceId lists only orders that include that service, each with all its services', async (t) => {
  const base = ownYear(t, 2036);
  const ids = await insertOrders([
    { datetime: at(base, 0), services: [123] },
    { datetime: at(base, 3), services: [456] },
    { datetime: at(base, 6), services: [123, 789] },
    { datetime: at(base, 9), services: [789] },
    { datetime: at(base, 12), services: [456, 789, 123] },
  ]);
  const within = { from: base, to: '2037-01-01T00:00:00Z' };
  const cases: [number, string[]][] = [
    [123, [ids[0]!, ids[2]!, ids[4]!]],
    [456, [ids[1]!, ids[4]!]],
    [789, [ids[2]!, ids[3]!, ids[4]!]],
  ];
  for (const [serviceId, expected] of cases) {
    const res = await listOrders({ ...within, serviceId });
    t.equal(res.response.status, 200, `serviceId=${serviceId}`);
    t.same(idsOf(res), expected, `serviceId=${serviceId}`);
    t.same(
      itemsOf(res),
      await ordersInDatabase({ ...within, serviceId }),
      `serviceId=${serviceId}: the database agrees, field by field`,
    );
    t.ok(
      itemsOf(res).every((o) => o.services.some((s) => s.id === serviceId)),
      'each listed order includes the service',
    );
  }
  const all = await listOrders({ ...within, serviceId: 123 });
  t.same(
    itemsOf(all).at(-1)?.services,
    [
      { id: 123, name: 'Inspection' },
      { id: 456, name: 'Analysis' },
      { id: 789, name: 'Testing' },
    ],
    'the filter does not hide the order’s other services',
  );
  t.same(
    (await listOrders({ ...within, serviceId: 999 })).data,
    { data: [], nextCursor: null },
    'a service no order has',
  );
  // raw: a serviceId written with a leading zero, or that is not a number
  t.same(
    (await rawList('/orders', { ...within, serviceId: '0123' })).body.data.length,
    3,
    'leading zero is still service 123',
  );
  for (const bad of [0, -1, 1.5, 1000000000]) {
    isBadRequest(
      t,
      await listOrders({ serviceId: bad }),
      '/query/serviceId',
      `serviceId=${JSON.stringify(String(bad))}`,
    );
  }
  for (const bad of ['abc', '']) {
    isBadRequest(
      t,
      await rawList('/orders', { serviceId: bad }),
      '/query/serviceId',
      `serviceId=${JSON.stringify(bad)}`,
    );
  }
});

t.test(
  'from, to and serviceId combine with keyset pagination: a filtered walk visits exactly the matching orders',
  async (t) => {
    const base = ownYear(t, 2037);
    // 40 orders 3h apart; every third includes 456, every other includes 789.
    const specs = Array.from({ length: 40 }, (_, i) => ({
      datetime: at(base, 3 * ((i * 13) % 40)),
      services: [123, ...(i % 3 === 0 ? [456] : []), ...(i % 2 === 0 ? [789] : [])],
    }));
    await insertOrders(specs);
    const from = at(base, 3 * 5);
    const to = at(base, 3 * 33);
    for (const [query, limit] of [
      [{ from, to }, 4],
      [{ serviceId: 456, from: base, to: '2038-01-01T00:00:00Z' }, 3],
      [{ from, to, serviceId: 789 }, 2],
      [{ from, to, serviceId: 456 }, 1],
    ] as const) {
      const expected = await ordersInDatabase(query);
      t.ok(expected.length > limit, `${JSON.stringify(query)}: several pages (${expected.length} orders)`);
      const pages = await walkOrders({ ...query, limit });
      t.ok(
        pages.every((p) => p.response.status === 200),
        'every page is 200',
      );
      t.same(
        pages.flatMap(itemsOf),
        expected,
        `${JSON.stringify(query)} limit ${limit}: exactly the matching orders, in order, as stored`,
      );
      t.equal(pages.length, Math.ceil(expected.length / limit), 'the expected number of pages');
      t.equal(pages.at(-1)?.data?.nextCursor, null, 'the last page ends the walk');
      for (const order of pages.flatMap(itemsOf)) {
        if (query.from)
          t.ok(order.datetime >= query.from && order.datetime < query.to, `${order.id} within [from, to)`);
      }
    }
  },
);

t.test(
  'keyset pagination: deleted orders disappear, none is skipped or repeated, and an order created later in the list appears on a later page',
  async (t) => {
    const base = ownYear(t, 2038);
    t.equal(await countRows(db, 'orders'), 0, 'precondition: no other orders');
    // Orders every 6 hours leave 3-hour slots in between for orders created while paging.
    const ids = await insertOrders(Array.from({ length: 10 }, (_, i) => ({ datetime: at(base, 6 * i) })));

    const page1 = await listOrders({ limit: 4 });
    t.same(idsOf(page1), ids.slice(0, 4));
    const cursor = page1.data!.nextCursor!;

    // After reading page 1: delete an order already seen, the order the cursor points at and one not yet seen ...
    for (const orderId of [ids[1]!, ids[3]!, ids[6]!]) {
      t.equal(
        (await client.DELETE('/orders/{orderId}', { params: { path: { orderId } } })).response.status,
        204,
        `delete ${orderId}`,
      );
    }
    // ... and create one before the cursor and one after it.
    const early = await client.POST('/orders', { body: orderBody(at(base, 6 * 2 + 3)) });
    const late = await client.POST('/orders', { body: orderBody(at(base, 6 * 8 + 3), { services: [{ id: 456 }] }) });
    t.equal(early.response.status, 201);
    t.equal(late.response.status, 201);
    const earlyId = early.data!.id;
    const lateId = late.data!.id;

    const page2 = await listOrders({ limit: 4, cursor });
    t.equal(page2.response.status, 200, 'a cursor stays valid when its order is deleted');
    t.same(
      idsOf(page2),
      [ids[4]!, ids[5]!, ids[7]!, ids[8]!],
      'continues right after the position read: nothing skipped, the deleted one gone',
    );
    const page3 = await listOrders({ limit: 4, cursor: page2.data!.nextCursor! });
    t.same(idsOf(page3), [lateId, ids[9]!], 'the order created after the cursor appears on a later page');
    t.same(itemsOf(page3)[0], late.data, 'as created');
    t.equal(page3.data?.nextCursor, null);
    const seen = [...idsOf(page1), ...idsOf(page2), ...idsOf(page3)];
    t.equal(new Set(seen).size, seen.length, 'no order twice');
    t.notOk(seen.includes(earlyId), 'an order created before the cursor is not returned later');

    const fresh = await walkOrders({ limit: 4 });
    const expected = [ids[0]!, ids[2]!, earlyId, ids[4]!, ids[5]!, ids[7]!, ids[8]!, lateId, ids[9]!];
    t.same(fresh.flatMap(idsOf), expected, 'a new walk sees the current orders only');
    t.same(fresh.flatMap(itemsOf), await ordersInDatabase(), 'the database agrees, field by field');
    const links = await db
      .selectFrom('order_services')
      .select('order_id')
      .where('order_id', 'in', [ids[1]!, ids[3]!, ids[6]!])
      .execute();
    t.same(links, [], 'deleted orders leave no service links');
  },
);

t.test('GET /services lists the catalogue by id with { data, nextCursor } keyset pagination', async (t) => {
  const added: number[] = [];
  t.teardown(async () => {
    if (added.length > 0) await db.deleteFrom('services').where('id', 'in', added).execute();
  });
  const seeded = await listServices();
  t.equal(seeded.response.status, 200);
  t.same(seeded.data, {
    data: [
      { id: 123, name: 'Inspection' },
      { id: 456, name: 'Analysis' },
      { id: 789, name: 'Testing' },
    ],
    nextCursor: null,
  });

  // Chosen ids out of order, and a few generated ones (1000000 and up).
  for (const id of [50, 900, 7, 300, 124, 999999, 1]) {
    const res = await client.POST('/services', { body: { id, name: `List test ${id}` } });
    t.equal(res.response.status, 201, `create service ${id}`);
    added.push(res.data!.id);
  }
  for (let i = 0; i < 3; i++) {
    const res = await client.POST('/services', { body: { name: `List test generated ${i}` } });
    t.equal(res.response.status, 201);
    t.ok(res.data!.id >= 1_000_000, 'generated id');
    added.push(res.data!.id);
  }
  const stored = (await db.selectFrom('services').select(['id', 'name']).orderBy('id').execute()).map((s) => ({
    id: s.id,
    name: s.name,
  }));
  t.equal(stored.length, 13);

  const all = await listServices({ limit: 100 });
  t.same(all.data, { data: stored, nextCursor: null }, 'ordered by id');
  const byDefault = await listServices();
  t.same(byDefault.data?.data, stored, 'default limit holds all 13');

  const pages = await walkServices({ limit: 4 });
  t.same(
    pages.map((p) => p.response.status),
    [200, 200, 200, 200],
  );
  t.same(
    pages.map((p) => p.data?.data.length),
    [4, 4, 4, 1],
    '13 services in pages of 4',
  );
  t.same(
    pages.map((p) => p.data?.nextCursor === null),
    [false, false, false, true],
  );
  t.same(pages.flatMap(itemsOf), stored, 'every service once, by id');

  const exact = await walkServices({ limit: 13 });
  t.equal(exact.length, 1, 'a page exactly the size of the catalogue is the last');
  t.equal(exact[0]?.data?.nextCursor, null);

  // Keyset: a service added after the cursor's position shows up on a later page.
  const first = await listServices({ limit: 4 });
  const later = await client.POST('/services', { body: { id: 125, name: 'List test 125' } });
  added.push(later.data!.id);
  const rest = await walkServices({ limit: 100, cursor: first.data!.nextCursor! });
  t.same(
    itemsOf(rest[0]!)
      .map((s) => s.id)
      .slice(0, 2),
    [124, 125],
    'the new service appears after the cursor',
  );

  for (const limit of [0, 101, -1, 1.5]) {
    isBadRequest(t, await listServices({ limit }), '/query/limit', `services limit=${JSON.stringify(String(limit))}`);
  }
  // raw: a limit that is not a number
  for (const limit of ['abc', '']) {
    isBadRequest(t, await rawList('/services', { limit }), '/query/limit', `services limit=${JSON.stringify(limit)}`);
  }
});

t.test('GET /services with a tampered cursor is 400 with errors[0].path /query/cursor', async (t) => {
  const real = (await listServices({ limit: 1 })).data!.nextCursor!;
  t.type(real, 'string');
  t.equal((await listServices({ limit: 1, cursor: real })).response.status, 200, 'the real cursor works');
  const before = await countRows(db, 'services');
  const tampered: Record<string, string> = {
    'first character flipped': real.slice(0, 1) === 'X' ? 'Y' + real.slice(1) : 'X' + real.slice(1),
    'a character appended': real + 'A',
    'random base64url garbage': randomBytes(24).toString('base64url'),
    'id 0': cursorOf([0]),
    'negative id': cursorOf([-1]),
    'fractional id': cursorOf([1.5]),
    'id as a string': cursorOf(['123']),
    'two elements': cursorOf([123, 1]),
    'JSON object': cursorOf({ id: 123 }),
    'empty array': cursorOf([]),
    'an orders cursor': cursorOf(['2030-01-01T00:00:00.000Z', '1000']),
    'longer than 200 characters': 'A'.repeat(201),
    'standard base64 with padding': Buffer.from('[123]').toString('base64') + '=',
    empty: '',
  };
  for (const [label, cursor] of Object.entries(tampered)) {
    isBadRequest(t, await listServices({ limit: 1, cursor }), '/query/cursor', label);
  }
  t.equal(await countRows(db, 'services'), before, 'nothing changed');
});

/** The statements a repository call sends, recorded on their way to the database. */
async function statementsOf(work: (recording: Db) => Promise<unknown>): Promise<CompiledQuery[]> {
  const recorded: CompiledQuery[] = [];
  const recording = new Proxy(db, {
    get(target, property) {
      if (property === 'executeQuery') {
        return (query: CompiledQuery) => {
          recorded.push(query);
          return target.executeQuery(query);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  await work(recording);
  return recorded;
}

/** EXPLAIN of the one statement the repository sends for a page of `query`, with its own parameters. */
async function pagePlan(query: OrderListQuery): Promise<string> {
  const statements = await statementsOf((recording) => listOrderRecords(recording, query));
  if (statements.length !== 1) throw new Error(`a page took ${statements.length} statements`);
  const [page] = statements as [CompiledQuery];
  const { rows } = await db.executeQuery<{ 'QUERY PLAN': string }>(
    CompiledQuery.raw(`EXPLAIN ${page.sql}`, [...page.parameters]),
  );
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}

t.test(
  'on both databases the list query is served by indexes: orders_datetime_id_idx feeds (datetime, id) pages without a sort; a rare serviceId starts from order_services_service_id_idx',
  async (t) => {
    const base = ownYear(t, 2040);
    const RARE = 4242;
    t.teardown(async () => {
      await db.deleteFrom('order_services').where('service_id', '=', RARE).execute();
      await db.deleteFrom('services').where('id', '=', RARE).execute();
    });
    const indexes = await sql<{ indexname: string; indexdef: string }>`
    SELECT indexname, indexdef FROM pg_indexes
    WHERE schemaname = current_schema() AND indexname IN ('orders_datetime_id_idx', 'order_services_service_id_idx')
    ORDER BY indexname`.execute(db);
    t.same(
      indexes.rows.map((r) => r.indexname),
      ['order_services_service_id_idx', 'orders_datetime_id_idx'],
      'both indexes exist',
    );
    t.match(
      indexes.rows[1]?.indexdef,
      /ON \S*orders USING btree \(datetime, id\)/,
      'orders index is on (datetime, id)',
    );
    t.match(
      indexes.rows[0]?.indexdef,
      /ON \S*order_services USING btree \(service_id, order_id\)/,
      'order_services index leads with service_id',
    );

    await db.insertInto('services').values({ id: RARE, name: 'Rarely ordered' }).execute();
    // Half the orders include 123, the other half 456 and 789; three include the rare service.
    const rare = new Set([10, 500, 1500]);
    const ids = await insertOrders(
      Array.from({ length: 2000 }, (_, i) => ({
        datetime: at(base, 3 * i),
        services: [...(i % 2 ? [123] : [456, 789]), ...(rare.has(i) ? [RARE] : [])],
      })),
    );
    t.equal(await countRows(db, 'orders'), 2000);
    // The middle of the list, through HTTP: after ten pages of 100, the eleventh holds the next 100.
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++)
      cursor = (await listOrders({ limit: 100, ...(cursor ? { cursor } : {}) })).data!.nextCursor ?? undefined;
    const middle = await listOrders({ limit: 100, cursor: cursor! });
    t.equal(middle.response.status, 200);
    t.same(idsOf(middle), ids.slice(1000, 1100));

    await sql`ANALYZE orders`.execute(db);
    await sql`ANALYZE order_services`.execute(db);
    // The repository's own statements (as the service sends them for a page of 50), explained.
    const after = { datetime: at(base, 3 * 999), id: ids[999]! };
    const pages: Record<string, OrderListQuery> = {
      'first page': { limit: 51 },
      'keyset page': { limit: 51, after },
      'keyset page within from/to': { limit: 51, after, from: at(base, 3 * 500), to: at(base, 3 * 1500) },
    };
    const plans: Record<string, string> = {};
    for (const [label, query] of Object.entries(pages)) {
      const text = (plans[label] = await pagePlan(query));
      // The caller's LIMIT over the page's constant cap (orders/queries.ts), over the index scan.
      t.match(
        text,
        /^Limit\b.*\n\s*->\s+(Subquery Scan on page\b.*\n\s*->\s+)?Limit\b.*\n\s*->\s+Index Scan using orders_datetime_id_idx on orders o\b/,
        `${label}: an Index Scan on orders_datetime_id_idx feeds the LIMITs directly (no sort)`,
      );
      t.notMatch(text, /Seq Scan on orders\b/, `${label}: no Seq Scan on orders`);
    }
    t.match(
      plans['keyset page'],
      /Index Cond: \(ROW\(datetime, id\) > ROW\(/,
      'the cursor position is an index condition, not a filter',
    );

    const common = await pagePlan({ limit: 51, after, serviceId: 123 });
    t.match(
      common,
      /Index Scan using orders_datetime_id_idx on orders o\b/,
      'a common serviceId still walks orders_datetime_id_idx',
    );
    t.notMatch(common, /^\s*(->\s+)?Sort\b/m, 'a common serviceId needs no sort');
    t.notMatch(
      common,
      /Seq Scan on (orders|order_services)\b/,
      'a common serviceId: no Seq Scan on orders or order_services',
    );

    const rarePlan = await pagePlan({ limit: 51, serviceId: RARE });
    t.match(
      rarePlan,
      /Scan (on|using) order_services_service_id_idx\b[^\n]*\n\s*Index Cond: \(service_id = /,
      'a rare serviceId is looked up in order_services_service_id_idx',
    );
    t.notMatch(
      rarePlan,
      /Seq Scan on (orders|order_services)\b/,
      'a rare serviceId: no Seq Scan on orders or order_services',
    );
    const rareListed = await listOrders({ serviceId: RARE });
    t.same(
      idsOf(rareListed),
      [...rare].map((i) => ids[i]!),
      'and the page holds exactly the orders with the rare service',
    );
  },
);
