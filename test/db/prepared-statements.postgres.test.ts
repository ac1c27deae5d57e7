import { sql } from 'kysely';
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { openDatabase, type Db } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { allScopes } from '../../src/keys/model.js';
import { createApiKey } from '../../src/keys/use-cases.js';
import { freshDatabaseTarget, type TestContext } from '../helpers/database.js';
import { orderBody, seedCatalogue } from '../helpers/fixtures.js';
import { typedClient } from '../helpers/http.js';

// Postgres run only: named prepared statements are a Postgres server feature (PGlite runs each
// statement in-process and this setting does not apply to it).

/** The app on a fresh database, with prepared statements on or off; its own pool. */
async function serve(t: TestContext, preparedStatements: boolean) {
  const target = await freshDatabaseTarget(t);
  if (target.kind !== 'postgres') throw new Error('this file runs on the Postgres server only');
  const { db } = await openDatabase({ ...target, preparedStatements });
  await migrateToLatest(db);
  await seedCatalogue(db);
  const { key } = await createApiKey(db, 'prepared', allScopes);
  const app = await buildApp({ db });
  t.teardown(async () => {
    await app.close();
    await db.destroy();
  });
  return { db, client: typedClient(await app.listen({ port: 0, host: '127.0.0.1' }), key) };
}

/** Named statements on every pooled connection (pg_prepared_statements is per connection). */
async function preparedOnEveryConnection(db: Db): Promise<string[]> {
  const names = new Set<string>();
  // Ten at once take all ten pooled connections, so each is asked.
  await Promise.all(
    Array.from({ length: 10 }, () =>
      db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ statement: string }>`
          SELECT statement FROM pg_prepared_statements WHERE name LIKE 'orders_service_%'`.execute(trx);
        for (const row of rows) names.add(row.statement.replace(/\s+/g, ' ').trim());
        await sql`SELECT pg_sleep(0.05)`.execute(trx);
      }),
    ),
  );
  return [...names];
}

t.test('the query templates run as named prepared statements on the Postgres server', async (t) => {
  const { db, client } = await serve(t, true);
  const created = await client.POST('/orders', { body: orderBody('2031-01-01T10:00:00.000Z') });
  t.equal(created.response.status, 201);
  for (let i = 0; i < 20; i++) {
    const { response, data } = await client.GET('/orders/{orderId}', {
      params: { path: { orderId: created.data!.id } },
    });
    t.equal(response.status, 200);
    t.equal(data?.id, created.data!.id, 'and answer as before');
  }
  const statements = await preparedOnEveryConnection(db);
  t.ok(
    statements.some((s) => /where "o"\."id" = \$1::bigint/i.test(s)),
    `GET one order is a prepared statement (${statements.length} prepared)`,
  );
  t.ok(
    statements.some((s) => /INSERT INTO orders/.test(s)),
    'so is the create statement',
  );
});

t.test('with DATABASE_PREPARED_STATEMENTS=false nothing is prepared, and the API answers the same', async (t) => {
  const { db, client } = await serve(t, false);
  const created = await client.POST('/orders', { body: orderBody('2031-01-01T10:00:00.000Z') });
  t.equal(created.response.status, 201);
  const { response, data } = await client.GET('/orders/{orderId}', { params: { path: { orderId: created.data!.id } } });
  t.equal(response.status, 200);
  t.same(data, created.data);
  t.same(await preparedOnEveryConnection(db), [], 'no named statement on any connection');
});
