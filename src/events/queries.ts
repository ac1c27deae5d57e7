import { sql } from 'kysely';
import type { EventType } from '../db/outbox.js';
import { QueryTemplate } from '../db/query-template.js';
import type { Executor } from '../db/schema.js';
import type { EventPosition, PositionedEvent } from './model.js';

/**
 * Every SQL statement that reads or sweeps the outbox (db/outbox.ts; the writing features append to
 * it in their own statements). Each accepts the database or an open transaction.
 */

interface EventRow {
  id: string;
  tx_id: string;
  type: EventType;
  occurred_at: string;
  actor: string | null;
  subject_type: 'order' | 'service';
  subject_id: string;
  data: unknown;
}

function toPositioned(row: EventRow): PositionedEvent {
  return {
    id: row.id,
    type: row.type,
    occurredAt: row.occurred_at,
    actor: row.actor,
    subjectType: row.subject_type,
    subjectId: row.subject_id,
    data: row.data,
    position: { txId: row.tx_id, id: row.id },
  };
}

const eventColumns = sql`e.id::text AS id, e.tx_id::text AS tx_id, e.type, e.occurred_at, e.actor,
  e.subject_type, e.subject_id, e.data`;

type FeedRow = { [K in keyof EventRow]: EventRow[K] | null } & {
  frontier: string;
  horizon_tx: string;
  horizon_id: string;
};

/**
 * The most events a feed page reads (openapi.yaml's largest `limit`, 100, and one more). A constant
 * LIMIT inside, as well as the caller's, keeps the generic plan cheap: with only `LIMIT $n` the
 * planner assumes a tenth of the table and plans the statement afresh on every execution.
 */
const MOST_EVENTS_A_PAGE_READS = 101;

type FeedArgs = [afterTx: string, afterId: string, limit: number, types?: EventType[]];

/**
 * A page of the feed, with the frontier and the horizon read from the same snapshot. Only events
 * whose transaction is below the snapshot's xmin are served: every such transaction has ended, and
 * any transaction still to write one has an id at or above it, so nothing can later appear below a
 * position served from this page. The sort is repeated outside the lateral join, on the raw types.
 * The horizon is read with LIMIT 1 (its table holds one row): the planner then counts one row, not
 * its guess for a table without statistics (1,810), which made the generic plan look dear.
 */
function feedTemplate(filtered: boolean) {
  return new QueryTemplate(4, (_db, afterTx: string, afterId: string, limit: number, types?: EventType[]) => {
    const typeFilter = filtered ? sql`AND e.type = ANY(${types}::text[])` : sql``;
    return sql<FeedRow>`
      SELECT f.xmin::text AS frontier, h.tx_id::text AS horizon_tx, h.id::text AS horizon_id,
        page.id, page.tx_id, page.type, page.occurred_at, page.actor, page.subject_type, page.subject_id, page.data
      FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) AS f
      CROSS JOIN (SELECT tx_id, id FROM event_horizon LIMIT 1) AS h
      LEFT JOIN LATERAL (
        SELECT * FROM (
          SELECT ${eventColumns}, e.tx_id AS sort_tx, e.id AS sort_id
          FROM events AS e
          WHERE (e.tx_id, e.id) > (${afterTx}::xid8, ${afterId}::bigint) AND e.tx_id < f.xmin ${typeFilter}
          ORDER BY e.tx_id, e.id
          LIMIT ${sql.lit(MOST_EVENTS_A_PAGE_READS)}
        ) AS capped
        ORDER BY capped.sort_tx, capped.sort_id
        LIMIT ${limit}
      ) AS page ON true
      ORDER BY page.sort_tx, page.sort_id`;
  });
}

const feedAll = feedTemplate(false);
const feedOfTypes = feedTemplate(true);

