/**
 * Bulk loader for the benchmark: a database of N orders built in SQL (generate_series and
 * INSERT … SELECT, not N HTTP calls), on the service's own schema (its migrations).
 *
 * Geometry, which the driver relies on:
 * - order ids FIRST_ID … FIRST_ID + N - 1, the identity sequence set past them so the service and
 *   the ceiling can insert afterwards;
 * - days of six 4-hour slots; orders fill the first five of each day and the sixth is left empty, so
 *   order k (k = id - FIRST_ID) is at BASE_EPOCH + (k + ⌊k / 5⌋) × 4 h. Every base order owns the
 *   first hour of its slot: a replace may move it anywhere in [base, base + 1 h) and never meets a
 *   neighbour. Each day is a run of back-to-back orders with free time between runs (an 8-hour
 *   gap), as a busy calendar has: the nearest free time (and a 409's advice) walks one day's run,
 *   not the whole table, whose size the benchmark varies;
 * - 1–3 services each (1 + id % 3) from a catalogue of ten;
 * - one `order.created` event per order (and one `service.created` per service) in the change feed,
 *   written by the events migration, which runs after the orders are loaded;
 * - everything the benchmark creates lies at or after CREATED_FROM (year 3000), far past the base
 *   orders (1M orders end in 2456), and is deleted between runs.
 *
 * Databases are made once per size and reused while they still hold the right base orders:
 * `orders_bench_10k`, `orders_bench_1m`, `orders_bench_smoke` on the server at PG_TEST_URL, and
 * bench/.data/pglite-<size> for the embedded mode.
 *
 *   node --import tsx bench/load-data.ts 10k 1m          # make sure both exist, print the timings
 *   node --import tsx bench/load-data.ts --force 1m      # drop and load again
 *   node --import tsx bench/load-data.ts --pglite 10k    # the embedded database
 */
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { allScopes } from '../src/keys/model.js';
import { createApiKey, revokeApiKey } from '../src/keys/use-cases.js';
import { openDatabase, type Db, type DatabaseTarget } from '../src/db/database.js';
import type { Database } from '../src/db/schema.js';
import { migrateToLatest } from '../src/db/migrator.js';

export const FIRST_ID = 1000;
export const BASE_EPOCH = Date.UTC(2000, 0, 1);
export const SLOT_MS = 4 * 3_600_000;
/** The last migration before the change feed's (whose backfill writes the loaded orders' events). */
const MIGRATION_BEFORE_EVENTS = '20261122010000_api_keys_idempotency_versions';
/** Orders per day: five of its six slots; the sixth is the day's free time. */
export const ORDERS_PER_DAY = 5;
/** Everything the benchmark creates is at or after this instant, and is swept between runs. */
export const CREATED_FROM = Date.UTC(3000, 0, 1);
/** The catalogue: the brief's three services and seven more. */
export const CATALOGUE = [123, 456, 789, 201, 202, 203, 204, 205, 206, 207] as const;
const CATALOGUE_NAMES: Record<number, string> = { 123: 'Inspection', 456: 'Analysis', 789: 'Testing' };

export const SIZES = { smoke: 200, '10k': 10_000, '1m': 1_000_000 } as const;
export type SizeName = keyof typeof SIZES;

export const benchRoot = fileURLToPath(new URL('.', import.meta.url));
export const adminUrl = process.env.PG_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The instant of base order `id` as loaded (a replace may since have moved it by up to an hour). */
export function baseTimeOf(id: number): number {
  const k = id - FIRST_ID;
  return BASE_EPOCH + (k + Math.floor(k / ORDERS_PER_DAY)) * SLOT_MS;
}

export function isSizeName(name: string): name is SizeName {
  return Object.hasOwn(SIZES, name);
}

export interface Dataset {
  size: SizeName;
  orders: number;
  target: DatabaseTarget;
  /** Seconds spent loading; 0 when an existing database was reused. */
  loadSeconds: number;
}

export function postgresUrlFor(size: SizeName): string {
  const url = new URL(adminUrl);
  url.pathname = `/orders_bench_${size}`;
  return url.toString();
}

export function pgliteDirFor(size: SizeName): string {
  return path.join(benchRoot, '.data', `pglite-${size}`);
}

/** The Postgres database for `size`, loaded if missing or not what it should be. */
export async function ensurePostgresDataset(size: SizeName, { force = false } = {}): Promise<Dataset> {
  const n = SIZES[size];
  const name = `orders_bench_${size}`;
  const target: DatabaseTarget = { kind: 'postgres', url: postgresUrlFor(size) };
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
    if (exists && !force) {
      if (await reusable(target, n)) return { size, orders: n, target, loadSeconds: 0 };
    }
    if (exists) await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return { size, orders: n, target, loadSeconds: await loadFresh(target, n, 'postgres') };
}

