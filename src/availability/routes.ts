import type { Db } from '../db/database.js';
import { millisOf, notAnInstant, utcInstant, utcInstantRoundedUp } from '../http/instant.js';
import type { OperationHandlers } from '../http/operation-handler.js';
import { ProblemError, invalidRequest, notFound, type FieldError } from '../http/problem.js';
import { ExcludedOrderNotFoundError, MAX_RANGE_DAYS, MAX_RANGE_MS, type AvailabilityRange } from './model.js';
import * as availability from './use-cases.js';

export type AvailabilityOperations = OperationHandlers<'getAvailability' | 'getNearestAvailability'>;

/** The availability feature's refusals as problems. */
export function availabilityProblem(error: unknown): ProblemError | undefined {
  if (error instanceof ExcludedOrderNotFoundError) return notFound(`There is no order ${error.orderId}.`);
  return undefined;
}

export function availabilityRoutes(db: Db): AvailabilityOperations {
  return {
    async getAvailability(request) {
      const range = rangeFrom(request.query);
      const windows = await availability.freeWindows(db, range);
      return { from: range.from, to: range.to, windows };
    },

    async getNearestAvailability(request) {
      const { at: text, excludeOrderId } = request.query;
      // Truncated like an order's datetime, so `at` is the instant a create at `at` would store.
      const at = utcInstant(text);
      if (at === undefined) throw invalidRequest([{ path: '/query/at', message: notAnInstant }]);
      return { at, ...(await availability.nearestFree(db, at, excludeOrderId)) };
    },
  };
}

/**
 * The checks JSON Schema cannot express: from < to, at most 31 days (real instants in years 0001
 * to 9999 are the contract's pattern and format, checked again). Bounds are rounded up to the next
 * millisecond like the list's: starts are whole milliseconds, so `from=…11.1119Z` starts at
 * …11.112Z and `to=…11.1111Z` includes …11.111Z.
 */
function rangeFrom(query: { from: string; to: string; excludeOrderId?: string }): AvailabilityRange {
  const errors: FieldError[] = [];
  const from = utcInstantRoundedUp(query.from);
  const to = utcInstantRoundedUp(query.to);
  if (from === undefined) errors.push({ path: '/query/from', message: notAnInstant });
  if (to === undefined) errors.push({ path: '/query/to', message: notAnInstant });
  if (from !== undefined && to !== undefined) {
    const span = millisOf(to) - millisOf(from);
    if (span <= 0) errors.push({ path: '/query/to', message: 'must be after from' });
    else if (span > MAX_RANGE_MS) {
      errors.push({ path: '/query/to', message: `must be at most ${MAX_RANGE_DAYS} days after from` });
    }
  }
  if (errors.length > 0 || from === undefined || to === undefined) throw invalidRequest(errors);
  return { from, to, ...(query.excludeOrderId === undefined ? {} : { excludeOrderId: query.excludeOrderId }) };
}
