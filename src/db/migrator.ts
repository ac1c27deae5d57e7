import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileMigrationProvider, Migrator, sql, type MigrationResult } from 'kysely';
import type { Db } from './database.js';
import { takeMigrationLock } from './migration-lock.js';

// Resolves to migrations/ from src/db/ when run from source and dist/migrations/ from dist/src/db/.
const migrationFolder = fileURLToPath(new URL('../../migrations', import.meta.url));

export interface MigrationOutcome {
  applied: string[];
  /** True when this run created the schema from nothing (used to seed a brand-new embedded database). */
  freshDatabase: boolean;
}

/**
 * Brings the schema to the latest migration (or to `through`), all of it in one transaction: safe
 * when several processes start at once, directly or through a transaction pooler. The first
 * statement takes the migrators' transaction-scoped lock (migration-lock.ts), so a second process
 * waits, then finds the work done; a failed migration leaves nothing behind. No statement timeout
 * inside it: a migration over a large table may rightly take minutes.
 */
export async function migrateToLatest(db: Db, { through }: { through?: string } = {}): Promise<MigrationOutcome> {
  const provider = new FileMigrationProvider({ fs, path, migrationFolder });
  return db.connection().execute(async (connection) => {
    await sql`BEGIN`.execute(connection);
    try {
      await takeMigrationLock(connection);
      await sql`SET LOCAL statement_timeout = 0`.execute(connection);
      // Kysely's migrator runs on this one connection inside the transaction begun above.
      const migrator = new Migrator({ db: connection, provider, disableTransactions: true });
      const outcome = await migrate(migrator, through);
      await sql`COMMIT`.execute(connection);
      return outcome;
    } catch (error) {
      await sql`ROLLBACK`.execute(connection).catch(() => undefined);
      throw error;
    }
  });
}

async function migrate(migrator: Migrator, through: string | undefined): Promise<MigrationOutcome> {
  const before = await migrator.getMigrations();
  // `through`: up to and including that migration only (the benchmark's loader fills the tables the
  // later ones then find, as an existing database would have them).
  const { error, results = [] } =
    through === undefined ? await migrator.migrateToLatest() : await migrator.migrateTo(through);
  const failed = results.find((r: MigrationResult) => r.status === 'Error');
  if (error || failed) {
    const name = failed ? ` (${failed.migrationName})` : '';
    throw new Error(`Migration failed${name}: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  const applied = results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
  return { applied, freshDatabase: applied.length > 0 && before.every((m) => m.executedAt === undefined) };
}
