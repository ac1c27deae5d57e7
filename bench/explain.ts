/**
 * EXPLAIN (ANALYZE) of every hot query, as the service sends it: the queries and use cases run
 * against a benchmark database through a Kysely instance that records each statement, and each
 * recorded statement is then explained with its own parameters, writes inside a transaction that
 * is rolled back. The point: every plan is an index lookup (no Seq Scan, no OFFSET), so latency
 * stays flat from 10k to 1M orders.
 *
 *   node --import tsx bench/explain.ts [1m]        # make bench-explain; the size defaults to 1m
 *
 * Exits 1 when a plan, custom or generic, has a sequential scan on orders or order_services, or
 * reads more than 1,000 rows it then throws away.
 */
import { Kysely, PostgresDialect, sql, type CompiledQuery } from 'kysely';
import pg from 'pg';
import type { Database } from '../src/db/schema.js';
import { ScheduleConflictError } from '../src/orders/model.js';
import { findFreeWindows, findNearestFree } from '../src/availability/queries.js';
import { readFeed } from '../src/events/queries.js';
import { findOrderById, listOrders } from '../src/orders/queries.js';
import { createOrder, replaceOrder } from '../src/orders/use-cases.js';
import { eventDeepPositions } from './scenarios.js';
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

let badPlans = 0;
const client = await pool.connect();

function literal(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return client.escapeLiteral(`{${value.join(',')}}`);
  if (value instanceof Date) return client.escapeLiteral(value.toISOString());
  return client.escapeLiteral(String(value));
}

/** A plan that reads far more rows than it returns walks an index or a table: flat latency it is not. */
const WASTEFUL = /Rows Removed by Filter: (\d+)/;

function judge(title: string, kind: string, plan: string[]): void {
  if (plan.some((line) => /Seq Scan on (orders|order_services)\b/.test(line))) {
    badPlans++;
    console.error(`FAIL: a sequential scan in "${title}" (${kind} plan)`);
  }
  const removed = Math.max(0, ...plan.map((line) => Number(WASTEFUL.exec(line)?.[1] ?? 0)));
  if (removed > 1000) {
    badPlans++;
    console.error(`FAIL: "${title}" (${kind} plan) reads ${removed} rows it then throws away`);
  }
}

/**
 * Prints each statement's plans, run inside a transaction that is rolled back: the custom plan
 * (for these values) and the generic plan, which a named prepared statement may settle on after
 * a few executions (Postgres 15 has no EXPLAIN (GENERIC_PLAN): PREPARE, then EXECUTE under
 * plan_cache_mode = force_generic_plan).
 */
async function explain(title: string, statements: CompiledQuery[]): Promise<void> {
  console.log(`\n### ${title}\n`);
  for (const statement of statements) {
    const text = statement.sql.replace(/\s+/g, ' ').trim();
    console.log('```');
    console.log(text.length > 300 ? `${text.slice(0, 300)} …` : text);
    for (const kind of ['custom', 'generic'] as const) {
      await client.query('BEGIN');
      try {
        const parameters = [...statement.parameters];
        let rows: Array<{ 'QUERY PLAN': string }>;
        if (kind === 'custom') {
          ({ rows } = await client.query(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${statement.sql}`, parameters));
        } else {
          await client.query(`PREPARE explained AS ${statement.sql}`);
          await client.query('SET LOCAL plan_cache_mode = force_generic_plan');
          // EXECUTE takes its arguments as SQL, not as bound parameters: literals, typed by PREPARE.
          const literals = parameters.map(literal).join(', ');
          const execute = parameters.length > 0 ? `EXECUTE explained(${literals})` : 'EXECUTE explained';
          ({ rows } = await client.query(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${execute}`));
        }
        const plan = rows.map((r) => r['QUERY PLAN']);
        console.log(`-- ${kind} plan`);
        console.log(plan.join('\n'));
        judge(title, kind, plan);
      } finally {
        await client.query('ROLLBACK');
        if (kind === 'generic') await client.query('DEALLOCATE ALL');
      }
    }
    if (statement.parameters.length > 0) await settledPlan(title, statement);
    console.log('```');
  }
}

