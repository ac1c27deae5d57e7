import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import pg from 'pg';
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { openDatabase, type DatabaseTarget, type Db } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { allScopes } from '../../src/keys/model.js';
import { createApiKey } from '../../src/keys/use-cases.js';
import { freshDatabaseTarget, testPgBouncer } from '../helpers/database.js';
import { orderBody, seedCatalogue } from '../helpers/fixtures.js';
import { typedClient } from '../helpers/http.js';
import { directUrl } from '../helpers/pgbouncer.js';
import { freePorts, startServerProcess } from '../reliability/processes.js';

// Postgres run only: the service behind PgBouncer 1.18 in transaction mode (test/helpers/pgbouncer.ts),
// which keeps no session state between transactions and refuses startup parameters it does not know.
// What the service needs from a session comes from database settings there (docs/operations.md);
// these tests show it starts, refuses without them, and that they still apply: runaway statements
// are cut off, a dead caller's statement is cancelled, instants are exact in any time zone, and
// migrators leave no lock behind.

type Pooled = Extract<DatabaseTarget, { kind: 'postgres' }>;

async function pooledTarget(t: Parameters<typeof freshDatabaseTarget>[0], databaseSettings = true): Promise<Pooled> {
  return (await freshDatabaseTarget(t, { route: 'pgbouncer', databaseSettings })) as Pooled;
}

/** A connection straight to the database behind `target` (never through the pooler). */
async function direct(t: Parameters<typeof freshDatabaseTarget>[0], target: Pooled, name = 'pooler-test') {
  const client = new pg.Client({ connectionString: directUrl(target.url), application_name: name });
  client.on('error', () => undefined);
  await client.connect();
  t.teardown(() => client.end().catch(() => undefined));
  return client;
}

/** The app in this process on `target`, migrated and seeded, with a key holding every scope. */
async function serveInProcess(t: Parameters<typeof freshDatabaseTarget>[0], target: Pooled) {
  const { db } = await openDatabase(target, { onIdleError: () => undefined });
  t.teardown(() => db.destroy());
  await migrateToLatest(db);
  await seedCatalogue(db);
  const { key } = await createApiKey(db, 'pooler', allScopes);
  const app = await buildApp({ db, http: { rateLimitPerMinute: 0 } });
  t.teardown(() => app.close());
  return { db, client: typedClient(await app.listen({ port: 0, host: '127.0.0.1' }), key) };
}

/** src/server.ts as its own process on `target`, and a client holding a new key with every scope. */
async function serveProcess(t: Parameters<typeof freshDatabaseTarget>[0], target: Pooled, keyName: string) {
  const [port] = await freePorts(1);
  const server = await startServerProcess(t, { databaseUrl: target.url, port: port! });
  const { db } = await openDatabase(target);
  t.teardown(() => db.destroy());
  await seedCatalogue(db);
  const { key } = await createApiKey(db, keyName, allScopes);
  return { server, client: typedClient(server.url, key) };
}

/** Runs src/server.ts to its exit (for starts that must fail): exit code and everything it wrote. */
async function startToExit(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    env: { ...process.env, PORT: String((await freePorts(1))[0]), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, output };
}

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/** Server backends of the database behind `target` waiting for a lock (Postgres' own view). */
async function waitingForLocks(observer: pg.Client): Promise<number> {
  const { rows } = await observer.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
     WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
  );
  return rows[0]!.n;
}

