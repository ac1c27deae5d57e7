import { sql } from 'kysely';
import t from 'tap';
import { allScopes } from '../../src/keys/model.js';
import { createApiKey } from '../../src/keys/use-cases.js';
import { openDatabase } from '../../src/db/database.js';
import { routedForService } from '../helpers/database.js';
import { seedCatalogue } from '../helpers/fixtures.js';
import { typedClient } from '../helpers/http.js';
import { assertNoPartialOrders } from './integrity.js';
import { freePorts, startServerProcess } from './processes.js';
import { startThrowawayPostgres, type StopMode } from './throwaway-postgres.js';

// Postgres stops under a steady write load and comes back, while one service process keeps running.
// The cluster is the test's own (test/reliability/throwaway-postgres.ts): the shared server on 5432
// is never stopped.

/** The promises this test holds the service to. */
const UNAVAILABLE_WITHIN_MS = 2_000; // while Postgres is down, every request is answered 503 this fast
const RECOVERED_WITHIN_MS = 5_000; // once it is back, 2xx again this soon, without a service restart

const WORKERS = 4;
const PAUSE_MS = 25; // between one worker's requests: a steady load, not a flood, on a 2-core machine
const REQUEST_TIMEOUT_MS = 15_000; // a hang shows up as a timeout, not as a stuck test
const SLOT_MS = 9 * 3600_000; // 9 h apart: distinct, never conflicting, no shared lock bucket
const BASE = Date.parse('2060-01-01T00:00:00Z');
const SERVICE_SETS = [[123], [123, 456], [123, 456, 789], [456, 789], [789]];

const slotDatetime = (slot: number) => new Date(BASE + slot * SLOT_MS).toISOString();
const slotServices = (slot: number) => SERVICE_SETS[slot % SERVICE_SETS.length]!;
const slotKey = (slot: number) => `restart-test-${slot}`;
const slotBody = (slot: number) => ({
  datetime: slotDatetime(slot),
  totalfee: 100 + (slot % 7),
  services: slotServices(slot).map((id) => ({ id })),
});

interface Outcome {
  slot: number;
  startedAt: number;
  endedAt: number;
  /** HTTP status, or what went wrong below HTTP. */
  status: number | 'network-error' | 'timeout' | 'contract-violation';
  problemType?: string;
  retryAfter?: string | null;
  id?: string;
  /** The answer was the stored first response to its Idempotency-Key. */
  replayed?: boolean;
  message?: string;
}

const cluster = await startThrowawayPostgres(t);
const databaseUrl = await cluster.createDatabase('orders');
const [port] = await freePorts(1);
// The first start migrates the empty database, as `make run` would.
const server = await startServerProcess(t, { databaseUrl: await routedForService(t, databaseUrl), port: port! });
const { db } = await openDatabase({ kind: 'postgres', url: databaseUrl }, { onIdleError: () => undefined });
t.teardown(() => db.destroy());
await seedCatalogue(db);
const { key } = await createApiKey(db, 'restart-test', allScopes);
const client = typedClient(server.url, key);

const outcomes: Outcome[] = [];
let nextSlot = 0;

