import { sql, type RawBuilder } from 'kysely';
import { QueryTemplate } from '../db/query-template.js';
import type { Executor } from '../db/schema.js';
import { MAX_RANGE_DAYS, type FreeWindow, type NearestFree } from './model.js';

/**
 * The SQL of free time. Each request is one statement, and each reads orders through the btree on
 * (datetime, id) as an index-only range scan, never the whole table.
 *
 * An order at `o` blocks the starts in the open interval (o - 3h, o + 3h): the exclusion constraint
 * refuses two orders less than 3 hours apart and allows exactly 3. So between consecutive orders `a`
 * and `b` the free starts are [a + 3h, b - 3h], a window when b - a >= 6h (one instant at exactly 6h).
 * Consecutive pairs come from lead() over the orders in datetime order: it streams over an ordered
 * index scan, so a walk can stop at the first gap (LIMIT 1), which range_agg over a multirange,
 * an aggregate that reads all its input first, cannot.
 *
 * Each question is two templates, one per shape: without an excluded order (the common case: no
 * filter on the scanned rows, no existence probe) and with one (`o.id <> excluded`, and whether
 * that order exists, in the same statement). Asking the database to skip "no order" on every
 * scanned row and probe for it was a fifth of a free-time statement's database CPU (measured).
 */

const THREE_HOURS = sql`interval '3 hours'`;
const SIX_HOURS = sql`interval '6 hours'`;
/** The instants the API accepts (years 0001 to 9999): a nearest free start outside them is no answer. */
const EARLIEST_SUPPORTED = sql`timestamptz '0001-01-01T00:00:00.000Z'`;
const LATEST_SUPPORTED = sql`timestamptz '9999-12-31T23:59:59.999Z'`;

/** The condition on a scanned order `o` that leaves the excluded one out; none without one. */
function exceptExcluded(excluded: unknown): RawBuilder<unknown> {
  return excluded === undefined ? sql`` : sql`AND o.id <> ${excluded}::bigint`;
}

function excludedExists(excluded: unknown): RawBuilder<boolean> {
  return sql<boolean>`EXISTS (SELECT 1 FROM orders x WHERE x.id = ${excluded}::bigint)`;
}

/**
 * The most orders within 3 hours of a range: it spans at most MAX_RANGE_DAYS (checked before the
 * query), 6 hours more with the margins, and orders are at least 3 hours apart (the constraint).
 */
const MOST_ORDERS_NEAR_A_RANGE = Math.floor((MAX_RANGE_DAYS * 24 + 6) / 3) + 1;

/**
 * Only orders within 3 hours of [from, to) can block a start in it, so the scan is bounded by the
 * range (at most 31 days, a few hundred orders). The points are those orders between two sentinels,
 * -infinity and +infinity; between consecutive points p and q the free starts are [p + 3h, q - 3h]
 * (infinities stay infinite), clipped to [from, to - 1 ms]: a window where that is not empty.
 * Columns are named as the API names a window's edges, so a row is a window as it is.
 *
 * The range's bounds are scalar subqueries (InitPlans, computed once when the statement starts,
 * still the index scan's bounds) so that no plan knows them: a generic plan estimates a two-sided
 * range of unknown bounds at 0.5% of the table (5,000 rows at 1M orders) where a custom plan, seeing
 * the values, estimates the few dozen it holds, and the plan cache, comparing the two, planned the
 * statement afresh on every execution at 1M orders (bench/explain.ts caught it). With the bounds
 * unknown to both, the estimates are equal and the generic plan is kept at any size. The LIMIT
 * never cuts (MOST_ORDERS_NEAR_A_RANGE); it keeps that estimate from growing with the table.
 */
function windowsSql(from: unknown, to: unknown, excluded: unknown) {
  return sql<FreeWindow>`
    SELECT w."earliestStart", w."latestStart"
    FROM (
      SELECT greatest(p.point + ${THREE_HOURS}, ${from}::timestamptz) AS "earliestStart",
        least(p.next - ${THREE_HOURS}, ${to}::timestamptz - interval '1 millisecond') AS "latestStart"
      FROM (
        SELECT b.point, lead(b.point) OVER (ORDER BY b.point) AS next
        FROM (
          SELECT timestamptz '-infinity' AS point
          UNION ALL
          (SELECT o.datetime FROM orders o
           WHERE o.datetime > (SELECT ${from}::timestamptz - ${THREE_HOURS})
             AND o.datetime < (SELECT ${to}::timestamptz + ${THREE_HOURS})
             ${exceptExcluded(excluded)}
           ORDER BY o.datetime LIMIT ${sql.lit(MOST_ORDERS_NEAR_A_RANGE)})
          UNION ALL
          SELECT timestamptz 'infinity'
        ) AS b
      ) AS p
      WHERE p.next IS NOT NULL
    ) AS w
    WHERE w."earliestStart" <= w."latestStart"`;
}

const freeWindowsStatement = new QueryTemplate(
  2,
  (_db, from: string, to: string) => sql<FreeWindow>`${windowsSql(from, to, undefined)} ORDER BY 1`,
);

type ExceptRow = { excludedExists: boolean; earliestStart: string | null; latestStart: string | null };

/**
 * With an order excluded: a LEFT JOIN from one probe row keeps a row (with NULL edges) when there
 * is no window, to carry whether the excluded order exists.
 */
