import { sql } from 'kysely';
import t from 'tap';
import { allScopes } from '../../src/keys/model.js';
import { createApiKey } from '../../src/keys/use-cases.js';
import type { OrdersClient } from '../../src/client.js';
import { freshDatabase } from '../helpers/database.js';
import { seedCatalogue } from '../helpers/fixtures.js';
import { typedClient } from '../helpers/http.js';
import { assertNoPartialOrders } from './integrity.js';
import { freePorts, startServerProcess } from './processes.js';

// A server process is SIGKILLed in the middle of a write load (creates with 1–3 services, replaces
// that move an order and change its services); a new process starts on the same database. Nothing
// may be half-written, nothing acknowledged may be lost, and the new process simply works.

const WORKERS = 6;
const REQUEST_TIMEOUT_MS = 15_000;
const SLOT_MS = 9 * 3600_000; // every write gets its own time: distinct, never conflicting
const BASE = Date.parse('2070-01-01T00:00:00Z');
const CATALOGUE = [123, 456, 789];

/** What an order looks like, as the test compares it: datetime, fee and sorted service ids. */
interface OrderState {
  datetime: string;
  totalfee: number;
  services: number[];
}

type Answer = 'acknowledged' | 'refused' | 'unknown';

interface Write {
  kind: 'create' | 'replace';
  /** For a create, known once acknowledged. */
  orderId?: string;
  state: OrderState;
  idempotencyKey?: string;
  answer?: Answer;
  status?: number;
  message?: string;
}

/** A small seeded generator, so a failing run can be told apart from another (the seed is printed). */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const seed = Date.now() % 1_000_000;
const random = prng(seed);

let nextSlot = 0;
function newState(): OrderState {
  const services = CATALOGUE.filter(() => random() < 0.5);
  if (services.length === 0) services.push(CATALOGUE[Math.floor(random() * CATALOGUE.length)]!);
  return {
    datetime: new Date(BASE + nextSlot++ * SLOT_MS).toISOString(),
    totalfee: Math.round(random() * 100_000) / 100,
    services,
  };
}
const bodyOf = (state: OrderState) => ({
  datetime: state.datetime,
  totalfee: state.totalfee,
  services: state.services.map((id) => ({ id })),
});
const same = (a: OrderState, b: OrderState) =>
  a.datetime === b.datetime && a.totalfee === b.totalfee && a.services.join() === b.services.join();
const show = (s: OrderState) => `${s.datetime} ${s.totalfee} [${s.services.join(',')}]`;

function answerOf(status: number): Answer {
  return status === 200 || status === 201 ? 'acknowledged' : 'refused';
}

async function send(client: OrdersClient, write: Write): Promise<void> {
  const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  try {
    if (write.kind === 'create') {
      const { data, response } = await client.POST('/orders', {
        body: bodyOf(write.state),
        params: { header: { 'Idempotency-Key': write.idempotencyKey! } },
        signal,
      });
      write.status = response.status;
      write.orderId = data?.id;
    } else {
      const { response } = await client.PUT('/orders/{orderId}', {
        params: { path: { orderId: write.orderId! } },
        body: bodyOf(write.state),
        signal,
      });
      write.status = response.status;
    }
    write.answer = answerOf(write.status);
  } catch (error) {
    write.answer = 'unknown'; // the connection died with the process: the outcome is not known
    write.message = (error as Error).message;
  }
}

const { db, target } = await freshDatabase(t);
if (target.kind !== 'postgres') throw new Error('this test needs the Postgres suite (TEST_DATABASE=postgres)');
await seedCatalogue(db);
const { key } = await createApiKey(db, 'kill-test', allScopes);
const [port] = await freePorts(1);