t.test(
  'through PgBouncer in transaction mode, with no startup parameter ignored, the service starts, migrates and serves every kind of request',
  async (t) => {
    const target = await pooledTarget(t);
    const { server, client } = await serveProcess(t, target, 'pooled-process');
    t.match(server.output.join('\n'), /through a transaction pooler/, 'it says how it reaches the database');
    const admin = await direct(t, target);

    const created = await client.POST('/orders', { body: orderBody('2033-03-01T10:00:00.000Z') });
    t.equal(created.response.status, 201);
    const id = created.data!.id;
    const conflict = await client.POST('/orders', { body: orderBody('2033-03-01T11:00:00.000Z') });
    t.equal(conflict.response.status, 409, 'the rule holds');
    const read = await client.GET('/orders/{orderId}', { params: { path: { orderId: id } } });
    t.equal(read.response.status, 200);
    const replaced = await client.PUT('/orders/{orderId}', {
      params: { path: { orderId: id }, header: { 'If-Match': read.response.headers.get('etag')! } },
      body: orderBody('2033-03-02T10:00:00.000Z'),
    });
    t.equal(replaced.response.status, 200);
    const listed = await client.GET('/orders', {});
    t.same(
      listed.data?.data.map((o) => o.datetime),
      ['2033-03-02T10:00:00.000Z'],
    );
    const deleted = await client.DELETE('/orders/{orderId}', { params: { path: { orderId: id } } });
    t.equal(deleted.response.status, 204);
    const { rows } = await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM orders');
    t.equal(rows[0]!.n, 0, 'and the database agrees');
    t.notMatch((await testPgBouncer()).log(), /unsupported startup parameter/, 'PgBouncer refused nothing');
  },
);

t.test(
  'a service that sends its session settings at connect (DATABASE_POOLER=none) is refused by PgBouncer, and says what to set',
  async (t) => {
    const target = await pooledTarget(t);
    const { code, output } = await startToExit({ DATABASE_URL: target.url, DATABASE_POOLER: 'none' });
    t.equal(code, 1, 'exits 1');
    t.match(output, /unsupported startup parameter/);
    t.match(output, /Set DATABASE_POOLER=transaction/);
  },
);

t.test(
  'without the database settings the service refuses to start behind the pooler, and the statements it prints make it start',
  async (t) => {
    const target = await pooledTarget(t, false);
    const refused = await startToExit({ DATABASE_URL: target.url, DATABASE_POOLER: 'transaction' });
    t.equal(refused.code, 1, 'exits 1');
    t.match(refused.output, /must set statement_timeout and client_connection_check_interval/);
    t.notMatch(refused.output, /\n\s+at /, 'a message, not a stack trace');
    const statements = refused.output.split('\n').filter((line) => line.startsWith('ALTER DATABASE'));
    t.equal(statements.length, 3, 'it prints the statements to run');

    const admin = await direct(t, target);
    for (const statement of statements) await admin.query(statement);
    // As the message says: new server connections, so that they read the new settings.
    await (await testPgBouncer()).reconnect(new URL(target.url).pathname.slice(1));
    const [port] = await freePorts(1);
    const server = await startServerProcess(t, { databaseUrl: target.url, port: port! });
    t.equal((await fetch(`${server.url}/readyz`)).status, 200, 'then it starts and is ready');
  },
);

t.test(
  'behind the pooler a runaway statement is still cut off (statement_timeout from the database settings): a blocked read and a blocked write each answer 503 after about 5 s and store nothing',
  async (t) => {
    const target = await pooledTarget(t);
    const { client } = await serveInProcess(t, target);
    const created = await client.POST('/orders', { body: orderBody('2034-01-01T10:00:00.000Z') });
    t.equal(created.response.status, 201);
    const holder = await direct(t, target, 'pooler-test-lock-holder');
    const observer = await direct(t, target, 'pooler-test-observer');
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');

    for (const [what, send] of [
      ['read', () => client.GET('/orders/{orderId}', { params: { path: { orderId: created.data!.id } } })],
      ['write', () => client.POST('/orders', { body: orderBody('2034-02-01T10:00:00.000Z') })],
    ] as const) {
      const started = performance.now();
      const pending = send();
      t.ok(await until(async () => (await waitingForLocks(observer)) === 1, 5_000), `the ${what} waits in Postgres`);
      const { response } = await pending;
      const elapsed = performance.now() - started;
      t.equal(response.status, 503, `the ${what} is answered 503`);
      t.ok(elapsed > 4_500 && elapsed < 9_000, `after the 5 s statement timeout (took ${elapsed.toFixed(0)} ms)`);
      t.equal(await waitingForLocks(observer), 0, 'and nothing of it is left waiting');
    }
    await holder.query('ROLLBACK');
    const { rows } = await observer.query<{ n: number }>('SELECT count(*)::int AS n FROM orders');
    t.equal(rows[0]!.n, 1, 'the cut-off write stored nothing');
  },
);

