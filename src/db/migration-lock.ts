import { PostgresAdapter, sql, type Dialect, type Kysely } from 'kysely';

/**
 * Serialises migrators across processes. Kysely's own lock is a session advisory lock taken before
 * the migration's transaction and released after it: behind a transaction pooler those three may
 * run on three different server connections, leaving the lock held by a connection other clients
 * then share (the next migrator waits up to an hour). This one is transaction-scoped, taken first
 * inside the one transaction that runs every migration (migrator.ts), so it holds on any route.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any schema: the lock touches no table
export async function takeMigrationLock(trx: Kysely<any>): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_SPACE}, 0)`.execute(trx);
}

/** First key of the migrators' advisory lock (arbitrary, fixed; the schedule and sweep use others). */
const MIGRATION_LOCK_SPACE = 30303;

/** Kysely's Postgres adapter without its session lock: migrator.ts holds the lock above instead. */
class AdapterLockedByMigrator extends PostgresAdapter {
  override async acquireMigrationLock(): Promise<void> {}
  override async releaseMigrationLock(): Promise<void> {}
}

/** The dialect with that adapter (for the pg pool and PGlite alike). */
export function withMigrationLockInTransaction(dialect: Dialect): Dialect {
  return {
    createAdapter: () => new AdapterLockedByMigrator(),
    createDriver: () => dialect.createDriver(),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createIntrospector: (db) => dialect.createIntrospector(db),
  };
}
