import http from 'node:http';
import { connect } from 'node:net';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { timestamptzAsIsoText } from '../../src/db/instants.js';
import pg from 'pg';
import t from 'tap';
import { allScopes } from '../../src/keys/model.js';
import { createApiKey } from '../../src/keys/use-cases.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import type { Database } from '../../src/db/schema.js';
import { contractViolations } from '../helpers/contract.js';
import { freshDatabaseTarget } from '../helpers/database.js';
import { seedCatalogue } from '../helpers/fixtures.js';
import { typedClient } from '../helpers/http.js';
import { freePorts, startServerProcess } from './processes.js';

// SIGTERM while requests are in flight. Those requests are made slow on purpose: the test holds the
// advisory lock a create queues on (src/orders/queries.ts, scheduleWindowQueue) or the row
// lock a replace takes, so they are still waiting inside Postgres when the signal arrives.

/** Advisory lock space and bucket width of scheduleWindowQueue in src/orders/queries.ts. */
const SCHEDULE_LOCK_SPACE = 30301;
const BUCKET_SECONDS = 10_800;
const bucketOf = (datetime: string) => Math.floor(Date.parse(datetime) / 1000 / BUCKET_SECONDS);

const target = await freshDatabaseTarget(t);
if (target.kind !== 'postgres') throw new Error('this test needs the Postgres suite (TEST_DATABASE=postgres)');
const databaseUrl = target.url;
// The test's own connections go by another name than the service's, so the service's can be counted.
// Instants as ISO text, as the service's own pool reads them (db/schema.ts types them so).
const pool = new pg.Pool({
  connectionString: databaseUrl,
  application_name: 'shutdown-test',
  max: 2,
  options: '-c TimeZone=UTC',
  types: { getTypeParser: timestamptzAsIsoText },
});
pool.on('error', () => undefined); // an idle connection ended by the database's drop at teardown
const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
t.teardown(() => db.destroy());
await migrateToLatest(db);
await seedCatalogue(db);
const { key } = await createApiKey(db, 'shutdown-test', allScopes);
const databaseName = new URL(databaseUrl).pathname.slice(1);

/** A session of the test's own that holds locks until released. */
async function lockHolder(t: { teardown(fn: () => unknown): void }) {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'shutdown-test-lock-holder' });
  client.on('error', () => undefined);
  await client.connect();
  t.teardown(() => client.end().catch(() => undefined));
  await client.query('BEGIN');
  return {
    advisory: (datetime: string) =>
      client.query('SELECT pg_advisory_xact_lock($1, $2)', [SCHEDULE_LOCK_SPACE, bucketOf(datetime)]),
    row: (orderId: string) => client.query('SELECT id FROM orders WHERE id = $1 FOR UPDATE', [orderId]),
    release: () => client.query('ROLLBACK'),
  };
}

/** Service connections of this database waiting for a lock. */
async function waitingForLocks(): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE datname = ${databaseName} AND application_name = 'orders-service' AND wait_event_type = 'Lock'`.execute(db);
  return rows[0]!.n;
}

/** Service connections of this database still open. */
async function serviceConnections(): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ${databaseName} AND application_name = 'orders-service'`.execute(
    db,
  );
  return rows[0]!.n;
}

async function until(condition: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/** A server process on a free port with this shutdown grace period, and a client holding the key. */
async function serveWithGrace(t: Parameters<typeof startServerProcess>[0], graceMs: number) {
  const port = (await freePorts(1))[0]!;
  const server = await startServerProcess(t, {
    databaseUrl,
    port,
    env: { SHUTDOWN_GRACE_SECONDS: String(graceMs / 1000) },
  });
  return { port, server, client: typedClient(server.url, key) };
}

/** How a fresh TCP connection to the port fares: 'connected' or the error code. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/**
 * A request over node:http, through `agent` (one that keeps connections open between requests, as
 * Node's default agent does since Node 19) or, with `false`, on a connection of its own. Every
 * response is checked against openapi.yaml.
 */
function httpRequest(
  agent: http.Agent | false,
  port: number,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ response: Response }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {
      authorization: `Bearer ${key}`,
      ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
    };
    const request = http.request({ host: '127.0.0.1', port, method, path, agent, headers }, (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('error', reject);
      incoming.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const headers = new Headers(
          Object.entries(incoming.headers).map(([name, value]) => [name, String(value)] as [string, string]),
        );
        const parsed = text === '' ? undefined : JSON.parse(text);
        const violations = contractViolations(method, path, { status: incoming.statusCode!, headers, body: parsed });
        if (violations.length > 0) reject(new Error(`Response breaks openapi.yaml:\n  ${violations.join('\n  ')}`));
        else resolve({ response: new Response(text === '' ? null : text, { status: incoming.statusCode!, headers }) });
      });
    });
    request.on('error', reject);
    request.end(payload);
  });
}

