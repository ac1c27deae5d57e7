import { Refusal } from '../refusal.js';

/**
 * Free time under the 3-hour rule. A start instant `s` is free when every order (other than one
 * being moved) is at least 3 hours from it. Instants are whole milliseconds, so free time is a set
 * of closed windows with millisecond edges: ISO 8601 in UTC with milliseconds, like every instant here.
 */

/** A maximal run of free starts; both edges inclusive (a window may be one instant). */
export interface FreeWindow {
  earliestStart: string;
  latestStart: string;
}

/** The latest free start at or before an instant, and the earliest at or after it (null: none in years 0001-9999). */
export interface NearestFree {
  before: string | null;
  after: string | null;
}

export interface AvailabilityRange {
  /** Inclusive. */
  from: string;
  /** Exclusive; after `from` and at most MAX_RANGE_MS after it. */
  to: string;
  /** Answer as if this order did not exist. */
  excludeOrderId?: string;
}

/** The longest range one availability request may ask about: it bounds the orders one answer reads. */
export const MAX_RANGE_DAYS = 31;
export const MAX_RANGE_MS = MAX_RANGE_DAYS * 86_400_000;

/** `excludeOrderId` names an order that does not exist. */
export class ExcludedOrderNotFoundError extends Refusal {
  constructor(readonly orderId: string) {
    super(`there is no order ${orderId}`);
  }
}
