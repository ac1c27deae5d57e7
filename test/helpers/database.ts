import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { openDatabase, type DatabaseTarget, type Db } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { databaseSettingsStatement } from '../../src/db/session-settings.js';
import { startPgBouncer, type PgBouncer } from './pgbouncer.js';

/** What tap's `t` offers that the helpers use. */
export interface TestContext {
  teardown(fn: () => unknown): void;
}

/** Which database the suite runs on: `pglite` (embedded, default) or `postgres` (a real server). */
export const databaseKind = process.env.TEST_DATABASE === 'postgres' ? 'postgres' : 'pglite';
const adminUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * How a test on the Postgres server reaches it: `direct`, or `pgbouncer` (TEST_ROUTE=pgbouncer, set
 * by the *.pgbouncer.postgres.test.ts files): through a PgBouncer in transaction mode that this
 * test process starts, as a deployment with many service processes would.
 */
export function testRoute(): 'direct' | 'pgbouncer' {
  return process.env.TEST_ROUTE === 'pgbouncer' ? 'pgbouncer' : 'direct';
}

let sharedPgBouncer: Promise<PgBouncer> | undefined;

/** The PgBouncer in front of the test server, one per test process (gone when the process is). */
export function testPgBouncer(): Promise<PgBouncer> {
  const server = new URL(adminUrl);
  sharedPgBouncer ??= startPgBouncer({ host: server.hostname, port: Number(server.port || 5432) });
  return sharedPgBouncer;
}

/**
 * A brand-new, empty database for one test file: a fresh database on the Postgres server (dropped
 * afterwards) or an in-memory PGlite. Migrations are not run. On the `pgbouncer` route the database
 * gets the settings a pooled deployment needs (docs/operations.md) and the target leads through
 * PgBouncer. `databaseSettings: false` leaves them out (to see the service refuse).
 */
export async function freshDatabaseTarget(
  t: TestContext,
  { route = testRoute(), databaseSettings = true }: { route?: 'direct' | 'pgbouncer'; databaseSettings?: boolean } = {},
): Promise<DatabaseTarget> {
  if (databaseKind === 'pglite') return { kind: 'pglite', dataDir: 'memory://' };
  const name = `orders_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  if (route === 'pgbouncer' && databaseSettings) await admin.query(databaseSettingsStatement(name));
  await admin.end();
  t.teardown(async () => {
    const cleanup = new pg.Client({ connectionString: adminUrl });
    await cleanup.connect();
    await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await cleanup.end();
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  if (route === 'direct') return { kind: 'postgres', url: url.toString() };
  const bouncer = await testPgBouncer();
  return { kind: 'postgres', url: bouncer.route(url.toString()), pooler: 'transaction' };
}

/** A fresh, migrated database, closed at teardown. */
export async function freshDatabase(t: TestContext): Promise<{ db: Db; target: DatabaseTarget }> {
  const target = await freshDatabaseTarget(t);
  const { db } = await openDatabase(target);
  t.teardown(() => db.destroy());
  await migrateToLatest(db);
  return { db, target };
}

export async function countRows(db: Db, table: 'orders' | 'order_services' | 'services'): Promise<number> {
  const { rows } = await sql<{ n: string | number }>`SELECT count(*) AS n FROM ${sql.table(table)}`.execute(db);
  return Number(rows[0]!.n);
}

/** The ids of the services an order links to, as stored, in ascending order ([] for none or no order). */
export async function storedServiceIds(db: Db, orderId: string): Promise<number[]> {
  const links = await db
    .selectFrom('order_services')
    .select('service_id')
    .where('order_id', '=', orderId)
    .orderBy('service_id')
    .execute();
  return links.map((l) => l.service_id);
}

/**
 * Transactions committed in the test database of `target` so far, as the Postgres server counts
 * them (pg_stat_database), read from another database so that reading does not count. A backend
 * reports its counts when it exits, but while connected only every 10 s or so: close the pools on
 * that database first. Waits until the figure has held still for 1.5 s (exits are not instant).
 */
export async function committedTransactions(target: DatabaseTarget): Promise<number> {
  if (target.kind !== 'postgres') throw new Error('pg_stat_database is a Postgres server figure');
  const name = new URL(target.url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const read = async () => {
      const { rows } = await admin.query<{ n: string }>(
        'SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = $1',
        [name],
      );
      return Number(rows[0]!.n);
    };
    let last = await read();
    for (let still = 0, rounds = 0; still < 6 && rounds < 60; rounds++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const now = await read();
      still = now === last ? still + 1 : 0;
      last = now;
    }
    return last;
  } finally {
    await admin.end();
  }
}

/**
 * On the `pgbouncer` route, `databaseUrl` (a database on a server of the test's own) as reached
 * through a PgBouncer of its own in front of that server, with the settings a pooled deployment
 * needs; on the `direct` route, `databaseUrl` itself.
 */
export async function routedForService(t: TestContext, databaseUrl: string): Promise<string> {
  if (testRoute() === 'direct') return databaseUrl;
  const url = new URL(databaseUrl);
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(databaseSettingsStatement(url.pathname.slice(1)));
  await admin.end();
  const bouncer = await startPgBouncer({ host: url.hostname, port: Number(url.port || 5432) });
  t.teardown(() => bouncer.stop());
  return bouncer.route(databaseUrl);
}
