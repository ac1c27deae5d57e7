import { randomBytes } from 'node:crypto';
import type { Db } from './database.js';

/**
 * A random secret shared by every process on this database: the first process to ask creates it,
 * the others read the same value.
 */
export async function sharedSecret(db: Db, name: string): Promise<Buffer> {
  await db
    .insertInto('app_secrets')
    .values({ name, secret: randomBytes(32).toString('hex') })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const row = await db.selectFrom('app_secrets').select('secret').where('name', '=', name).executeTakeFirstOrThrow();
  return Buffer.from(row.secret, 'hex');
}
