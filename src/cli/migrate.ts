import { loadConfig } from '../config.js';
import { databaseTargetFrom, openDatabase } from '../db/database.js';
import { migrateToLatest } from '../db/migrator.js';

/** `make migrate`: bring the configured database to the latest schema. */
const { db } = await openDatabase(databaseTargetFrom(loadConfig()));
try {
  const { applied } = await migrateToLatest(db);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'already at the latest migration');
} finally {
  await db.destroy();
}