const freeWindowsExceptStatement = new QueryTemplate(
  3,
  (_db, from: string, to: string, excluded: string) => sql<ExceptRow>`
    SELECT probe."excludedExists", w."earliestStart", w."latestStart"
    FROM (SELECT ${excludedExists(excluded)} AS "excludedExists") AS probe
    LEFT JOIN (${windowsSql(from, to, excluded)}) AS w ON true
    ORDER BY w."earliestStart"`,
);

/** The free windows in [from, to), oldest first; undefined when `excluded` names no order. */
export async function findFreeWindows(
  db: Executor,
  from: string,
  to: string,
  excluded: string | null,
): Promise<FreeWindow[] | undefined> {
  if (excluded === null) return (await freeWindowsStatement.execute(db, from, to)).rows;
  const { rows } = await freeWindowsExceptStatement.execute(db, from, to, excluded);
  if (!rows[0]?.excludedExists) return undefined;
  return rows.flatMap((row) =>
    row.earliestStart === null || row.latestStart === null
      ? []
      : [{ earliestStart: row.earliestStart, latestStart: row.latestStart }],
  );
}

/**
 * When no order is within 3 hours of `at`, `at` is free and is both answers. Otherwise `at` lies in
 * a run of orders each less than 6 hours from the next, which blocks everything from 3 hours before
 * its first order to 3 hours after its last: those two instants are the answers (each free: the
 * orders beside the run are at least 6 hours away). The run's first order is found by walking back
 * from the last order before at + 3h, pairing each with the one before it (lead() over a backward
 * index scan) until a pair is 6 hours or more apart, or the orders end; its last order likewise
 * forward. The walk reads the run and no more: exact for any run, and as long as the run is.
 * `blocking` and `nearest` are materialized so each walk runs at most once; a walk is a subquery
 * that runs only when its CASE branch is taken, so a free `at` costs one index probe. The walk's
 * ORDER BY is inside it and the outer query has none: Postgres passes LIMIT 1 down into a subquery
 * only when the outer level does not sort, and without it plans a full read and a sort (seen in
 * bench/explain.ts) instead of the ordered index scan that stops at the first gap.
 */
function nearestSql<Row>(at: unknown, excluded: unknown) {
  return sql<Row>`
    WITH blocking AS MATERIALIZED (
      SELECT EXISTS (
        SELECT 1 FROM orders o
        WHERE o.datetime > ${at}::timestamptz - ${THREE_HOURS} AND o.datetime < ${at}::timestamptz + ${THREE_HOURS}
          ${exceptExcluded(excluded)}
      ) AS blocked
    ), run_start AS (
      SELECT w.datetime FROM (
        SELECT o.datetime, lead(o.datetime) OVER (ORDER BY o.datetime DESC) AS earlier
        FROM orders o
        WHERE o.datetime < ${at}::timestamptz + ${THREE_HOURS} ${exceptExcluded(excluded)}
        ORDER BY o.datetime DESC
      ) w
      WHERE w.earlier IS NULL OR w.datetime - w.earlier >= ${SIX_HOURS}
      LIMIT 1
    ), run_end AS (
      SELECT w.datetime FROM (
        SELECT o.datetime, lead(o.datetime) OVER (ORDER BY o.datetime) AS later
        FROM orders o
        WHERE o.datetime > ${at}::timestamptz - ${THREE_HOURS} ${exceptExcluded(excluded)}
        ORDER BY o.datetime
      ) w
      WHERE w.later IS NULL OR w.later - w.datetime >= ${SIX_HOURS}
      LIMIT 1
    ), nearest AS MATERIALIZED (
      SELECT
        CASE WHEN b.blocked THEN (SELECT r.datetime - ${THREE_HOURS} FROM run_start r) ELSE ${at}::timestamptz END AS before,
        CASE WHEN b.blocked THEN (SELECT r.datetime + ${THREE_HOURS} FROM run_end r) ELSE ${at}::timestamptz END AS after
      FROM blocking b
    )
    SELECT CASE WHEN n.before >= ${EARLIEST_SUPPORTED} THEN n.before END AS before,
      CASE WHEN n.after <= ${LATEST_SUPPORTED} THEN n.after END AS after
      ${excluded === undefined ? sql`` : sql`, ${excludedExists(excluded)} AS "excludedExists"`}
    FROM nearest n`;
}

const nearestFreeStatement = new QueryTemplate(1, (_db, at: string) => nearestSql<NearestFree>(at, undefined));

type NearestExceptRow = NearestFree & { excludedExists: boolean };

const nearestFreeExceptStatement = new QueryTemplate(2, (_db, at: string, excluded: string) =>
  nearestSql<NearestExceptRow>(at, excluded),
);

/** The nearest free starts around `at`; undefined when `excluded` names no order. */
export async function findNearestFree(
  db: Executor,
  at: string,
  excluded: string | null,
): Promise<NearestFree | undefined> {
  if (excluded === null) return (await nearestFreeStatement.execute(db, at)).rows[0]!;
  const row = (await nearestFreeExceptStatement.execute(db, at, excluded)).rows[0]!;
  return row.excludedExists ? { before: row.before, after: row.after } : undefined;
}

/** The same, not caring whether `excluded` still exists (a refused move's order may be deleted meanwhile). */
export async function findNearestFreeExcept(db: Executor, at: string, excluded: string | null): Promise<NearestFree> {
  if (excluded === null) return (await nearestFreeStatement.execute(db, at)).rows[0]!;
  const row = (await nearestFreeExceptStatement.execute(db, at, excluded)).rows[0]!;
  return { before: row.before, after: row.after };
}
