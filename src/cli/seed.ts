import { loadConfig } from '../config.js';
import { databaseTargetFrom, openDatabase } from '../db/database.js';
import { migrateToLatest } from '../db/migrator.js';
import { seedSampleData } from '../db/seed.js';

/** `make seed`: load the sample catalogue and orders; running it again changes nothing. */
const { db } = await openDatabase(databaseTargetFrom(loadConfig()));
try {
  await migrateToLatest(db);
  const added = await seedSampleData(db);
  console.log(`sample data: ${added.services} services and ${added.orders} orders added`);
} finally {
  await db.destroy();
}
