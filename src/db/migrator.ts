import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileMigrationProvider, Migrator, type MigrationResult } from 'kysely';
import type { Db } from './database.js';

// Resolves to migrations/ from src/db/ when run from source and dist/migrations/ from dist/src/db/.
const migrationFolder = fileURLToPath(new URL('../../migrations', import.meta.url));

export interface MigrationOutcome {
  applied: string[];
  /** True when this run created the schema from nothing (used to seed a brand-new embedded database). */
  freshDatabase: boolean;
}

/**
 * Brings the schema to the latest migration. Safe when several processes start at once: Kysely
 * serialises migrators on Postgres with an advisory lock and tolerates racing table creation.
 */
export async function migrateToLatest(db: Db, { through }: { through?: string } = {}): Promise<MigrationOutcome> {
  const migrator = new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder }),
  });
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
