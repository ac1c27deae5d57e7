/**
 * EXPLAIN (ANALYZE) of every hot query, as the service sends it: the queries and use cases run
 * against a benchmark database through a Kysely instance that records each statement, and each
 * recorded statement is then explained with its own parameters, writes inside a transaction that
 * is rolled back. The point: every plan is an index lookup (no Seq Scan, no OFFSET), so latency
 * stays flat from 10k to 1M orders.
 *
 *   node --import tsx bench/explain.ts [1m]        # make bench-explain; the size defaults to 1m
 *
 * Exits 1 when a plan has a sequential scan on orders or order_services.
 */
import { Kysely, PostgresDialect, sql, type CompiledQuery } from 'kysely';
import pg from 'pg';
import type { Database } from '../src/db/schema.js';
import { ScheduleConflictError } from '../src/orders/model.js';
import { findOrderById, listOrders } from '../src/orders/queries.js';
import { createOrder, replaceOrder } from '../src/orders/use-cases.js';
import {
  CREATED_FROM,
  FIRST_ID,
  SIZES,
  baseTimeOf,
  ensurePostgresDataset,
  isSizeName,
  postgresUrlFor,
  sweepCreatedOrders,
} from './load-data.js';

const size = process.argv[2] ?? '1m';
if (!isSizeName(size)) throw new Error(`unknown size ${size}; one of ${Object.keys(SIZES).join(', ')}`);
await ensurePostgresDataset(size);

const pool = new pg.Pool({ connectionString: postgresUrlFor(size), max: 2 });
let recorded: CompiledQuery[] = [];
const db = new Kysely<Database>({
  dialect: new PostgresDialect({ pool }),
  log: (event) => void recorded.push(event.query),
});

/** The statements `work` sends, in order. */
async function statementsOf(work: () => Promise<unknown>): Promise<CompiledQuery[]> {
  recorded = [];
  try {
    await work();
  } catch (error) {
    if (!(error instanceof ScheduleConflictError)) throw error;
  }
  // Transaction control (begin, commit, savepoints) has no plan.
  return recorded.filter((query) => !/^\s*(begin|commit|rollback|savepoint|release)\b/i.test(query.sql));
}

const middle = String(FIRST_ID + Math.floor(SIZES[size] / 2));
const page = await listOrders(db, { limit: 51 });
const deepRows = await listOrders(db, {
  limit: 1,
  after: { datetime: new Date(baseTimeOf(Number(middle))).toISOString(), id: middle },
});
const deep = deepRows[0]!;
const created = new Date(CREATED_FROM + 7 * 86_400_000).toISOString();
const draft = (datetime: string) => ({ datetime, totalfee: '120.00', serviceIds: [123, 456] });

let sequentialScans = 0;
const client = await pool.connect();

/** Prints the plan of each statement, run inside a transaction that is rolled back. */
async function explain(title: string, statements: CompiledQuery[]): Promise<void> {
  console.log(`\n### ${title}\n`);
  for (const statement of statements) {
    await client.query('BEGIN');
    try {
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${statement.sql}`,
        [...statement.parameters],
      );
      const plan = rows.map((r) => r['QUERY PLAN']);
      const text = statement.sql.replace(/\s+/g, ' ').trim();
      console.log('```');
      console.log(text.length > 300 ? `${text.slice(0, 300)} …` : text);
      console.log('--');
      console.log(plan.join('\n'));
      console.log('```');
      if (plan.some((line) => /Seq Scan on (orders|order_services)\b/.test(line))) {
        sequentialScans++;
        console.error(`FAIL: a sequential scan in "${title}"`);
      }
    } finally {
      await client.query('ROLLBACK');
    }
  }
}

try {
  if (page.length !== 51) throw new Error('the benchmark database has too few orders');
  await explain('GET one order (GET /orders/{id})', await statementsOf(() => findOrderById(db, middle)));
  await explain('List, first page of 50', await statementsOf(() => listOrders(db, { limit: 51 })));
  await explain(
    'List, deep page of 50 (keyset cursor half way through the table)',
    await statementsOf(() =>
      listOrders(db, { limit: 51, after: { datetime: deep.datetime.toISOString(), id: deep.id } }),
    ),
  );
  // Recorded by creating for real, then explained once that order is gone, so the plan is an insert's.
  const create = await statementsOf(() => createOrder(db, draft(created), 'explain'));
  await sweepCreatedOrders(db);
  await explain('Create', create);
  const { id } = await createOrder(db, draft(created), 'explain');
  await explain(
    'Create, conflicting (409: the constraint refuses the row; the same statement names the order in the way)',
    await statementsOf(() => createOrder(db, draft(created), 'explain')),
  );
  await explain(
    'Replace (in a transaction: lock the row and queue for the window, then write)',
    await statementsOf(() =>
      replaceOrder(db, id, draft(new Date(Date.parse(created) + 3_600_000).toISOString()), 'explain', undefined),
    ),
  );
} finally {
  client.release();
  await sweepCreatedOrders(db);
  await sql`VACUUM (ANALYZE) orders, order_services`.execute(db);
  await db.destroy();
}
process.exit(sequentialScans > 0 ? 1 : 0);