export interface FeedRead {
  events: PositionedEvent[];
  /** The snapshot's xmin: every event still to commit will stand at or after (frontier, 0). */
  frontier: string;
  /** The highest position retention has deleted. */
  horizon: EventPosition;
}

export async function readFeed(
  db: Executor,
  after: EventPosition,
  limit: number,
  types: EventType[] | undefined,
): Promise<FeedRead> {
  if (limit > MOST_EVENTS_A_PAGE_READS) throw new Error(`a feed page reads at most ${MOST_EVENTS_A_PAGE_READS} events`);
  const args: FeedArgs = [after.txId, after.id, limit, types];
  const { rows } = types ? await feedOfTypes.execute(db, ...args) : await feedAll.execute(db, ...args);
  const first = rows[0]!;
  return {
    events: rows.filter((row) => row.id !== null).map((row) => toPositioned(row as EventRow)),
    frontier: first.frontier,
    horizon: { txId: first.horizon_tx, id: first.horizon_id },
  };
}

// No frontier here: one order's writes take its row lock in turn, so its history is already in
// commit order, and a writer reads its own change at once.
const historyOf = new QueryTemplate(
  5,
  (_db, subjectType: string, subjectId: string, afterTx: string, afterId: string, limit: number) => sql<EventRow>`
    SELECT ${eventColumns} FROM events AS e
    WHERE e.subject_type = ${subjectType} AND e.subject_id = ${subjectId}
      AND (e.tx_id, e.id) > (${afterTx}::xid8, ${afterId}::bigint)
    ORDER BY e.tx_id, e.id
    LIMIT ${limit}`,
);

/** Up to `limit` events of one subject after `after`, in feed order. */
export async function readHistory(
  db: Executor,
  subject: { type: 'order' | 'service'; id: string },
  after: EventPosition,
  limit: number,
): Promise<PositionedEvent[]> {
  const { rows } = await historyOf.execute(db, subject.type, subject.id, after.txId, after.id, limit);
  return rows.map(toPositioned);
}

export async function hasEvents(db: Executor, subject: { type: 'order' | 'service'; id: string }): Promise<boolean> {
  const row = await db
    .selectFrom('events')
    .select('id')
    .where('subject_type', '=', subject.type)
    .where('subject_id', '=', subject.id)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Deletes up to `batch` of the oldest events, in feed order, that are older than `retentionDays`,
 * stopping at the first one that is not (so what is deleted is always everything up to a
 * position), and moves the horizon up to the last one deleted, in the same statement. Only events
 * below the snapshot's xmin are considered, so no event can later commit below the horizon. The
 * horizon only moves forward, whichever of several concurrent sweeps commits first.
 */
export async function sweepExpiredEvents(db: Executor, retentionDays: number, batch: number): Promise<number> {
  const { rows } = await sql<{ deleted: number }>`
    WITH oldest AS (
      SELECT e.tx_id, e.id, e.occurred_at < now() - make_interval(days => ${retentionDays}::integer) AS expired
      FROM events AS e
      WHERE e.tx_id < pg_snapshot_xmin(pg_current_snapshot())
      ORDER BY e.tx_id, e.id
      LIMIT ${batch}
    ), leading_run AS (
      SELECT tx_id, id, bool_and(expired) OVER (ORDER BY tx_id, id) AS all_expired FROM oldest
    ), deleted AS (
      DELETE FROM events AS e USING leading_run AS l
      WHERE e.id = l.id AND l.all_expired
      RETURNING e.tx_id, e.id
    ), last_deleted AS (
      SELECT tx_id, id FROM deleted ORDER BY tx_id DESC, id DESC LIMIT 1
    ), horizon AS (
      UPDATE event_horizon AS h SET tx_id = d.tx_id, id = d.id
      FROM last_deleted AS d
      WHERE (d.tx_id, d.id) > (h.tx_id, h.id)
    )
    SELECT count(*)::integer AS deleted FROM deleted`.execute(db);
  return rows[0]!.deleted;
}
