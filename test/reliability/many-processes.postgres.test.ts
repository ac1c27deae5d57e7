import { get } from 'node:http';
import t from 'tap';
import { sql } from 'kysely';
import { allScopes } from '../../src/keys/model.js';
import { createApiKey } from '../../src/keys/use-cases.js';
import type { OrdersClient } from '../../src/client.js';
import { countRows, freshDatabase } from '../helpers/database.js';
import { seedCatalogue } from '../helpers/fixtures.js';
import { typedClient } from '../helpers/http.js';
import { freePorts, startServerProcess, type ServerProcess } from './processes.js';

// The 3-hour rule, idempotent retries and the version checks hold across server processes that
// share nothing but Postgres: three separate `src/server.ts` processes on one database, requests
// spread round-robin over them, and then one process running two node:cluster workers.

const { db, target } = await freshDatabase(t);
if (target.kind !== 'postgres') throw new Error('this test needs the Postgres suite');
await seedCatalogue(db);
const { key } = await createApiKey(db, 'many-processes', allScopes);

const HOUR = 3_600_000;
const MINUTE = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();
const serviceSets = [[123], [456], [789], [123, 456], [456, 789], [123, 456, 789]];

/** The `t` a subtest callback receives. */
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

const servers = await Promise.all(
  (await freePorts(3)).map((port) => startServerProcess(t, { databaseUrl: target.url, port })),
);
const clients = servers.map((s) => typedClient(s.url, key));
/** Round-robin: request i goes to process i mod 3. */
const clientFor = (i: number) => clients[i % clients.length]!;

/** Opens each process's connections and caches the key, so a race starts with every process warm. */
async function warm(all: OrdersClient[]): Promise<void> {
  await Promise.all(
    all.flatMap((c) => Array.from({ length: 10 }, () => c.GET('/orders', { params: { query: { limit: 1 } } }))),
  );
}

interface StoredOrder {
  id: string;
  datetime: string;
  totalfee: string;
  version: number;
  updatedAt: string;
  updatedBy: string | null;
  services: number[];
}

/** Orders with datetime in [from, to), straight from the database, with their service links. */
async function storedBetween(from: number, to: number): Promise<StoredOrder[]> {
  const rows = await db
    .selectFrom('orders as o')
    .select([
      sql<string>`o.id::text`.as('id'),
      'o.datetime',
      'o.totalfee',
      'o.version',
      'o.updated_at',
      'o.updated_by',
      sql<
        number[]
      >`(SELECT coalesce(array_agg(service_id ORDER BY service_id), '{}') FROM order_services WHERE order_id = o.id)`.as(
        'services',
      ),
    ])
    .where('o.datetime', '>=', sql<string>`${iso(from)}::timestamptz`)
    .where('o.datetime', '<', sql<string>`${iso(to)}::timestamptz`)
    .orderBy('o.datetime')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    datetime: r.datetime,
    totalfee: r.totalfee,
    version: r.version,
    updatedAt: r.updated_at,
    updatedBy: r.updated_by,
    services: r.services,
  }));
}

/** What a stored order is, without the timestamps a test cannot predict. */
function essentials({ id, datetime, totalfee, version, services }: StoredOrder) {
  return { id, datetime, totalfee, version, services };
}

/**
 * `n` creates at once, all within 2 hours of `start` (so any two are less than 3 hours apart),
 * spread round-robin over `targets`: exactly one 201, every other a 409 naming it, no 5xx, and the
 * database holds the winner, with its own request's services, and nothing else in the window.
 */
