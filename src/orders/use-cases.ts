import type { Transaction } from 'kysely';
import { nearestFreeForRefusal } from '../availability/use-cases.js';
import type { Db } from '../db/database.js';
import { isTransientConflict } from '../db/errors.js';
import { withSavepoint } from '../db/savepoint.js';
import type { Database, Executor } from '../db/schema.js';
import type { IdempotentRequest, KeyedOutcome } from '../idempotency/model.js';
import { onceForKey } from '../idempotency/use-cases.js';
import {
  ScheduleConflictError,
  UnknownServicesError,
  OrderNotFoundError,
  OrderVersionMismatchError,
  type ExpectedVersions,
  type OrderDraft,
  type OrderListQuery,
  type OrderRecord,
} from './model.js';
import {
  deleteOrderRow,
  findConflictingOrder,
  findOrderById,
  findUnknownServiceIds,
  insertOrder,
  isScheduleWindowViolation,
  isUnknownServiceViolation,
  listOrders,
  lockOrder,
  lockOrderToMove,
  updateOrder,
} from './queries.js';

/**
 * The orders use cases. Each write owns its transaction (or, with an Idempotency-Key, runs in the
 * one the key's record shares), and every write goes through `attemptWrite`: the one place that
 * retries, and that names the order in the way.
 */

/**
 * A write is attempted at most this many times in all. Another attempt follows only (a) a
 * deadlock or serialization failure (40P01, 40001), after a short random pause, or (b) a refusal
 * whose cause vanished before it could be named (the order in the way was deleted, the missing
 * service created), when the write may now succeed. After the last attempt: the error (503), or
 * the refusal without a name.
 */
export const MAX_WRITE_ATTEMPTS = 5;

export async function getOrder(db: Executor, id: string): Promise<OrderRecord> {
  const order = await findOrderById(db, id);
  if (!order) throw new OrderNotFoundError(id);
  return order;
}

/** Up to `query.limit` orders after `query.after`, in (datetime, id) order. */
export function listOrderPage(db: Executor, query: OrderListQuery): Promise<OrderRecord[]> {
  return listOrders(db, query);
}

export function createOrder(db: Db, draft: OrderDraft, actor: string): Promise<OrderRecord> {
  return attemptWrite(db, draft, undefined, () => insertOnce(db, draft, actor));
}

/** The same, at most once per Idempotency-Key: the order and the key's record commit together. */
export function createOrderOnce(
  db: Db,
  draft: OrderDraft,
  actor: string,
  request: IdempotentRequest<OrderRecord>,
): Promise<KeyedOutcome<OrderRecord>> {
  return onceForKey(db, request, (trx) => attemptWrite(trx, draft, undefined, () => insertOnce(trx, draft, actor)));
}

async function insertOnce(db: Executor, draft: OrderDraft, actor: string): Promise<OrderRecord> {
  const outcome = await insertOrder(db, draft, actor);
  if ('created' in outcome) return outcome.created;
  throw new ScheduleConflictError(draft.datetime, outcome.refusedBy);
}

/**
 * Replaces datetime, fee and services. The row is locked first, which makes the version check
 * atomic and lets the write (started after the lock is granted) see the service links of any
 * replace that committed meanwhile; one statement alone would work from a snapshot taken before
 * it waited.
 */
export function replaceOrder(
  db: Db,
  id: string,
  draft: OrderDraft,
  actor: string,
  expected: ExpectedVersions,
): Promise<OrderRecord> {
  return attemptWrite(db, draft, id, () =>
    db.transaction().execute(async (trx) => {
      checkVersion(id, await lockOrderToMove(trx, id, draft.datetime), expected);
      return updateOrder(trx, id, draft, actor);
    }),
  );
}

/**
 * Deletes the order (its service links go with it) if it exists and its version is expected. Without
 * If-Match it is one statement, unless the order changed while that statement waited for it; then,
 * as with If-Match, the row is locked first so the deletion's event shows the order as it was.
 */
export async function deleteOrder(db: Db, id: string, expected: ExpectedVersions, actor: string): Promise<void> {
  if (expected === undefined) {
    const outcome = await deleteOrderRow(db, id, actor);
    if (outcome === 'absent') throw new OrderNotFoundError(id);
    if (outcome === 'deleted') return;
  }
  await db.transaction().execute(async (trx: Transaction<Database>) => {
    checkVersion(id, await lockOrder(trx, id), expected);
    // Locked: nothing can change the order between this statement's snapshot and its delete.
    await deleteOrderRow(trx, id, actor);
  });
}

/**
 * A final refusal with the nearest free starts around the requested time (the order being moved
 * excluded): one more statement, on the refusal path only. Advice: another writer may take them first.
 */
async function withNearestFree(
  db: Executor,
  refusal: ScheduleConflictError,
  movingId: string | undefined,
): Promise<ScheduleConflictError> {
  const nearest = await nearestFreeForRefusal(db, refusal.requested, movingId);
  return new ScheduleConflictError(refusal.requested, refusal.conflicting, nearest);
}

function checkVersion(id: string, row: { version: number } | undefined, expected: ExpectedVersions): void {
  if (!row) throw new OrderNotFoundError(id);
  if (expected !== undefined && !expected.includes(row.version)) {
    throw new OrderVersionMismatchError(id, row.version);
  }
}

/**
 * Runs a write within MAX_WRITE_ATTEMPTS, turning constraint violations into refusals that name
 * their cause: the earliest other order in the way (`movingId` is the order being moved, never
 * its own obstacle), or the unknown service ids. Inside a transaction each attempt gets a
 * savepoint, so the transaction survives a violation and the lookup after it can run.
 */
async function attemptWrite<T>(
  db: Executor,
  draft: OrderDraft,
  movingId: string | undefined,
  write: () => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const lastAttempt = attempt >= MAX_WRITE_ATTEMPTS;
    try {
      return await withSavepoint(db, write);
    } catch (error) {
      if (isTransientConflict(error) && !lastAttempt) {
        // Deadlock victims that retry in lockstep collide again: a short random pause spreads them.
        await new Promise((resolve) => setTimeout(resolve, attempt * (5 + Math.random() * 20)));
        continue;
      }
      if (error instanceof ScheduleConflictError && error.conflicting) {
        throw await withNearestFree(db, error, movingId);
      }
      if (error instanceof ScheduleConflictError || isScheduleWindowViolation(error)) {
        // The order in the way is not named yet (a violation, or it committed after the statement's
        // snapshot): a new statement sees it. If it has gone again meanwhile, the slot may be free.
        const conflicting = await findConflictingOrder(db, draft.datetime, movingId);
        if (conflicting || lastAttempt) {
          throw await withNearestFree(db, new ScheduleConflictError(draft.datetime, conflicting), movingId);
        }
        continue;
      }
      if (isUnknownServiceViolation(error)) {
        const unknown = await findUnknownServiceIds(db, draft.serviceIds);
        if (unknown.length > 0 || lastAttempt) throw new UnknownServicesError(unknown);
        continue;
      }
      throw error;
    }
  }
}