async function create(slot: number): Promise<Outcome> {
  const startedAt = performance.now();
  try {
    const { data, error, response } = await client.POST('/orders', {
      body: slotBody(slot),
      params: { header: { 'Idempotency-Key': slotKey(slot) } },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    return {
      slot,
      startedAt,
      endedAt: performance.now(),
      status: response.status,
      problemType: error?.type,
      retryAfter: response.headers.get('retry-after'),
      id: data?.id,
      replayed: response.headers.get('idempotent-replayed') === 'true',
    };
  } catch (e) {
    const err = e as Error;
    const status =
      err.name === 'TimeoutError'
        ? 'timeout'
        : /breaks openapi/.test(err.message)
          ? 'contract-violation'
          : 'network-error';
    return {
      slot,
      startedAt,
      endedAt: performance.now(),
      status,
      message: `${err.message} ${String((err.cause as Error | undefined)?.message ?? '')}`,
    };
  }
}

/** Creates at distinct, non-conflicting times from WORKERS concurrent clients until stopped. */
function writeLoad() {
  let running = true;
  const workers = Array.from({ length: WORKERS }, async () => {
    while (running) {
      outcomes.push(await create(nextSlot++));
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(workers);
    },
  };
}

async function readiness(): Promise<{ status: number; ms: number; type?: string }> {
  const startedAt = performance.now();
  const { error, response } = await client.GET('/readyz', { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  return { status: response.status, ms: performance.now() - startedAt, type: error?.type };
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

/** "12×201, 30×503": how a list of outcomes went. */
function tally(list: Outcome[]): string {
  const counts = new Map<string, number>();
  for (const o of list) counts.set(String(o.status), (counts.get(String(o.status)) ?? 0) + 1);
  return [...counts].map(([status, n]) => `${n}×${status}`).join(', ') || 'none';
}

for (const mode of ['fast', 'immediate'] as const satisfies StopMode[]) {
  t.test(
    `Postgres stopped (${mode}) under a write load: 503 within ${UNAVAILABLE_WITHIN_MS} ms while it is down, 2xx within ${RECOVERED_WITHIN_MS} ms of its return, same process`,
    async (t) => {
      const first = outcomes.length;
      const load = writeLoad();
      try {
        t.ok(
          await until(() => outcomes.slice(first).filter((o) => o.status === 201).length >= 20, 20_000),
          'the load is being served before the fault',
        );

        const stopRequestedAt = performance.now();
        await cluster.stop(mode);
        const downAt = performance.now();

        // While down: the process is alive, not ready, and every request is refused quickly.
        t.equal((await client.GET('/healthz')).response.status, 200, 'liveness: the process itself is fine');
        // A readiness answer is reused for a second (src/health/readiness.ts): a 200 from before may still be served.
        await new Promise((resolve) => setTimeout(resolve, 1_100));
        const probes = [];
        while (performance.now() - downAt < 3_000) {
          probes.push(await readiness());
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        t.same(
          [...new Set(probes.map((p) => `${p.status} ${p.type}`))],
          ['503 /problems/unavailable'],
          `/readyz is 503 while Postgres is down (${probes.length} probes)`,
        );
        const slowestProbe = Math.max(...probes.map((p) => p.ms));
        t.ok(
          slowestProbe <= UNAVAILABLE_WITHIN_MS,
          `/readyz answers within ${UNAVAILABLE_WITHIN_MS} ms (slowest ${slowestProbe.toFixed(0)} ms)`,
        );

        const startRequestedAt = performance.now();
        await cluster.start();
        const upAt = performance.now();
        const recovered = await until(
          () => outcomes.some((o) => o.status === 201 && o.startedAt >= upAt),
          RECOVERED_WITHIN_MS + 5_000,
        );
        const firstSuccess = Math.min(
          ...outcomes.filter((o) => o.status === 201 && o.startedAt >= upAt).map((o) => o.endedAt),
        );
        const recoveryMs = firstSuccess - upAt;
        t.ok(
          recovered && recoveryMs <= RECOVERED_WITHIN_MS,
          `2xx again ${recoveryMs.toFixed(0)} ms after Postgres accepted connections (limit ${RECOVERED_WITHIN_MS} ms)`,
        );
        // A readiness answer is reused for a second (src/health/readiness.ts): the last 503 may still be served.
        let ready = await readiness();
        for (const deadline = performance.now() + 2_000; ready.status !== 200 && performance.now() < deadline;) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          ready = await readiness();
        }
        t.equal(ready.status, 200, '/readyz is 200 again');
        await until(() => outcomes.filter((o) => o.status === 201 && o.startedAt >= upAt).length >= 20, 5_000);
        await load.stop();

        const round = outcomes.slice(first);
        const whileDown = round.filter((o) => o.startedAt >= downAt && o.endedAt <= startRequestedAt);
        const startedDown = round.filter((o) => o.startedAt >= downAt && o.startedAt < startRequestedAt);
        const acrossStop = round.filter((o) => o.startedAt < downAt && o.endedAt > stopRequestedAt);
        t.comment(
          `${mode} stop took ${(downAt - stopRequestedAt).toFixed(0)} ms, down ${(startRequestedAt - downAt).toFixed(0)} ms, start took ${(upAt - startRequestedAt).toFixed(0)} ms; ` +
            `round: ${tally(round)}; in flight at the stop: ${tally(acrossStop)}; while down: ${tally(whileDown)}, ` +
            `slowest answer while down ${Math.max(...startedDown.map((o) => o.endedAt - o.startedAt)).toFixed(0)} ms; 2xx again after ${recoveryMs.toFixed(0)} ms`,
        );

        const broken = round.filter((o) => typeof o.status !== 'number' || (o.status >= 500 && o.status !== 503));
        t.same(broken, [], 'no 500, no dropped connection, no timeout, no contract violation at any point');
        t.same(
          [...new Set(round.map((o) => o.status))].sort(),
          [201, 503],
          'every request is either created (201) or refused as unavailable (503)',
        );
        t.ok(whileDown.length >= 10, `requests were sent while Postgres was down (${whileDown.length})`);
        t.same(
          whileDown.filter((o) => o.status !== 503 || o.problemType !== '/problems/unavailable' || !o.retryAfter),
          [],
          'while down: every request is a 503 /problems/unavailable problem with Retry-After',
        );
        const slow = startedDown.filter((o) => o.endedAt - o.startedAt > UNAVAILABLE_WITHIN_MS);
        t.same(
          slow.map((o) => `${o.status} after ${(o.endedAt - o.startedAt).toFixed(0)} ms`),
          [],
          `while down: every request is answered within ${UNAVAILABLE_WITHIN_MS} ms`,
        );
        t.same(
          round.filter((o) => o.status === 503 && o.problemType !== '/problems/unavailable'),
          [],
          'every 503 is the unavailable problem',
        );
        const hungAcrossStop = round.filter((o) => o.startedAt < downAt && o.endedAt > downAt + UNAVAILABLE_WITHIN_MS);
        t.same(
          hungAcrossStop.map((o) => `${o.status} after ${(o.endedAt - o.startedAt).toFixed(0)} ms`),
          [],
          `requests in flight at the stop are answered within ${UNAVAILABLE_WITHIN_MS} ms of Postgres being gone`,
        );

        const afterRecovery = round.filter((o) => o.startedAt >= firstSuccess);
        t.same(
          afterRecovery.filter((o) => o.status !== 201).map((o) => o.status),
          [],
          `once it answers 2xx again, it keeps doing so (${tally(afterRecovery)}): no broken connection left in the pool`,
        );

        t.equal(server.child.exitCode, null, 'the service process never exited');
        t.equal(server.child.signalCode, null);
      } finally {
        await load.stop();
      }
    },
  );
}

t.test(
  'afterwards: every acknowledged order is stored whole, and retrying the 503s with their Idempotency-Key completes every request exactly once',
  async (t) => {
    const acknowledged = outcomes.filter((o) => o.status === 201);
    const stored = await db
      .selectFrom('orders')
      .select([sql<string>`id::text`.as('id'), 'datetime'])
      .execute();
    const storedById = new Map(stored.map((o) => [o.id, o.datetime]));
    t.same(
      acknowledged.filter((o) => storedById.get(o.id!) !== slotDatetime(o.slot)).map((o) => o.id),
      [],
      `all ${acknowledged.length} orders acknowledged with 201 are stored, by id, at their datetime`,
    );
    await assertOrdersWhole(t);

    // A client that retries what was refused, with the same key, ends with exactly one order per request.
    const refused = outcomes.filter((o) => o.status !== 201);
    const retries: Outcome[] = [];
    for (let i = 0; i < refused.length; i += 8) {
      retries.push(...(await Promise.all(refused.slice(i, i + 8).map((o) => create(o.slot)))));
    }
    t.same(
      [...new Set(retries.map((r) => r.status))].filter((s) => s !== 201),
      [],
      `all ${retries.length} retries are 201`,
    );
    const bySlot = await db
      .selectFrom('orders')
      .select(['datetime', sql<number>`count(*)::int`.as('n')])
      .groupBy('datetime')
      .execute();
    t.equal(bySlot.length, nextSlot, `one order per request sent (${nextSlot})`);
    t.same(
      bySlot.filter((r) => r.n !== 1),
      [],
      'and never two for the same request',
    );
    await assertOrdersWhole(t);
    t.comment(
      `requests: ${outcomes.length} (${tally(outcomes)}); retried ${refused.length}: ${retries.filter((r) => r.replayed).length} replayed a 201 whose answer had been lost, ${retries.filter((r) => !r.replayed).length} created afresh`,
    );
  },
);

/** No order without its services, no service link without its order, and each order has the services asked for. */
async function assertOrdersWhole(t: Test): Promise<void> {
  await assertNoPartialOrders(t, db);
  const { rows } = await sql<{ datetime: string; services: number[] }>`
    SELECT o.datetime, array_agg(os.service_id ORDER BY os.service_id) AS services
    FROM orders o JOIN order_services os ON os.order_id = o.id GROUP BY o.id, o.datetime`.execute(db);
  const wrong = rows.filter((r) => {
    const slot = Math.round((Date.parse(r.datetime) - BASE) / SLOT_MS);
    return JSON.stringify(r.services) !== JSON.stringify(slotServices(slot));
  });
  t.same(wrong, [], 'each order has exactly the services it was created with');
}
