import { sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import type { IdempotencyClaim, StoredResponse } from './model.js';

/** How long a key's first response is kept and replayed. */
const RETENTION = sql`interval '24 hours'`;

/**
 * Claims the key for this request, inside the write's transaction. If another transaction holds
 * the same key, Postgres makes this wait until that one ends: then the key is either free again
 * (it rolled back) or holds its response. Returns undefined when claimed, else the stored row.
 */
export async function claimIdempotencyKey(
  trx: Transaction<Database>,
  claim: IdempotencyClaim,
): Promise<{ requestHash: string; response: StoredResponse } | undefined> {
  // An expired entry counts as absent and is taken over.
  const claimed = await sql<{ key: string }>`
    INSERT INTO idempotency_keys (api_key_id, key, request_hash, status_code, response_headers)
    VALUES (${claim.apiKeyId}::bigint, ${claim.key}, ${claim.requestHash}, 0, '{}')
    ON CONFLICT (api_key_id, key) DO UPDATE
      SET request_hash = excluded.request_hash, status_code = 0, response_headers = '{}', response_body = NULL,
          created_at = now()
      WHERE idempotency_keys.created_at < now() - ${RETENTION}
    RETURNING key`.execute(trx);
  if (claimed.rows.length > 0) return undefined;
  const row = await trx
    .selectFrom('idempotency_keys')
    .select(['request_hash', 'status_code', 'response_headers', 'response_body'])
    .where('api_key_id', '=', sql<string>`${claim.apiKeyId}::bigint`)
    .where('key', '=', claim.key)
    .executeTakeFirstOrThrow();
  return {
    requestHash: row.request_hash,
    response: { statusCode: row.status_code, headers: row.response_headers, body: row.response_body },
  };
}

export async function saveIdempotentResponse(
  trx: Transaction<Database>,
  claim: IdempotencyClaim,
  response: StoredResponse,
): Promise<void> {
  await trx
    .updateTable('idempotency_keys')
    .set({
      status_code: response.statusCode,
      response_headers: JSON.stringify(response.headers),
      response_body: response.body === undefined ? null : JSON.stringify(response.body),
    })
    .where('api_key_id', '=', sql<string>`${claim.apiKeyId}::bigint`)
    .where('key', '=', claim.key)
    .execute();
}

/** Advisory lock (two-key space) held by the one transaction sweeping expired entries at a time. */
const SWEEP_LOCK_SPACE = 30302;

/**
 * Takes the sweep's lock for this transaction, or says another process is sweeping. Transaction
 * scoped (released at commit) so that it works behind PgBouncer in transaction mode.
 */
export async function tryTakeSweepLock(trx: Transaction<Database>): Promise<boolean> {
  const { rows } = await sql<{ taken: boolean }>`
    SELECT pg_try_advisory_xact_lock(${SWEEP_LOCK_SPACE}, 0) AS taken`.execute(trx);
  return rows[0]?.taken === true;
}

/**
 * Deletes up to `limit` expired entries; returns how many. One bounded statement, so no statement
 * has to remove a day's worth of entries within the statement timeout, and nothing is returned
 * that nobody reads. An entry a request is taking over right now (its row locked) is skipped.
 */
export async function deleteExpiredIdempotencyKeys(trx: Transaction<Database>, limit: number): Promise<number> {
  const result = await sql`
    DELETE FROM idempotency_keys
    WHERE (api_key_id, key) IN (
      SELECT api_key_id, key FROM idempotency_keys
      WHERE created_at < now() - ${RETENTION}
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    )`.execute(trx);
  return Number(result.numAffectedRows ?? 0n);
}
