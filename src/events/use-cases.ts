import type { Executor } from '../db/schema.js';
import {
  CursorExpiredError,
  OrderHistoryNotFoundError,
  isBefore,
  laterOf,
  startOfFeed,
  type EventPosition,
  type FeedPage,
  type FeedQuery,
  type PositionedEvent,
} from './model.js';
import { hasEvents, readFeed, readHistory, sweepExpiredEvents } from './queries.js';

/** The events use cases: reading the feed and a history, and retention. */

/**
 * A page of the feed after `query.after`. A full page continues from its last event; a shorter one
 * has served everything below the frontier, so the next poll starts at the frontier (a filtered
 * feed does not scan the same other events again). A cursor below the horizon is refused: events
 * after it were deleted, and the reader would skip them.
 */
export async function feedPage(db: Executor, query: FeedQuery, retentionDays: number): Promise<FeedPage> {
  const after = query.after ?? startOfFeed;
  const read = await readFeed(db, after, query.limit, query.types);
  if (query.after && isBefore(query.after, read.horizon)) throw new CursorExpiredError(retentionDays);
  const last = read.events[read.events.length - 1];
  const next =
    read.events.length === query.limit && last
      ? (last as PositionedEvent).position
      : laterOf(after, { txId: read.frontier, id: '0' });
  return { events: read.events, next };
}

export interface HistoryPage {
  events: PositionedEvent[];
  /** Undefined on the last page. */
  next: EventPosition | undefined;
}

/** Up to `limit` events of the order after `after`, oldest first; 404 when it has none at all. */
export async function orderHistory(
  db: Executor,
  orderId: string,
  after: EventPosition | undefined,
  limit: number,
): Promise<HistoryPage> {
  const subject = { type: 'order', id: orderId } as const;
  // One extra row tells whether another page exists.
  const rows = await readHistory(db, subject, after ?? startOfFeed, limit + 1);
  if (rows.length === 0 && (after === undefined || !(await hasEvents(db, subject)))) {
    throw new OrderHistoryNotFoundError(orderId);
  }
  const events = rows.slice(0, limit);
  return { events, next: rows.length > limit ? events[events.length - 1]!.position : undefined };
}

/** Events are deleted in batches of this many, each its own transaction. */
export const SWEEP_BATCH = 1000;

/** Deletes every event older than the retention, oldest first, in batches; how many it deleted. */
export async function sweepEvents(db: Executor, retentionDays: number, batch = SWEEP_BATCH): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await sweepExpiredEvents(db, retentionDays, batch);
    total += deleted;
    if (deleted < batch) return total;
  }
}
