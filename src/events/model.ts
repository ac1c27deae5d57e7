import type { EventType } from '../db/outbox.js';
import { Refusal } from '../refusal.js';

export type { EventType } from '../db/outbox.js';

/** One committed change, as the outbox holds it. */
export interface EventRecord {
  /** Digits, as text (int8). Unique, not an ordering key: the position is. */
  id: string;
  type: EventType;
  /** The writing transaction's start, ISO 8601 in UTC with milliseconds. */
  occurredAt: string;
  actor: string | null;
  subjectType: 'order' | 'service';
  subjectId: string;
  /** The resource as the API showed it after the change (for a deletion, as it was). */
  data: unknown;
}

/**
 * Where an event stands in the feed: its transaction's id (xid8), then its own id, both as digits.
 * Every reader sees events in this order.
 */
export interface EventPosition {
  txId: string;
  id: string;
}

export interface PositionedEvent extends EventRecord {
  position: EventPosition;
}

/** Before every event: the position of a reader that has seen nothing. */
export const startOfFeed: EventPosition = { txId: '0', id: '0' };

export interface FeedQuery {
  /** Leave out to read from the oldest event kept (never 410). */
  after?: EventPosition;
  /** Only these types; every type when left out. */
  types?: EventType[];
  limit: number;
}

export interface FeedPage {
  events: EventRecord[];
  /** Where the next poll starts; present on every page, an empty one included. */
  next: EventPosition;
}

/** a < b in feed order. */
export function isBefore(a: EventPosition, b: EventPosition): boolean {
  const [at, bt] = [BigInt(a.txId), BigInt(b.txId)];
  return at < bt || (at === bt && BigInt(a.id) < BigInt(b.id));
}

/** The later of two positions. */
export function laterOf(a: EventPosition, b: EventPosition): EventPosition {
  return isBefore(a, b) ? b : a;
}

const XID8 = /^(0|[1-9][0-9]{0,19})$/;
const INT8 = /^(0|[1-9][0-9]{0,18})$/;

/** A position as a cursor may carry it: digits within xid8 and int8 ranges. */
export function isEventPosition(txId: unknown, id: unknown): boolean {
  return (
    typeof txId === 'string' &&
    typeof id === 'string' &&
    XID8.test(txId) &&
    INT8.test(id) &&
    BigInt(txId) < 2n ** 64n &&
    BigInt(id) < 2n ** 63n
  );
}

/** The feed cannot be followed from a position below what retention has deleted. */
export class CursorExpiredError extends Refusal {
  constructor(readonly retentionDays: number) {
    super('events after this cursor have passed the retention');
  }
}

/** No events for this order: it never existed, or its whole history has passed the retention. */
export class OrderHistoryNotFoundError extends Refusal {
  constructor(readonly orderId: string) {
    super(`there is no history for order ${orderId}`);
  }
}