async function createRace(t: Tap, targets: OrdersClient[], start: number, n: number) {
  const requests = Array.from({ length: n }, (_, i) => ({
    datetime: iso(start + Math.floor((i * 120 * MINUTE) / n)),
    totalfee: i + 1,
    services: serviceSets[i % serviceSets.length]!.map((id) => ({ id })),
  }));
  const linksBefore = await countRows(db, 'order_services');

  const results = await Promise.all(requests.map((body, i) => targets[i % targets.length]!.POST('/orders', { body })));

  const statuses = results.map((r) => r.response.status);
  t.same(
    statuses.filter((s) => s !== 201 && s !== 409),
    [],
    `only 201 and 409, no 5xx (got ${JSON.stringify(statuses)})`,
  );
  const winners = results.flatMap((r, i) => (r.response.status === 201 ? [{ i, order: r.data! }] : []));
  t.equal(winners.length, 1, 'exactly one 201');
  t.equal(statuses.filter((s) => s === 409).length, n - 1, `${n - 1}× 409`);
  const winner = winners[0];
  if (!winner) return undefined;
  const losers = results.filter((r) => r.response.status === 409);
  t.same(
    [...new Set(losers.map((r) => r.error?.conflictingOrderId))],
    [winner.order.id],
    'every 409 names the winner as the conflicting order',
  );
  t.same([...new Set(losers.map((r) => r.error?.conflictingDatetime))], [winner.order.datetime], 'and its datetime');

  const request = requests[winner.i]!;
  t.same(
    (await storedBetween(start - 3 * HOUR, start + 5 * HOUR)).map(essentials),
    [
      {
        id: winner.order.id,
        datetime: request.datetime,
        totalfee: `${request.totalfee}.00`,
        version: 1,
        services: request.services.map((s) => s.id),
      },
    ],
    'the database holds exactly the winner in the window, with its own services',
  );
  t.equal(
    await countRows(db, 'order_services'),
    linksBefore + request.services.length,
    'and no stray service links from the refused requests',
  );
  return { winner, statuses };
}

/** GET on a connection of its own, so node:cluster hands each request to the next worker. */
function getOnNewConnection(server: ServerProcess, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = get(
      { host: '127.0.0.1', port: server.port, path, agent: false, headers: { authorization: `Bearer ${key}` } },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    request.on('error', reject);
  });
}

interface LogLine {
  level?: number;
  pid?: number;
  role?: string;
  operationId?: string;
  statusCode?: number;
  msg?: string;
}

function logLines(server: ServerProcess): LogLine[] {
  return server.output.flatMap((line) => {
    try {
      return [JSON.parse(line) as LogLine];
    } catch {
      return [];
    }
  });
}

/** Waits (bounded) until `check` holds for the process's log, which arrives asynchronously. */
async function untilLogged(
  server: ServerProcess,
  check: (lines: LogLine[]) => boolean,
  timeoutMs = 15_000,
): Promise<LogLine[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = logLines(server);
    if (check(lines) || Date.now() > deadline) return lines;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Resolves with `value` after `ms` without keeping the process alive. */
function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms).unref());
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test(
  '60 concurrent overlapping creates spread over 3 processes: 1×201, 59×409 naming the winner, no 5xx (4 rounds)',
  async (t) => {
    for (let round = 0; round < 4; round++) {
      const start = Date.parse(`2036-03-0${round + 1}T09:00:00.000Z`);
      await warm(clients);
      await t.test(`round ${round + 1}`, async (t) => void (await createRace(t, clients, start, 60)));
    }
    for (const [i, server] of servers.entries()) {
      const answered = (lines: LogLine[]) =>
        lines.filter((l) => l.operationId === 'createOrder' && (l.statusCode === 201 || l.statusCode === 409)).length;
      t.equal(
        answered(await untilLogged(server, (lines) => answered(lines) >= 80)),
        80,
        `process ${i + 1} answered its 20 creates of each round itself`,
      );
    }
  },
);

