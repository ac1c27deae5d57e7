import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';

/**
 * Runs a write that may violate a constraint. Inside a transaction it gets a savepoint, so that
 * the transaction survives the violation and can go on (look up the culprit, record the answer).
 */
export async function guardedWrite<T>(db: Kysely<Database> | Transaction<Database>, write: () => Promise<T>): Promise<T> {
  if (!db.isTransaction) return write();
  await sql`SAVEPOINT guarded_write`.execute(db);
  try {
    const result = await write();
    await sql`RELEASE SAVEPOINT guarded_write`.execute(db);
    return result;
  } catch (error) {
    await sql`ROLLBACK TO SAVEPOINT guarded_write`.execute(db);
    throw error;
  }
}
