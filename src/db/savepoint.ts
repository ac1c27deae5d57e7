import { sql } from 'kysely';
import type { Executor } from './schema.js';

/**
 * Runs a write that may violate a constraint. Inside a transaction it gets a savepoint, so that
 * the transaction survives the violation and can go on (look up the culprit, record the answer).
 */
export async function withSavepoint<T>(db: Executor, write: () => Promise<T>): Promise<T> {
  if (!db.isTransaction) return write();
  await sql`SAVEPOINT write_attempt`.execute(db);
  try {
    const result = await write();
    await sql`RELEASE SAVEPOINT write_attempt`.execute(db);
    return result;
  } catch (error) {
    await sql`ROLLBACK TO SAVEPOINT write_attempt`.execute(db);
    throw error;
  }
}