/** The embedded database for `size` (bench/.data/pglite-<size>), loaded if missing or wrong. */
export async function ensurePgliteDataset(size: SizeName, { force = false } = {}): Promise<Dataset> {
  const n = SIZES[size];
  const dataDir = pgliteDirFor(size);
  const target: DatabaseTarget = { kind: 'pglite', dataDir };
  if (existsSync(dataDir) && !force) {
    if (await reusable(target, n)) return { size, orders: n, target, loadSeconds: 0 };
  }
  rmSync(dataDir, { recursive: true, force: true });
  return { size, orders: n, target, loadSeconds: await loadFresh(target, n, 'pglite') };
}

/** Migrates an existing dataset; true (after sweeping the benchmark's own orders) when it holds the n base orders. */
async function reusable(target: DatabaseTarget, n: number): Promise<boolean> {
  const db = await openForLoading(target);
  try {
    await migrateToLatest(db);
    if (!(await holdsBaseOrders(db, n))) return false;
    await sweepCreatedOrders(db);
    return true;
  } finally {
    await db.destroy();
  }
}

/** Migrates an empty dataset and loads n orders; the seconds it took. */
async function loadFresh(target: DatabaseTarget, n: number, kind: 'postgres' | 'pglite'): Promise<number> {
  const started = performance.now();
  const db = await openForLoading(target);
  try {
    // The orders go in before the change feed exists; its migration then writes one order.created
    // (and service.created) event for each, as it does on any database that had orders before it.
    await migrateToLatest(db, { through: MIGRATION_BEFORE_EVENTS });
    await loadOrders(db, n, kind);
    await migrateToLatest(db);
    await sql`VACUUM ANALYZE events`.execute(db);
  } finally {
    await db.destroy();
  }
  return (performance.now() - started) / 1000;
}

/**
 * The service's own database factory for PGlite; for Postgres a plain pool without the service's
 * 5 s statement timeout and 10 s query timeout, which a million-row insert or VACUUM outlasts.
 */
export async function openForLoading(target: DatabaseTarget): Promise<Db> {
  if (target.kind === 'pglite') return (await openDatabase(target)).db;
  return new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: target.url, max: 2 }) }),
  });
}

/** True when the base orders are all there (and nothing else below CREATED_FROM). */
async function holdsBaseOrders(db: Db, n: number): Promise<boolean> {
  // The first order of the second day says which layout the data has (a replace moves it by < 1 h).
  const probe = FIRST_ID + ORDERS_PER_DAY;
  const { rows } = await sql<{
    count: string;
    min: string | null;
    max: string | null;
    services: string;
    laidOut: boolean | null;
    orderEvents: string;
  }>`
    SELECT count(*)::text AS count, min(id)::text AS min, max(id)::text AS max,
      (SELECT count(*)::text FROM services WHERE id = ANY(${[...CATALOGUE]}::integer[])) AS services,
      (SELECT datetime >= ${new Date(baseTimeOf(probe)).toISOString()}::timestamptz
          AND datetime < ${new Date(baseTimeOf(probe) + 3_600_000).toISOString()}::timestamptz
        FROM orders WHERE id = ${probe}) AS "laidOut",
      (SELECT count(*)::text FROM events WHERE actor IS NULL AND subject_type = 'order') AS "orderEvents"
    FROM orders WHERE datetime < ${new Date(CREATED_FROM).toISOString()}::timestamptz`.execute(db);
  const row = rows[0];
  return (
    row !== undefined &&
    Number(row.count) === n &&
    Number(row.min) === FIRST_ID &&
    Number(row.max) === FIRST_ID + n - 1 &&
    Number(row.services) === CATALOGUE.length &&
    row.laidOut === true &&
    Number(row.orderEvents) === n
  );
}

/**
 * Deletes what the benchmark created (their service links go with them), and the events its
 * writes appended (the loader's have no actor); returns how many orders.
 */
export async function sweepCreatedOrders(db: Db): Promise<number> {
  await sql`DELETE FROM events WHERE actor IS NOT NULL`.execute(db);
  const { numAffectedRows } =
    await sql`DELETE FROM orders WHERE datetime >= ${new Date(CREATED_FROM).toISOString()}::timestamptz`.execute(db);
  return Number(numAffectedRows ?? 0);
}

/**
 * One transaction: the catalogue, N orders, their service links, the sequence; then VACUUM
 * ANALYZE so the planner has statistics and the visibility map is set, as on a settled database.
 */
