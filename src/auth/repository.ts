import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { SqlState, isConstraintViolation } from '../db/errors.js';
import { generateApiKey, hashApiKey, type Caller, type Scope } from './keys.js';

export interface ApiKeyRecord {
  id: string;
  name: string;
  scopes: string[];
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export class DuplicateKeyNameError extends Error {
  constructor(readonly keyName: string) {
    super(`a live key named ${keyName} already exists`);
  }
}

/** Creates a key and returns it in clear, the only time it exists outside the caller's hands. */
export async function createApiKey(db: Db, name: string, scopes: readonly Scope[]): Promise<{ key: string; record: ApiKeyRecord }> {
  const key = generateApiKey();
  try {
    const row = await db
      .insertInto('api_keys')
      .values({ name, key_hash: hashApiKey(key), scopes: [...scopes] })
      .returning([sql<string>`id::text`.as('id'), 'name', 'scopes', 'created_at', 'last_used_at', 'revoked_at'])
      .executeTakeFirstOrThrow();
    return { key, record: toRecord(row) };
  } catch (error) {
    if (isConstraintViolation(error, SqlState.uniqueViolation, 'api_keys_live_name_key')) throw new DuplicateKeyNameError(name);
    throw error;
  }
}

export async function listApiKeys(db: Db): Promise<ApiKeyRecord[]> {
  const rows = await db
    .selectFrom('api_keys')
    .select([sql<string>`id::text`.as('id'), 'name', 'scopes', 'created_at', 'last_used_at', 'revoked_at'])
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map(toRecord);
}

/** Revokes the live key with this name; false when there is none. */
export async function revokeApiKey(db: Db, name: string): Promise<boolean> {
  const row = await db
    .updateTable('api_keys')
    .set({ revoked_at: sql<Date>`now()` })
    .where('name', '=', name)
    .where('revoked_at', 'is', null)
    .returning('name')
    .executeTakeFirst();
  return row !== undefined;
}

export async function countApiKeys(db: Db): Promise<number> {
  const row = await db.selectFrom('api_keys').select((eb) => eb.fn.countAll<string | number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The live key with this hash, as a caller; undefined for unknown and revoked keys alike. */
export async function findCallerByKeyHash(db: Db, keyHash: string): Promise<Caller | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .select([sql<string>`id::text`.as('id'), 'name', 'scopes'])
    .where('key_hash', '=', keyHash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return row && { keyId: row.id, name: row.name, scopes: row.scopes };
}

export async function recordKeyUse(db: Db, keyId: string): Promise<void> {
  await db.updateTable('api_keys').set({ last_used_at: sql<Date>`now()` }).where('id', '=', sql<string>`${keyId}::bigint`).execute();
}

interface KeyRow {
  id: string;
  name: string;
  scopes: string[];
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

function toRecord(row: KeyRow): ApiKeyRecord {
  return { id: row.id, name: row.name, scopes: row.scopes, createdAt: row.created_at, lastUsedAt: row.last_used_at, revokedAt: row.revoked_at };
}