/** Settles with the status, or with what went wrong below HTTP; notes when it started and settled. */
function tracked<T extends { response: Response }>(request: Promise<T>) {
  const entry: { startedAt: number; settledAt?: number; status?: number; code?: string; failure?: string; result?: T } =
    { startedAt: performance.now() };
  const done = request.then(
    (result) => Object.assign(entry, { settledAt: performance.now(), status: result.response.status, result }),
    (error: NodeJS.ErrnoException) =>
      Object.assign(entry, {
        settledAt: performance.now(),
        code: error.code,
        failure: `${error.message} ${String((error.cause as Error | undefined)?.message ?? '')}`,
      }),
  );
  return Object.assign(entry, { done });
}

/** "12×200, 3×ECONNREFUSED": how a list of requests went. */
function tally(list: Array<{ status?: number; code?: string; failure?: string }>): string {
  const counts = new Map<string, number>();
  for (const r of list) {
    const outcome = String(r.status ?? r.code ?? r.failure);
    counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
  }
  return [...counts].map(([outcome, n]) => `${n}×${outcome}`).join(', ') || 'none';
}

t.test(
  'SIGTERM: requests in flight complete with their proper status, new connections are refused, and the process exits 0 within the grace period',
  async (t) => {
    const GRACE_MS = 5_000;
    const { port, server, client } = await serveWithGrace(t, GRACE_MS);
    const existing = await client.POST('/orders', {
      body: { datetime: '2080-01-01T00:00:00Z', totalfee: 10, services: [{ id: 123 }] },
    });
    t.equal(existing.response.status, 201);
    const existingId = existing.data!.id;

    // A steady load of reads, each on a new connection, before, during and after the signal.
    const background: Array<ReturnType<typeof tracked>> = [];
    let loading = true;
    t.teardown(() => void (loading = false));
    const loaders = Array.from({ length: 2 }, async () => {
      while (loading) {
        const request = tracked(httpRequest(false, port, 'GET', '/orders?limit=1'));
        background.push(request);
        await request.done;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
    t.ok(
      await until(() => background.filter((r) => r.status === 200).length >= 10, 10_000),
      'the background reads are being served',
    );

    const holder = await lockHolder(t);
    await holder.advisory('2080-02-01T00:00:00Z');
    await holder.advisory('2080-03-01T00:00:00Z');
    await holder.row(existingId);
    // Sent by a client that keeps its connections open: the drain must not wait for it to hang up.
    const agent = new http.Agent({ keepAlive: true });
    t.teardown(() => agent.destroy());
    const inFlight = [
      tracked(
        httpRequest(agent, port, 'POST', '/orders', {
          datetime: '2080-02-01T00:00:00Z',
          totalfee: 20,
          services: [{ id: 123 }, { id: 456 }],
        }),
      ),
      tracked(
        httpRequest(agent, port, 'POST', '/orders', {
          datetime: '2080-03-01T00:00:00Z',
          totalfee: 30,
          services: [{ id: 789 }],
        }),
      ),
      tracked(
        httpRequest(agent, port, 'PUT', `/orders/${existingId}`, {
          datetime: '2080-04-01T00:00:00Z',
          totalfee: 40,
          services: [{ id: 456 }],
        }),
      ),
    ];
    t.ok(
      await until(async () => (await waitingForLocks()) === 3, 10_000),
      'three writes are waiting inside Postgres (two creates on the schedule lock, a replace on the row lock)',
    );

    const sigtermAt = performance.now();
    server.child.kill('SIGTERM');
    const refused = await until(async () => (await tryConnect(port)) === 'ECONNREFUSED', 2_000);
    const refusedAfter = performance.now() - sigtermAt;
    t.ok(refused, `a new connection is refused (ECONNREFUSED) ${refusedAfter.toFixed(0)} ms after SIGTERM`);
    t.same(
      inFlight.map((r) => r.settledAt),
      [undefined, undefined, undefined],
      'while the requests in flight are still waiting',
    );
    t.equal(server.child.exitCode, null, 'and the process waits for them');

    // Keep them waiting a while longer, well inside the grace period, then let them through.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await holder.release();
    await Promise.all(inFlight.map((r) => r.done));
    t.same(
      inFlight.map((r) => r.status ?? r.failure),
      [201, 201, 200],
      'each completes with its proper status: the creates 201, the replace 200',
    );
    const { code, signal } = await server.exited;
    const exitedAfter = performance.now() - sigtermAt;
    loading = false;
    await Promise.all(loaders);
    t.equal(code, 0, 'the process exits 0');
    t.equal(signal, null);
    t.ok(
      exitedAfter <= GRACE_MS,
      `within the grace period: ${exitedAfter.toFixed(0)} ms after SIGTERM (grace ${GRACE_MS} ms)`,
    );
    t.ok(
      server.output.some((line) => line.includes('"signal":"SIGTERM"') && line.includes('shutting down')),
      'it logged why it stopped',
    );
    const before = background.filter((r) => r.settledAt! < sigtermAt);
    const afterRefusal = background.filter((r) => r.startedAt > sigtermAt + refusedAfter);
    t.ok(
      before.length >= 10 && before.every((r) => r.status === 200),
      `the background reads are served before the signal (${tally(before)})`,
    );
    t.ok(
      afterRefusal.length >= 3 && afterRefusal.every((r) => r.code === 'ECONNREFUSED'),
      `and refused at connect once the listener is closed (${tally(afterRefusal)})`,
    );
    const unexpected = [];
    for (const r of background) {
      if (r.status === 200) continue;
      // A connection accepted just before the close and read just after gets the shutting-down problem.
      if (
        r.status === 503 &&
        ((await r.result!.response.clone().json()) as { type?: string }).type === '/problems/unavailable'
      )
        continue;
      // Refused, or reset while still waiting in the listen backlog when the listener closed: no response was begun.
      if (r.code === 'ECONNREFUSED' || r.code === 'ECONNRESET') continue;
      unexpected.push(r.status ?? r.failure);
    }
    t.same(
      unexpected,
      [],
      'every background read is served, refused as shutting down, or refused at connect: never a 500 or a broken response',
    );
    t.comment(`background reads around the signal: ${tally(background)}`);
    t.comment(
      `new connections refused after ${refusedAfter.toFixed(0)} ms; in-flight requests answered ${inFlight.map((r) => (r.settledAt! - sigtermAt).toFixed(0)).join(', ')} ms after SIGTERM; exit ${code} after ${exitedAfter.toFixed(0)} ms`,
    );

    const stored = await db.selectFrom('orders').select(['datetime', 'totalfee']).orderBy('datetime').execute();
    t.same(
      stored.map((o) => `${o.datetime} ${Number(o.totalfee)}`),
      ['2080-02-01T00:00:00.000Z 20', '2080-03-01T00:00:00.000Z 30', '2080-04-01T00:00:00.000Z 40'],
      'what they acknowledged is stored',
    );
    t.ok(
      await until(async () => (await serviceConnections()) === 0, 2_000),
      'and the process closed its database connections',
    );
  },
);

t.test(
  'a request still blocked when the grace period runs out: the process exits 1 within grace + a small margin, and the cut-off write leaves nothing behind',
  async (t) => {
    // Below the pool's statement_timeout (5 s), which would otherwise end the blocked request first.
    const GRACE_MS = 2_000;
    const MARGIN_MS = 1_500;
    const { server, client } = await serveWithGrace(t, GRACE_MS);
    t.equal((await client.GET('/readyz')).response.status, 200);

    const datetime = '2081-01-01T00:00:00Z';
    const holder = await lockHolder(t);
    await holder.advisory(datetime);
    const blocked = tracked(client.POST('/orders', { body: { datetime, totalfee: 50, services: [{ id: 123 }] } }));
    t.ok(await until(async () => (await waitingForLocks()) === 1, 10_000), 'the create is waiting inside Postgres');

    const sigtermAt = performance.now();
    server.child.kill('SIGTERM');
    const { code } = await server.exited;
    const exitedAfter = performance.now() - sigtermAt;
    t.equal(code, 1, 'the process gives up and exits 1');
    t.ok(exitedAfter >= GRACE_MS - 100, `not before the grace period (${exitedAfter.toFixed(0)} ms)`);
    t.ok(
      exitedAfter <= GRACE_MS + MARGIN_MS,
      `but within grace + ${MARGIN_MS} ms: ${exitedAfter.toFixed(0)} ms after SIGTERM (grace ${GRACE_MS} ms)`,
    );
    await blocked.done;
    t.equal(blocked.status, undefined, `the cut-off request gets no response (${blocked.failure})`);
    t.ok(
      server.output.some((line) => line.includes('killed by timeout')),
      'it said why it gave up',
    );

    // Postgres notices the dead client while the statement still waits (client_connection_check_interval)
    // and cancels it, so releasing the lock afterwards lets nothing through.
    t.ok(
      await until(async () => (await serviceConnections()) === 0, 5_000),
      'the dead process’s database sessions end while still blocked',
    );
    await holder.release();
    const stored = await db
      .selectFrom('orders')
      .select('id')
      .where('datetime', '=', new Date(datetime).toISOString())
      .execute();
    t.same(stored, [], 'and the unanswered create is not stored');
    t.comment(`blocked request at SIGTERM: exit ${code} after ${exitedAfter.toFixed(0)} ms (grace ${GRACE_MS} ms)`);
  },
);
