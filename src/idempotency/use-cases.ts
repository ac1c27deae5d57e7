import type { Transaction } from 'kysely';
import type { Db } from '../db/database.js';
import type { Database } from '../db/schema.js';
import { IdempotencyKeyReusedError, type IdempotentRequest, type KeyedOutcome } from './model.js';
import {
  claimIdempotencyKey,
  deleteExpiredIdempotencyKeys,
  saveIdempotentResponse,
  tryTakeSweepLock,
} from './queries.js';

/**
 * Runs a write at most once per Idempotency-Key: the key is claimed, the write done and its
 * answer recorded in ONE transaction, so a retry after any outcome (success, refusal, or a
 * response lost on the way) either replays that answer or, if the write rolled back (a fault),
 * does it afresh. A write's use case calls this to get its transaction.
 */
export async function onceForKey<T>(
  db: Db,
  request: IdempotentRequest<T>,
  write: (trx: Transaction<Database>) => Promise<T>,
): Promise<KeyedOutcome<T>> {
  const { claim } = request;
  const outcome = await db.transaction().execute(async (trx): Promise<KeyedOutcome<T>> => {
    const earlier = await claimIdempotencyKey(trx, claim);
    if (earlier) {
      if (earlier.requestHash !== claim.requestHash) throw new IdempotencyKeyReusedError();
      return { kind: 'replayed', response: earlier.response };
    }
    try {
      const value = await write(trx);
      const response = request.answer(value);
      await saveIdempotentResponse(trx, claim, response);
      return { kind: 'fresh', value, response };
    } catch (error) {
      // A refusal is the answer to this request and is replayed like a success; anything else
      // rolls the transaction back, releasing the key for a retry.
      const response = request.answerRefusal(error);
      if (!response) throw error;
      await saveIdempotentResponse(trx, claim, response);
      return { kind: 'refused', refusal: error };
    }
  });
  return outcome;
}

export interface SweepOptions {
  /** Entries deleted per statement (and per transaction). */
  batchSize: number;
  /** Asked between batches: true stops the sweep (the process is shutting down). */
  shouldStop?: () => boolean;
}

export interface SweepOutcome {
  deleted: number;
  batches: number;
  /** Another process held the sweep's lock, so this one left the work to it. */
  leftToAnother: boolean;
}

/**
 * Deletes expired Idempotency-Key entries, batch by batch, each batch its own short transaction
 * holding the sweep's advisory lock: one process sweeps at a time (the others leave it when they
 * find the lock taken), and no transaction holds many rows or runs long.
 */
export async function sweepExpiredIdempotencyKeys(db: Db, options: SweepOptions): Promise<SweepOutcome> {
  const outcome: SweepOutcome = { deleted: 0, batches: 0, leftToAnother: false };
  for (;;) {
    const deleted = await db.transaction().execute(async (trx) => {
      if (!(await tryTakeSweepLock(trx))) return undefined;
      return deleteExpiredIdempotencyKeys(trx, options.batchSize);
    });
    if (deleted === undefined) return { ...outcome, leftToAnother: true };
    outcome.batches++;
    outcome.deleted += deleted;
    if (deleted < options.batchSize || options.shouldStop?.()) return outcome;
  }
}