/**
 * Which plan a named prepared statement settles on, as the service runs it (plan_cache_mode auto):
 * after five custom plans Postgres keeps the generic one unless it looks dearer than planning
 * afresh, and then plans on every execution, which can cost more than running the plan (seen: the
 * free windows at 1M orders, 0.14 ms planning for 0.06 ms running). Executed six times, each in a
 * rolled-back savepoint, then once more, counting the plans it was given (pg_prepared_statements).
 */
async function settledPlan(title: string, statement: CompiledQuery): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(`PREPARE settled AS ${statement.sql}`);
    const execute = `EXECUTE settled(${statement.parameters.map(literal).join(', ')})`;
    const counts = async () =>
      (
        await client.query<{ generic: string; custom: string }>(
          `SELECT generic_plans AS generic, custom_plans AS custom FROM pg_prepared_statements WHERE name = 'settled'`,
        )
      ).rows[0]!;
    const run = async () => {
      await client.query('SAVEPOINT run');
      await client.query(execute).catch(() => undefined); // a refused write is planned all the same
      await client.query('ROLLBACK TO SAVEPOINT run');
    };
    for (let i = 0; i < 6; i++) await run();
    const before = await counts();
    await run();
    const after = await counts();
    const generic = Number(after.generic) > Number(before.generic);
    console.log(
      `-- settled on: ${generic ? 'the generic plan' : 'a custom plan on every execution'} (${after.generic} generic, ${after.custom} custom plans in 7 executions)`,
    );
    if (!generic) {
      badPlans++;
      console.error(`FAIL: "${title}" is planned afresh on every execution (the plan cache rejects its generic plan)`);
    }
  } finally {
    await client.query('ROLLBACK');
    await client.query('DEALLOCATE ALL');
  }
}

try {
  if (page.length !== 51) throw new Error('the benchmark database has too few orders');
  await explain('GET one order (GET /orders/{id})', await statementsOf(() => findOrderById(db, middle)));
  await explain('List, first page of 50', await statementsOf(() => listOrders(db, { limit: 51 })));
  await explain(
    'List, deep page of 50 (keyset cursor half way through the table)',
    await statementsOf(() => listOrders(db, { limit: 51, after: { datetime: deep.datetime, id: deep.id } })),
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
  // As bench/wrk/scenario.lua asks them, at the middle base order. Far from the data (in the
  // created orders' years) the time is free and nearest is one index probe; inside the data it walks
  // the day's run of back-to-back orders to its ends (bench/load-data.ts).
  const middleTime = baseTimeOf(Number(middle));
  const from = new Date(middleTime - 1.5 * 3_600_000).toISOString();
  const to = new Date(middleTime - 1.5 * 3_600_000 + 7 * 86_400_000).toISOString();
  await explain(
    'Availability, 7 days (GET /availability: the orders within 3 hours of the range, gaps by lead())',
    await statementsOf(() => findFreeWindows(db, from, to, null)),
  );
  await explain(
    'Availability, 7 days, one order excluded (?excludeOrderId=: the same, and whether that order exists)',
    await statementsOf(() => findFreeWindows(db, from, to, middle)),
  );
  await explain(
    'Nearest free time, free instant (GET /availability/nearest: one index probe)',
    await statementsOf(() => findNearestFree(db, new Date(CREATED_FROM + 30 * 86_400_000).toISOString(), null)),
  );
  await explain(
    "Nearest free time inside the base orders (walks the day's run, both ways, to its first and last order)",
    await statementsOf(() => findNearestFree(db, new Date(middleTime + 1.5 * 3_600_000).toISOString(), null)),
  );
  // The change feed, as GET /events?limit=100 reads it: from the start, and from halfway through.
  await explain(
    'Events, first page of 100 (GET /events: below the snapshot xmin, keyset on (tx_id, id))',
    await statementsOf(() => readFeed(db, { txId: '0', id: '0' }, 100, undefined)),
  );
  const [[txId, eventId]] = (await eventDeepPositions(db, 1)) as [[string, string]];
  await explain(
    'Events, deep page of 100 (GET /events?after=…)',
    await statementsOf(() => readFeed(db, { txId, id: eventId }, 100, undefined)),
  );
} finally {
  client.release();
  await sweepCreatedOrders(db);
  await sql`VACUUM (ANALYZE) orders, order_services`.execute(db);
  await db.destroy();
}
process.exit(badPlans > 0 ? 1 : 0);