t.test(
  'SIGKILL mid-load, then a new process on the same database: no partial order, every acknowledged write kept, and it works',
  async (t) => {
    t.comment(`seed ${seed}`);
    const first = await startServerProcess(t, { databaseUrl: target.url, port: port! });
    const client = typedClient(first.url, key);

    const writes: Write[] = [];
    /** Acknowledged orders nobody is writing to right now, by id, with their last acknowledged state. */
    const idle = new Map<string, OrderState>();
    let running = true;
    let inFlight = 0;
    const workers = Array.from({ length: WORKERS }, async (_, worker) => {
      for (let i = 0; running; i++) {
        const ids = [...idle.keys()];
        let write: Write;
        if (ids.length > 0 && random() < 0.4) {
          const orderId = ids[Math.floor(random() * ids.length)]!;
          idle.delete(orderId);
          write = { kind: 'replace', orderId, state: newState() };
        } else {
          write = { kind: 'create', state: newState(), idempotencyKey: `kill-test-${worker}-${i}` };
        }
        writes.push(write);
        inFlight++;
        await send(client, write);
        inFlight--;
        if (write.answer === 'acknowledged') idle.set(write.orderId!, write.state);
        else if (write.kind === 'replace' && write.answer === 'refused')
          idle.set(write.orderId!, lastAcknowledged(writes, write.orderId!)!);
      }
    });

    const acknowledged = () => writes.filter((w) => w.answer === 'acknowledged');
    const deadline = Date.now() + 30_000;
    while (
      !(acknowledged().length >= 60 && acknowledged().filter((w) => w.kind === 'replace').length >= 15) &&
      Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Kill while the service has transactions open in Postgres, so some writes die half-way.
    let openAtKill = 0;
    for (let attempt = 0; attempt < 200 && openAtKill < 2; attempt++) openAtKill = await openServiceTransactions();
    const inFlightAtKill = inFlight;
    running = false;
    const killed = await first.stop('SIGKILL');
    await Promise.all(workers);
    t.equal(killed.signal, 'SIGKILL', 'the first process was killed');
    t.ok(inFlightAtKill > 0, `writes were in flight at the kill (${inFlightAtKill})`);
    t.ok(openAtKill > 0, `the service had transactions open in Postgres just before the kill (${openAtKill})`);
    const unknown = writes.filter((w) => w.answer === 'unknown');
    t.same(
      writes.filter((w) => w.answer === 'refused').map((w) => `${w.kind} ${w.status}`),
      [],
      'before the kill every write succeeded',
    );
    t.comment(
      `${writes.length} writes: ${acknowledged().length} acknowledged (${acknowledged().filter((w) => w.kind === 'create').length} creates, ` +
        `${acknowledged().filter((w) => w.kind === 'replace').length} replaces), ${unknown.length} cut off by the kill ` +
        `(${unknown.filter((w) => w.kind === 'create').length} creates, ${unknown.filter((w) => w.kind === 'replace').length} replaces)`,
    );

    // The database as the killed process left it, before anything else touches it.
    await assertNoPartialOrders(t, db);
    const stored = await storedOrders();
    const acknowledgedCreates = acknowledged().filter((w) => w.kind === 'create');
    const lostOrWrong = acknowledgedCreates.flatMap((write) => {
      const order = stored.get(write.orderId!);
      const candidates = possibleStates(writes, write.orderId!);
      return order && candidates.some((c) => same(c, order))
        ? []
        : [{ id: write.orderId, stored: order && show(order), candidates: candidates.map(show) }];
    });
    t.same(
      lostOrWrong,
      [],
      `all ${acknowledgedCreates.length} acknowledged orders are stored, each as last acknowledged or as a cut-off replace left it`,
    );
    const acknowledgedIds = new Set(acknowledgedCreates.map((w) => w.orderId!));
    const unknownCreates = unknown.filter((w) => w.kind === 'create');
    const unexplained = [...stored].filter(
      ([id, order]) => !acknowledgedIds.has(id) && !unknownCreates.some((w) => same(w.state, order)),
    );
    t.same(unexplained, [], 'any other stored order is exactly what a cut-off create asked for');
    const unknownReplaces = unknown.filter((w) => w.kind === 'replace');
    const committedReplaces = unknownReplaces.filter(
      (w) => stored.has(w.orderId!) && same(stored.get(w.orderId!)!, w.state),
    ).length;
    t.comment(
      `after the kill: ${stored.size} orders stored; of the cut-off writes, ${stored.size - acknowledgedCreates.length}/${unknownCreates.length} creates ` +
        `and ${committedReplaces}/${unknownReplaces.length} replaces had committed, the rest rolled back whole`,
    );

    // A new process on the same database and port.
    const second = await startServerProcess(t, { databaseUrl: target.url, port: port! });
    const after = typedClient(second.url, key);
    t.equal((await after.GET('/readyz')).response.status, 200, 'the new process is ready');

    // A cut-off create, retried with its Idempotency-Key, completes exactly once.
    for (const write of unknownCreates) {
      const retry: Write = { ...write, answer: undefined, status: undefined, orderId: undefined };
      await send(after, retry);
      t.equal(retry.status, 201, `retrying cut-off create ${write.idempotencyKey} with its key: 201`);
      const matches = [...(await storedOrders()).values()].filter((o) => same(o, write.state));
      t.equal(matches.length, 1, 'and exactly one such order exists');
    }
    // A cut-off replace left the order in one state or the other; replacing it again works.
    for (const write of unknown.filter((w) => w.kind === 'replace')) {
      const { data, response } = await after.GET('/orders/{orderId}', {
        params: { path: { orderId: write.orderId! } },
      });
      t.equal(response.status, 200, `order ${write.orderId}, cut off mid-replace, is readable`);
      const read = {
        datetime: data!.datetime,
        totalfee: data!.totalfee,
        services: data!.services.map((s) => s.id).sort((a, b) => a - b),
      };
      t.ok(
        possibleStates(writes, write.orderId!).some((c) => same(c, read)),
        'in its old or its new state, whole',
        { read: show(read) },
      );
      const again: Write = { kind: 'replace', orderId: write.orderId!, state: newState() };
      await send(after, again);
      t.equal(again.status, 200, 'and it can be replaced again');
    }
    // And ordinary work goes on.
    const created: Write = { kind: 'create', state: newState(), idempotencyKey: 'kill-test-after' };
    await send(after, created);
    t.equal(created.status, 201, 'a new order can be created');
    const moved: Write = { kind: 'replace', orderId: created.orderId!, state: newState() };
    await send(after, moved);
    t.equal(moved.status, 200, 'and replaced');
    const list = await after.GET('/orders', { params: { query: { limit: 100 } } });
    t.equal(list.response.status, 200, 'orders can be listed');
    await assertNoPartialOrders(t, db);
    t.equal(second.child.exitCode, null, 'the new process is still running');
  },
);

/** The last acknowledged state of an order, if any. */
function lastAcknowledged(writes: Write[], orderId: string): OrderState | undefined {
  return writes.filter((w) => w.orderId === orderId && w.answer === 'acknowledged').at(-1)?.state;
}

/** The states an order may be in: its last acknowledged one, or that of a write cut off since. */
function possibleStates(writes: Write[], orderId: string): OrderState[] {
  const mine = writes.filter((w) => w.orderId === orderId);
  const lastAck = mine.findLastIndex((w) => w.answer === 'acknowledged');
  return [
    ...(lastAck >= 0 ? [mine[lastAck]!.state] : []),
    ...mine
      .slice(lastAck + 1)
      .filter((w) => w.answer === 'unknown')
      .map((w) => w.state),
  ];
}

async function storedOrders(): Promise<Map<string, OrderState>> {
  const { rows } = await sql<{ id: string; datetime: string; totalfee: string; services: number[] | null }>`
    SELECT o.id::text AS id, o.datetime, o.totalfee::text AS totalfee,
      (SELECT array_agg(os.service_id ORDER BY os.service_id) FROM order_services os WHERE os.order_id = o.id) AS services
    FROM orders o`.execute(db);
  return new Map(
    rows.map((r) => [r.id, { datetime: r.datetime, totalfee: Number(r.totalfee), services: r.services ?? [] }]),
  );
}

/** Transactions the service process has open right now (the test's own connections excluded). */
async function openServiceTransactions(): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = 'orders-service' AND xact_start IS NOT NULL AND pid <> pg_backend_pid()`.execute(
    db,
  );
  return rows[0]!.n;
}
