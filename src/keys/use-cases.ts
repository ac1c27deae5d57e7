import type { Db } from '../db/database.js';
import { DuplicateKeyNameError, generateApiKey, hashApiKey, type ApiKeyRecord, type Scope } from './model.js';
import { insertApiKey, isDuplicateKeyName } from './queries.js';

export { countApiKeys, listApiKeys, revokeApiKey } from './queries.js';

/** Creates a key and returns it in clear, the only time it exists outside the caller's hands. */
export async function createApiKey(
  db: Db,
  name: string,
  scopes: readonly Scope[],
): Promise<{ key: string; record: ApiKeyRecord }> {
  const key = generateApiKey();
  try {
    const record = await insertApiKey(db, { name, keyHash: hashApiKey(key), scopes });
    return { key, record };
  } catch (error) {
    if (isDuplicateKeyName(error)) throw new DuplicateKeyNameError(name);
    throw error;
  }
}
