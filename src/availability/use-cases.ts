import type { Executor } from '../db/schema.js';
import { ExcludedOrderNotFoundError, type AvailabilityRange, type FreeWindow, type NearestFree } from './model.js';
import { findFreeWindows, findNearestFree, findNearestFreeExcept } from './queries.js';

/**
 * The free-time use cases: reads, one statement each, outside any transaction. An answer is advice:
 * a concurrent writer may take a free time first, and the exclusion constraint still decides.
 */

/** The free windows of a range (already checked: from < to, at most MAX_RANGE_MS). */
export async function freeWindows(db: Executor, range: AvailabilityRange): Promise<FreeWindow[]> {
  const excluded = range.excludeOrderId ?? null;
  const windows = await findFreeWindows(db, range.from, range.to, excluded);
  if (!windows) throw new ExcludedOrderNotFoundError(excluded!);
  return windows;
}

/** The latest free start at or before `at` and the earliest at or after it. */
export async function nearestFree(db: Executor, at: string, excludeOrderId?: string): Promise<NearestFree> {
  const nearest = await findNearestFree(db, at, excludeOrderId ?? null);
  if (!nearest) throw new ExcludedOrderNotFoundError(excludeOrderId!);
  return nearest;
}

/**
 * The same for a refused create or move (the order being moved excluded): one statement, whether or
 * not that order still exists by now.
 */
export function nearestFreeForRefusal(db: Executor, at: string, movingId: string | undefined): Promise<NearestFree> {
  return findNearestFreeExcept(db, at, movingId ?? null);
}
