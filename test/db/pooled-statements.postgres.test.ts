import { sql, type KyselyPlugin } from 'kysely';
import t from 'tap';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { templateRunnerOf } from '../../src/db/pooled-statements.js';
import { QueryTemplate } from '../../src/db/query-template.js';
import { freshDatabaseTarget, type TestContext } from '../helpers/database.js';
import { seedCatalogue } from '../helpers/fixtures.js';

// Postgres run only: the direct path exists for the pg pool (PGlite keeps Kysely's).

async function open(t: TestContext) {
  const target = await freshDatabaseTarget(t);
  if (target.kind !== 'postgres') throw new Error('this file runs on the Postgres server only');
  const opened = await openDatabase(target);
  t.teardown(() => opened.db.destroy());
  await migrateToLatest(opened.db);
  await seedCatalogue(opened.db);
  return opened;
}

/** A plugin that changes nothing: a `withPlugin` copy of the database runs templates through Kysely. */
const throughKysely: KyselyPlugin = {
  transformQuery: (args) => args.node,
  transformResult: async (args) => args.result,
};

const serviceNamed = new QueryTemplate(
  1,
  (_db, id: number) => sql<{ id: number; name: string; at: string; big: string }>`
    SELECT s.id, s.name, timestamptz '2031-01-01 10:00:00.123+00' AS at, 9007199254740993::bigint AS big
    FROM services s WHERE s.id = ${id}::int`,
);
/** Appends `suffix` to the names of the services from `id` up. */
const renameServices = new QueryTemplate(
  2,
  (_db, id: number, suffix: string) => sql`UPDATE services SET name = name || ${suffix} WHERE id >= ${id}::int`,
);
const divideBy = new QueryTemplate(1, (_db, n: number) => sql<{ q: number }>`SELECT 1 / ${n}::int AS q`);

t.test('the database runs templates on its pool; a transaction or a plugin copy keeps Kysely', async (t) => {
  const { db } = await open(t);
  t.type(templateRunnerOf(db), 'function', 'the opened database has a direct runner');
  t.equal(templateRunnerOf(db.withPlugin(throughKysely)), undefined, 'a withPlugin copy has none');
  const rollBack = new Error('roll back');
  const outcome = await db
    .transaction()
    .execute(async (trx) => {
      t.equal(templateRunnerOf(trx), undefined, 'a transaction has none');
      // Inside the transaction the template sees the transaction's own uncommitted write.
      await renameServices.execute(trx, 123, ' (renamed)');
      const { rows } = await serviceNamed.execute(trx, 123);
      t.equal(rows[0]?.name, 'Inspection (renamed)');
      throw rollBack;
    })
    .catch((error: unknown) => error);
  t.equal(outcome, rollBack, 'the transaction ended by the rollback, not by another error');
  const { rows } = await serviceNamed.execute(db, 123);
  t.equal(rows[0]?.name, 'Inspection', 'rolled back: the direct path sees the committed row');
});

t.test('both paths answer the same rows, parsed the same way', async (t) => {
  const { db } = await open(t);
  const direct = await serviceNamed.execute(db, 456);
  const viaKysely = await serviceNamed.execute(db.withPlugin(throughKysely), 456);
  t.same(direct.rows, [{ id: 456, name: 'Analysis', at: '2031-01-01T10:00:00.123Z', big: '9007199254740993' }]);
  t.strictSame(direct.rows, viaKysely.rows);
  t.equal(direct.numAffectedRows, undefined, 'a read reports no affected rows, as Kysely does');
});

t.test('a write reports its affected rows as Kysely does', async (t) => {
  const { db } = await open(t);
  const direct = await renameServices.execute(db, 456, ' (renamed)');
  const viaKysely = await renameServices.execute(db.withPlugin(throughKysely), 456, ' (again)');
  t.equal(typeof direct.numAffectedRows, 'bigint');
  t.equal(direct.numAffectedRows, viaKysely.numAffectedRows);
  t.equal(direct.numAffectedRows, 2n, 'services 456 and 789');
});

t.test('a refused statement rejects with the Postgres error and keeps its connection in the pool', async (t) => {
  const { db, poolStats } = await open(t);
  t.equal((await divideBy.execute(db, 1)).rows[0]?.q, 1);
  const before = poolStats!().total;
  for (let i = 0; i < 5; i++) {
    const error = await divideBy.execute(db, 0).then(
      () => undefined,
      (e: unknown) => e as { code?: string },
    );
    t.equal(error?.code, '22012', 'division by zero, as Postgres said it');
  }
  t.equal(poolStats!().total, before, 'no connection was closed or opened for the errors');
  t.equal(poolStats!().idle, before, 'and every one is back in the pool');
  t.equal((await divideBy.execute(db, 2)).rows[0]?.q, 0, 'and the next statement runs');
});
