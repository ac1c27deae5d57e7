import { sql } from 'kysely';
import t from 'tap';
import { sweepExpiredIdempotencyKeys } from '../../../src/idempotency/use-cases.js';
import { freshDatabase } from '../../helpers/database.js';
import { deleteStatements, entriesLeft, expiredEntriesWithDeleteLog } from '../../helpers/idempotency-sweep.js';

// Postgres run only: a second session holds the sweep's advisory lock.

t.test(
  'while another process holds the sweep lock, a sweep leaves the work to it; once released it sweeps',
  async (t) => {
    const { db } = await freshDatabase(t);
    await expiredEntriesWithDeleteLog(db, 3_000, 1);
    const other = await db.connection().execute(async (session) => {
      await sql`BEGIN`.execute(session);
      await sql`SELECT pg_advisory_xact_lock(30302, 0)`.execute(session);
      const whileHeld = await sweepExpiredIdempotencyKeys(db, { batchSize: 2_000 });
      await sql`COMMIT`.execute(session);
      return whileHeld;
    });
    t.same(other, { deleted: 0, batches: 0, leftToAnother: true }, 'nothing deleted while the other holds it');
    t.same(await entriesLeft(db), { expired: 3_000, fresh: 1 });

    const after = await sweepExpiredIdempotencyKeys(db, { batchSize: 2_000 });
    t.same(after, { deleted: 3_000, batches: 2, leftToAnother: false }, 'released: swept, 2,000 then 1,000');
    t.same(await entriesLeft(db), { expired: 0, fresh: 1 });
    t.same(await deleteStatements(db), [2_000, 1_000]);
  },
);
