import { randomBytes } from 'node:crypto';
import pg from 'pg';
import t from 'tap';
import { buildApp } from '../../../src/app.js';
import { openDatabase } from '../../../src/db/database.js';
import { migrateToLatest } from '../../../src/db/migrator.js';
import { createApiKey } from '../../../src/keys/use-cases.js';
import { freshDatabaseTarget } from '../../helpers/database.js';

// Postgres run only: the key lookups are counted from the server's own statistics.

/** Index and sequential scans of api_keys so far (each key lookup is one). */
async function keyLookups(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ scans: string }>(
      `SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0) AS scans FROM pg_stat_user_tables WHERE relname = 'api_keys'`,
    );
    return Number(rows[0]?.scans ?? 0);
  } finally {
    await client.end();
  }
}

t.test(
  '2,000 requests from one address with invented tokens cost at most the rate limit in key lookups, and a valid key keeps working',
  async (t) => {
    const target = await freshDatabaseTarget(t);
    if (target.kind !== 'postgres') throw new Error('this file runs on the Postgres server only');
    const { db } = await openDatabase(target);
    await migrateToLatest(db);
    const { key } = await createApiKey(db, 'legitimate', ['orders:read']);
    const perMinute = 100;
    const app = await buildApp({ db, http: { rateLimitPerMinute: perMinute } });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const get = (token: string) => fetch(`${url}/orders`, { headers: { authorization: `Bearer ${token}` } });

    t.equal((await get(key)).status, 200, 'the valid key is verified once before the flood');
    const statuses = new Map<number, number>();
    let validKeyAnswers = 0;
    for (let i = 0; i < 2_000; i++) {
      const invented = `osk_${randomBytes(24).toString('base64url')}`;
      const { status } = await get(invented);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (i % 200 === 199) {
        t.equal((await get(key)).status, 200, `the valid key still works after ${i + 1} invented ones`);
        validKeyAnswers++;
      }
    }
    t.equal(validKeyAnswers, 10);
    // The first request of the valid key was counted for the address too.
    t.same(Object.fromEntries(statuses), { 401: perMinute - 1, 429: 2_000 - (perMinute - 1) });

    // Closing the pool ends its backends, which flushes their statistics.
    await app.close();
    await db.destroy();
    const lookups = await keyLookups(target.url);
    t.ok(lookups >= perMinute - 1, `every invented token the limiter let through was looked up (${lookups})`);
    t.ok(lookups <= perMinute + 5, `and no other: ${lookups} lookups for 2,010 requests`);
  },
);
