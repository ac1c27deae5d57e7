import { sql, type Selectable } from 'kysely';
import { SqlState, isConstraintViolation } from '../db/errors.js';
import type { ApiKeysTable, Executor } from '../db/schema.js';
import type { ApiKeyRecord, Caller } from './model.js';

/** Every SQL statement about API keys. */

type KeyRow = Omit<Selectable<ApiKeysTable>, 'key_hash'>;

function toRecord(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

const listedColumns = [
  sql<string>`id::text`.as('id'),
  'name',
  'scopes',
  'created_at',
  'last_used_at',
  'revoked_at',
] as const;

/** Two live keys may not share a name. */
export function isDuplicateKeyName(error: unknown): boolean {
  return isConstraintViolation(error, SqlState.uniqueViolation, 'api_keys_live_name_key');
}

export async function insertApiKey(
  db: Executor,
  key: { name: string; keyHash: string; scopes: readonly string[] },
): Promise<ApiKeyRecord> {
  const row = await db
    .insertInto('api_keys')
    .values({ name: key.name, key_hash: key.keyHash, scopes: [...key.scopes] })
    .returning(listedColumns)
    .executeTakeFirstOrThrow();
  return toRecord(row);
}

export async function listApiKeys(db: Executor): Promise<ApiKeyRecord[]> {
  const rows = await db.selectFrom('api_keys').select(listedColumns).orderBy('created_at').orderBy('id').execute();
  return rows.map(toRecord);
}

/** Revokes the live key with this name; false when there is none. */
export async function revokeApiKey(db: Executor, name: string): Promise<boolean> {
  const row = await db
    .updateTable('api_keys')
    .set({ revoked_at: sql<string>`now()` })
    .where('name', '=', name)
    .where('revoked_at', 'is', null)
    .returning('name')
    .executeTakeFirst();
  return row !== undefined;
}

export async function countApiKeys(db: Executor): Promise<number> {
  const row = await db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The live key with this hash, as a caller; undefined for unknown and revoked keys alike. */
export async function findCallerByKeyHash(db: Executor, keyHash: string): Promise<Caller | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .select([sql<string>`id::text`.as('id'), 'name', 'scopes'])
    .where('key_hash', '=', keyHash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return row && { keyId: row.id, name: row.name, scopes: row.scopes };
}

export async function recordKeyUse(db: Executor, keyId: string): Promise<void> {
  await db
    .updateTable('api_keys')
    .set({ last_used_at: sql<string>`now()` })
    .where('id', '=', sql<string>`${keyId}::bigint`)
    .execute();
}