t.test(
  'concurrent replaces moving 30 orders into one window, spread over 3 processes: 1×200, 29×409, losers unchanged (2 rounds)',
  async (t) => {
    for (let round = 0; round < 2; round++) {
      await t.test(`round ${round + 1}`, async (t) => {
        const n = 30;
        // Existing orders one day apart, created through the three processes.
        const first = Date.parse(`2036-0${5 + 2 * round}-01T12:00:00.000Z`);
        const created = await Promise.all(
          Array.from({ length: n }, (_, i) =>
            clientFor(i).POST('/orders', {
              body: { datetime: iso(first + i * 24 * HOUR), totalfee: 10, services: [{ id: 123 }, { id: 789 }] },
            }),
          ),
        );
        t.same(
          created.map((c) => c.response.status),
          created.map(() => 201),
          'the orders to move exist',
        );
        const orders = created.map((c) => ({ order: c.data!, etag: c.response.headers.get('etag')! }));
        const before = new Map((await storedBetween(first, first + n * 24 * HOUR)).map((o) => [o.id, o]));
        t.equal(before.size, n);

        // All moved at once into one window on the 20th of the month after, within 87 minutes.
        const window = Date.parse(`2036-0${6 + 2 * round}-20T12:00:00.000Z`);
        await warm(clients);
        const results = await Promise.all(
          orders.map(({ order, etag }, i) =>
            clientFor(i).PUT('/orders/{orderId}', {
              params: { path: { orderId: order.id }, header: { 'If-Match': etag } },
              body: { datetime: iso(window + i * 3 * MINUTE), totalfee: 1, services: [{ id: 456 }] },
            }),
          ),
        );

        const statuses = results.map((r) => r.response.status);
        t.same(
          statuses.filter((s) => s !== 200 && s !== 409),
          [],
          `only 200 and 409, no 5xx (got ${JSON.stringify(statuses)})`,
        );
        t.equal(statuses.filter((s) => s === 200).length, 1, 'exactly one 200');
        t.equal(statuses.filter((s) => s === 409).length, n - 1, `${n - 1}× 409`);
        const w = statuses.indexOf(200);
        if (w < 0) return;
        const winnerId = orders[w]!.order.id;
        t.same(
          [...new Set(results.filter((r) => r.response.status === 409).map((r) => r.error?.conflictingOrderId))],
          [winnerId],
          'every 409 names the winner',
        );

        t.same(
          (await storedBetween(window - 3 * HOUR, window + 5 * HOUR)).map(essentials),
          [{ id: winnerId, datetime: iso(window + w * 3 * MINUTE), totalfee: '1.00', version: 2, services: [456] }],
          'only the winner moved into the window, with its new services',
        );
        const after = await storedBetween(first, first + n * 24 * HOUR);
        t.equal(after.length, n - 1, 'every other order is still on its own day');
        for (const order of after)
          t.same(
            order,
            before.get(order.id),
            `order ${order.id} is unchanged (datetime, fee, version, updatedAt, services)`,
          );
      });
    }
  },
);

t.test(
  'the same Idempotency-Key and body sent concurrently, then again, to the 3 processes: one order, the same 201 every time',
  async (t) => {
    for (let round = 0; round < 2; round++) {
      await t.test(`round ${round + 1}`, async (t) => {
        const datetime = `2036-09-0${round + 1}T10:00:00.000Z`;
        const idempotencyKey = `many-processes-${round}-${Date.now()}`;
        const send = (i: number) =>
          clientFor(i).POST('/orders', {
            params: { header: { 'Idempotency-Key': idempotencyKey } },
            body: { datetime, totalfee: 42.5, services: [{ id: 789 }, { id: 123 }] },
          });
        await warm(clients);

        const concurrent = await Promise.all(Array.from({ length: 12 }, (_, i) => send(i)));
        const sequential = [];
        for (let i = 0; i < 3; i++) sequential.push(await send(i));
        const all = [...concurrent, ...sequential];

        t.same(
          all.map((r) => r.response.status),
          all.map(() => 201),
          'every response is 201',
        );
        const original = all.filter((r) => r.response.headers.get('idempotent-replayed') === null);
        t.equal(original.length, 1, 'exactly one did the work');
        t.same(
          all
            .filter((r) => r.response.headers.get('idempotent-replayed') !== null)
            .map((r) => r.response.headers.get('idempotent-replayed')),
          all.slice(1).map(() => 'true'),
          'every other is a replay, marked Idempotent-Replayed: true',
        );
        t.equal(
          sequential.filter((r) => r.response.headers.get('idempotent-replayed') === 'true').length,
          3,
          'including the later, sequential ones',
        );
        const first = original[0];
        if (!first) return;
        for (const r of all) {
          t.same(r.data, first.data, 'the same body');
          t.equal(r.response.headers.get('location'), `/orders/${first.data!.id}`, 'the same Location');
          t.equal(r.response.headers.get('etag'), first.response.headers.get('etag'), 'the same ETag');
        }
        const day = Date.parse(datetime);
        t.same(
          (await storedBetween(day - 12 * HOUR, day + 12 * HOUR)).map(essentials),
          [{ id: first.data!.id, datetime, totalfee: '42.50', version: 1, services: [123, 789] }],
          'exactly one order was created',
        );
        const { rows } = await sql<{
          n: string;
        }>`SELECT count(*) AS n FROM idempotency_keys WHERE key = ${idempotencyKey} AND status_code = 201`.execute(db);
        t.equal(Number(rows[0]!.n), 1, 'one stored response for the key');
      });
    }
  },
);

