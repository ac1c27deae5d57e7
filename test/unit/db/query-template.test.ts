import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  sql,
  type CompiledQuery,
} from 'kysely';
import t from 'tap';
import { QueryTemplate } from '../../../src/db/query-template.js';
import type { Database } from '../../../src/db/schema.js';

/** A Kysely that compiles Postgres SQL and executes nothing, recording each executed query. */
function recordingDb() {
  const executed: CompiledQuery[] = [];
  const db = new Kysely<Database>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => new PostgresIntrospector(db),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
    log: (event) => {
      if (event.level === 'query') executed.push(event.query);
    },
  });
  return { db, executed };
}

t.test('every execution sends the same SQL text, with the arguments as its parameters in order', async (t) => {
  const { db, executed } = recordingDb();
  const ordersFrom = new QueryTemplate(2, (db, from: string, limit: number) =>
    db
      .selectFrom('orders')
      .select('id')
      .where('datetime', '>=', sql<string>`${from}`)
      .orderBy('datetime')
      .limit(limit),
  );
  await ordersFrom.execute(db, '2022-11-01T00:00:00.000Z', 10);
  await ordersFrom.execute(db, '2023-01-01T00:00:00.000Z', 50);
  t.equal(executed.length, 2);
  t.equal(executed[0]?.sql, 'select "id" from "orders" where "datetime" >= $1 order by "datetime" limit $2');
  t.equal(executed[1]?.sql, executed[0]?.sql);
  t.strictSame(executed[0]?.parameters, ['2022-11-01T00:00:00.000Z', 10]);
  t.strictSame(executed[1]?.parameters, ['2023-01-01T00:00:00.000Z', 50]);
});

t.test('each parameter comes from the argument at its place in the SQL, whatever the argument order', async (t) => {
  const { db, executed } = recordingDb();
  const template = new QueryTemplate(
    2,
    (_db, a: string, b: string) => sql<{ x: string }>`select ${b} as first, ${a} as second, ${b} as third`,
  );
  await template.execute(db, 'A', 'B');
  t.equal(executed[0]?.sql, 'select $1 as first, $2 as second, $1 as third');
  t.strictSame(executed[0]?.parameters, ['B', 'A']);
});

t.test('an argument used in several places is one parameter; fixed values keep one each', async (t) => {
  const { db, executed } = recordingDb();
  const template = new QueryTemplate(
    2,
    (_db, at: string, id: string) =>
      sql<{
        x: string;
      }>`select ${at}::timestamptz - ${'3 hours'}::interval, ${id}::bigint, ${at}::timestamptz + ${'3 hours'}::interval where ${id}::bigint is not null`,
  );
  await template.execute(db, '2022-11-01T00:00:00.000Z', '7');
  t.equal(
    executed[0]?.sql,
    'select $1::timestamptz - $2::interval, $3::bigint, $1::timestamptz + $4::interval where $3::bigint is not null',
  );
  t.strictSame(executed[0]?.parameters, ['2022-11-01T00:00:00.000Z', '3 hours', '7', '3 hours']);
});

t.test('SQL with a $ of its own (in a literal) is left as Kysely numbered it', async (t) => {
  const { db, executed } = recordingDb();
  const template = new QueryTemplate(
    1,
    (_db, a: string) => sql<{ x: string }>`select ${a} as first, '$1' as literal, ${a} as again`,
  );
  await template.execute(db, 'A');
  t.equal(executed[0]?.sql, "select $1 as first, '$1' as literal, $2 as again");
  t.strictSame(executed[0]?.parameters, ['A', 'A']);
});

t.test('values fixed in the query stay in every execution, in their place', async (t) => {
  const { db, executed } = recordingDb();
  const template = new QueryTemplate(1, (db, name: string) =>
    db
      .selectFrom('api_keys')
      .select('id')
      .where('revoked_at', 'is', null)
      .where('name', '=', name)
      .where(sql<boolean>`${'orders:read'} = any(scopes)`)
      .limit(1),
  );
  await template.execute(db, 'alice');
  await template.execute(db, 'bob');
  t.equal(executed[0]?.sql, executed[1]?.sql);
  t.strictSame(executed[0]?.parameters, ['alice', 'orders:read', 1]);
  t.strictSame(executed[1]?.parameters, ['bob', 'orders:read', 1]);
});

t.test('the query is built and compiled once, on first execution', async (t) => {
  const { db } = recordingDb();
  let builds = 0;
  const template = new QueryTemplate(1, (db, id: string) => {
    builds += 1;
    return db.selectFrom('orders').select('version').where('id', '=', id);
  });
  t.equal(builds, 0, 'not at construction');
  for (const id of ['1', '2', '3']) await template.execute(db, id);
  t.equal(builds, 1);
});

t.test('an argument the query does not use is ignored', async (t) => {
  const { db, executed } = recordingDb();
  const template = new QueryTemplate(2, (db, id: string, _unused: string) =>
    db.selectFrom('orders').select('id').where('id', '=', id),
  );
  await template.execute(db, '7', 'ignored');
  t.strictSame(executed[0]?.parameters, ['7']);
});

t.test('a query that uses an argument beyond its arity is refused, not bound as NULL', async (t) => {
  const { db, executed } = recordingDb();
  // Declared with one argument, but the builder reads a second one.
  const template = new QueryTemplate<[string, string], { id: string }>(1 as 2, (db, id, other) =>
    db.selectFrom('orders').select('id').where('id', '=', id).where('created_by', '=', other),
  );
  await t.rejects(
    async () => template.execute(db, '1', 'x'),
    new Error('a query template uses more arguments than its arity (1)'),
  );
  t.equal(executed.length, 0, 'nothing was executed');
});