t.test(
  "behind the pooler a killed service process's waiting write is cancelled within seconds and never commits",
  async (t) => {
    const target = await pooledTarget(t);
    const admin = await direct(t, target, 'pooler-test-admin');
    const { server, client } = await serveProcess(t, target, 'killed');

    const holder = await direct(t, target, 'pooler-test-lock-holder');
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
    void client.POST('/orders', { body: orderBody('2035-01-01T10:00:00.000Z') }).catch(() => undefined);
    t.ok(await until(async () => (await waitingForLocks(admin)) === 1, 5_000), 'the write waits in Postgres');
    await server.stop('SIGKILL');
    t.ok(
      await until(async () => (await waitingForLocks(admin)) === 0, 4_000),
      'its statement stops waiting well before the statement timeout (the client check, or PgBouncer closing it)',
    );
    await holder.query('ROLLBACK');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const { rows } = await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM orders');
    t.equal(rows[0]!.n, 0, 'released afterwards, the lock lets nothing through');
  },
);

t.test(
  "instants are exact whatever time zone the pooler's sessions are in (it does not pass TimeZone on)",
  async (t) => {
    const target = await pooledTarget(t);
    const admin = await direct(t, target);
    const database = new URL(target.url).pathname.slice(1);
    await admin.query(`ALTER DATABASE ${database} SET TimeZone = 'America/St_Johns'`); // UTC−03:30 / −02:30
    await (await testPgBouncer()).reconnect(database);
    const { db, client } = await serveInProcess(t, target);
    const { rows } = await sql<{ zone: string }>`SELECT current_setting('TimeZone') AS zone`.execute(db);
    t.equal(rows[0]!.zone, 'America/St_Johns', 'the sessions really are in another zone');

    const datetime = '2036-07-01T23:59:59.123Z';
    const created = await client.POST('/orders', { body: orderBody(datetime) });
    t.equal(created.data?.datetime, datetime, 'create answers the instant sent');
    const read = await client.GET('/orders/{orderId}', { params: { path: { orderId: created.data!.id } } });
    t.equal(read.data?.datetime, datetime, 'so does a read');
    t.match(read.data?.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'createdAt in UTC');
    const createdAt = Date.parse(read.data!.createdAt);
    t.ok(Math.abs(createdAt - Date.now()) < 60_000, 'and it is now, not hours off');
    const nearest = await client.GET('/availability/nearest', { params: { query: { at: datetime } } });
    t.same(nearest.data, { at: datetime, before: '2036-07-01T20:59:59.123Z', after: '2036-07-02T02:59:59.123Z' });
  },
);

t.test(
  'migrators racing through the pooler apply each migration once and leave no advisory lock held by a server connection',
  async (t) => {
    const target = await pooledTarget(t);
    const dbs: Db[] = [];
    for (let i = 0; i < 4; i++) {
      const { db } = await openDatabase(target);
      t.teardown(() => db.destroy());
      dbs.push(db);
    }
    const outcomes = await Promise.all(dbs.map((db) => migrateToLatest(db)));
    const applied = outcomes.flatMap((o) => o.applied);
    t.same(applied.toSorted(), [...new Set(applied)].toSorted(), 'no migration applied twice');
    t.equal(
      outcomes.filter((o) => o.applied.length > 0).length,
      1,
      'one migrator did the work, the others found it done',
    );
    const admin = await direct(t, target);
    const { rows } = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database
       WHERE l.locktype = 'advisory' AND d.datname = current_database()`,
    );
    t.equal(rows[0]!.n, 0, 'no advisory lock outlives its transaction');
    const started = performance.now();
    const again = await migrateToLatest(dbs[0]!);
    t.same(again.applied, [], 'a later migrator finds nothing to do');
    t.ok(performance.now() - started < 2_000, 'and is not kept waiting');
  },
);
