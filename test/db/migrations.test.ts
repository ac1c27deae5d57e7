import { sql } from 'kysely';
import t from 'tap';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { databaseKind, freshDatabaseTarget } from '../helpers/database.js';

t.test('several processes migrating one empty database at once apply each migration exactly once', async (t) => {
  const target = await freshDatabaseTarget(t);
  // On Postgres, separate pools stand in for separate processes; PGlite has one owner by design.
  const handles =
    databaseKind === 'postgres'
      ? await Promise.all([1, 2, 3].map(() => openDatabase(target)))
      : [await openDatabase(target)];
  t.teardown(() => Promise.all(handles.map((h) => h.db.destroy())));
  const runs =
    databaseKind === 'postgres'
      ? handles.map((h) => migrateToLatest(h.db))
      : [1, 2, 3].map(() => migrateToLatest(handles[0]!.db));
  const outcomes = await Promise.all(runs);
  const applied = outcomes.flatMap((o) => o.applied);
  const db = handles[0]!.db;
  const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(db);
  t.same(
    applied.sort(),
    rows.map((r) => r.name),
    'every migration recorded once, applied by exactly one runner',
  );
  t.equal(outcomes.filter((o) => o.freshDatabase).length, 1, 'exactly one runner saw a fresh database');

  const again = await migrateToLatest(db);
  t.same(again, { applied: [], freshDatabase: false }, 'migrating an up-to-date database is a no-op');
});

t.test('the schema holds the 3-hour rule as an exclusion constraint and indexes the list', async (t) => {
  const target = await freshDatabaseTarget(t);
  const { db } = await openDatabase(target);
  t.teardown(() => db.destroy());
  await migrateToLatest(db);
  const constraint = await sql<{ def: string }>`
    SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = 'orders_schedule_window'`.execute(db);
  t.match(constraint.rows[0]?.def, /^EXCLUDE USING gist \(tsrange\(.*'03:00:00'::interval\)\) WITH &&\)$/);
  const indexes = await sql<{
    indexname: string;
  }>`SELECT indexname FROM pg_indexes WHERE tablename IN ('orders', 'order_services') ORDER BY indexname`.execute(db);
  t.same(
    indexes.rows.map((r) => r.indexname),
    [
      'order_services_pkey',
      'order_services_service_id_idx',
      'orders_datetime_id_idx',
      'orders_pkey',
      'orders_schedule_window',
    ],
  );
});