t.test('the three processes logged no error and shut down cleanly on SIGTERM', async (t) => {
  for (const [i, server] of servers.entries()) {
    const errors = logLines(server).filter((l) => (l.level ?? 0) >= 50);
    t.same(errors, [], `process ${i + 1} logged no error (level >= 50)`);
  }
  const exits = await Promise.all(servers.map((s) => s.stop('SIGTERM')));
  t.same(
    exits,
    servers.map(() => ({ code: 0, signal: null })),
    'each exits 0',
  );
});

t.test(
  'WORKERS=2: both workers serve, the 3-hour rule still gives one 201, and SIGTERM to the primary ends the group with 0',
  async (t) => {
    const [port] = await freePorts(1);
    const server = await startServerProcess(t, { databaseUrl: target.url, port: port!, env: { WORKERS: '2' } });
    const primary = server.child.pid!;
    const workerPids = (lines: LogLine[]) => [
      ...new Set(lines.filter((l) => l.operationId !== undefined && l.pid !== primary).map((l) => l.pid!)),
    ];

    // Until the second worker listens the first takes every connection: ask until both answered.
    const deadline = Date.now() + 30_000;
    let lines = logLines(server);
    for (let sent = 6; workerPids(lines).length < 2 && Date.now() < deadline; sent += 6) {
      const statuses = await Promise.all(
        Array.from({ length: 6 }, () => getOnNewConnection(server, '/orders?limit=1')),
      );
      t.same([...new Set(statuses)], [200], 'listOrders answers 200');
      lines = await untilLogged(server, (l) => l.filter((x) => x.operationId === 'listOrders').length >= sent, 2_000);
    }
    const pids = workerPids(lines);
    t.equal(pids.length, 2, `two worker processes served requests (pids ${pids.join(', ')}; primary ${primary})`);
    t.ok(
      lines.some((l) => l.role === 'primary' && l.pid === primary),
      'the primary logs as the supervisor',
    );

    const client = typedClient(server.url, key);
    await warm([client]);
    const createsBefore = logLines(server).filter((l) => l.operationId === 'createOrder').length;
    const race = await createRace(t, [client], Date.parse('2037-01-10T09:00:00.000Z'), 40);
    t.ok(race, 'the race had a single winner');
    const createLines = (
      await untilLogged(server, (l) => l.filter((x) => x.operationId === 'createOrder').length >= createsBefore + 40)
    )
      .filter((l) => l.operationId === 'createOrder')
      .slice(createsBefore);
    t.equal(createLines.length, 40, 'every create was logged');
    t.same(
      [...new Set(createLines.map((l) => l.pid))].sort(),
      [...pids].sort(),
      'the racing creates were served by both workers',
    );
    t.same(
      createLines.map((l) => l.statusCode).sort(),
      race?.statuses.slice().sort(),
      'the logged statuses are the answered ones',
    );

    const exit = await Promise.race([server.stop('SIGTERM'), delay(20_000, 'still running after 20 s')]);
    t.same(exit, { code: 0, signal: null }, 'the primary exits 0 once its workers have drained');
    t.same(pids.filter(isAlive), [], 'and no worker is left behind');
    t.notOk(
      logLines(server).some((l) => l.msg?.includes('replacement')),
      'no worker was restarted during shutdown',
    );
    t.same(
      logLines(server).filter((l) => (l.level ?? 0) >= 50),
      [],
      'no process of the group logged an error',
    );
  },
);