async function loadOrders(db: Db, n: number, kind: DatabaseTarget['kind']): Promise<void> {
  const last = FIRST_ID + n - 1;
  let lap = performance.now();
  const step = (what: string) => {
    const now = performance.now();
    if (process.env.BENCH_LOAD_VERBOSE === '1') console.log(`  ${what}: ${((now - lap) / 1000).toFixed(1)} s`);
    lap = now;
  };
  const epoch = new Date(BASE_EPOCH).toISOString();
  await db.connection().execute(async (conn) => {
    if (kind === 'postgres') {
      // Index maintenance during a bulk insert; only this session.
      await sql`SET maintenance_work_mem = '256MB'`.execute(conn);
      await sql`SET synchronous_commit = off`.execute(conn);
    }
    await conn.transaction().execute(async (trx) => {
      // Checking the 3-hour rule and the foreign keys row by row is most of a million-row load;
      // built once at the end from their own definitions, the schema ends up exactly as migrated.
      const rebuild = kind === 'postgres' ? await dropSecondaryStructures(trx, step) : async () => {};
      for (const id of CATALOGUE) {
        await sql`INSERT INTO services (id, name) VALUES (${id}, ${CATALOGUE_NAMES[id] ?? `Bench service ${id}`}) ON CONFLICT DO NOTHING`.execute(
          trx,
        );
      }
      await sql`
        INSERT INTO orders (id, datetime, totalfee, created_at, updated_at, created_by, updated_by)
        SELECT g, ${epoch}::timestamptz + ((g - ${FIRST_ID}) + (g - ${FIRST_ID}) / ${ORDERS_PER_DAY}) * interval '4 hours',
          ((g * 7919) % 100000) / 100.0, now(), now(), 'bench-loader', 'bench-loader'
        FROM generate_series(${FIRST_ID}::bigint, ${last}::bigint) AS g`.execute(trx);
      step('orders');
      // 1 + g % 3 services: k = 0 … g % 3, picking distinct catalogue entries (g + 3k) % 10.
      await sql`
        INSERT INTO order_services (order_id, service_id)
        SELECT g, (${[...CATALOGUE]}::integer[])[1 + ((g + 3 * k) % ${CATALOGUE.length})]
        FROM generate_series(${FIRST_ID}::bigint, ${last}::bigint) AS g, generate_series(0, 2) AS k
        WHERE k <= g % 3`.execute(trx);
      step('order_services');
      await sql`SELECT setval(pg_get_serial_sequence('orders', 'id'), ${last}::bigint)`.execute(trx);
      await rebuild();
      step('constraints');
    });
  });
  step('commit');
  await sql`VACUUM ANALYZE`.execute(db);
  step('VACUUM ANALYZE');
}

/**
 * Drops the exclusion constraint, the foreign keys and the plain indexes of orders and
 * order_services (primary keys stay), and returns what recreates them: the same names and the
 * definitions Postgres itself reports (pg_get_constraintdef, pg_get_indexdef), so nothing drifts
 * from the migrations. Runs inside the load's transaction: a failure leaves the schema untouched.
 */
async function dropSecondaryStructures(
  trx: Kysely<Database>,
  step: (what: string) => void,
): Promise<() => Promise<void>> {
  const { rows: constraints } = await sql<{ tbl: string; name: string; definition: string }>`
    SELECT conrelid::regclass::text AS tbl, conname AS name, pg_get_constraintdef(oid) AS definition
    FROM pg_constraint
    WHERE conrelid IN ('orders'::regclass, 'order_services'::regclass) AND contype IN ('x', 'f')
    ORDER BY contype DESC, conname`.execute(trx);
  const { rows: indexes } = await sql<{ name: string; definition: string }>`
    SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS definition
    FROM pg_index
    WHERE indrelid IN ('orders'::regclass, 'order_services'::regclass)
      AND indexrelid NOT IN (SELECT conindid FROM pg_constraint WHERE conindid <> 0)
    ORDER BY 1`.execute(trx);
  for (const c of constraints) await sql`ALTER TABLE ${sql.id(c.tbl)} DROP CONSTRAINT ${sql.id(c.name)}`.execute(trx);
  for (const i of indexes) await sql`DROP INDEX ${sql.id(i.name)}`.execute(trx);
  return async () => {
    for (const i of indexes) await sql.raw(i.definition).execute(trx);
    step('indexes');
    // The exclusion constraint first ('x' sorts after 'f', hence DESC), then the foreign keys.
    for (const c of constraints)
      await sql`ALTER TABLE ${sql.id(c.tbl)} ADD CONSTRAINT ${sql.id(c.name)} ${sql.raw(c.definition)}`.execute(trx);
  };
}

/** A fresh key named `bench` with every scope (an earlier one is revoked). */
export async function benchApiKey(db: Db): Promise<string> {
  await revokeApiKey(db, 'bench');
  return (await createApiKey(db, 'bench', allScopes)).key;
}

async function main(args: string[]): Promise<void> {
  const force = args.includes('--force');
  const pglite = args.includes('--pglite');
  const sizes = args.filter((a) => !a.startsWith('--'));
  if (sizes.length === 0) sizes.push('10k');
  for (const size of sizes) {
    if (!isSizeName(size)) throw new Error(`unknown size ${size}; one of ${Object.keys(SIZES).join(', ')}`);
    const dataset = pglite ? await ensurePgliteDataset(size, { force }) : await ensurePostgresDataset(size, { force });
    const where = dataset.target.kind === 'postgres' ? `orders_bench_${size}` : pgliteDirFor(size);
    console.log(
      dataset.loadSeconds > 0
        ? `${where}: loaded ${dataset.orders.toLocaleString('en')} orders in ${dataset.loadSeconds.toFixed(1)} s`
        : `${where}: ${dataset.orders.toLocaleString('en')} orders already there (reused)`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
