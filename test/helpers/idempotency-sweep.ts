import { sql } from 'kysely';
import type { Db } from '../../src/db/database.js';
import { createApiKey } from '../../src/keys/use-cases.js';

// Expired idempotency entries, and a log of what each DELETE statement removed, for the sweeper's tests.

/**
 * `expired` entries older than 24 hours and `fresh` ones, for an API key of `db`, and a statement
 * trigger that records how many rows each DELETE statement on the table removed.
 */
export async function expiredEntriesWithDeleteLog(db: Db, expired: number, fresh: number): Promise<void> {
  const { record } = await createApiKey(db, 'sweep-subject', ['orders:write']);
  const insert = (count: number, age: string, label: string) => sql`
    INSERT INTO idempotency_keys (api_key_id, key, request_hash, status_code, response_headers, created_at)
    SELECT ${record.id}::bigint, ${label} || n, 'hash', 201, '{}', now() - ${age}::interval
    FROM generate_series(1, ${count}::integer) AS n`;
  await insert(expired, '25 hours', 'expired-').execute(db);
  await insert(fresh, '23 hours', 'fresh-').execute(db);
  await sql`CREATE TABLE delete_statements (id serial PRIMARY KEY, deleted bigint NOT NULL)`.execute(db);
  await sql`
    CREATE FUNCTION log_delete_statement() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO delete_statements (deleted) SELECT count(*) FROM gone;
      RETURN NULL;
    END $$`.execute(db);
  await sql`
    CREATE TRIGGER log_delete_statement AFTER DELETE ON idempotency_keys
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION log_delete_statement()`.execute(db);
}

export async function entriesLeft(db: Db): Promise<{ expired: number; fresh: number }> {
  const { rows } = await sql<{ expired: string | number; fresh: string | number }>`
    SELECT count(*) FILTER (WHERE key LIKE 'expired-%') AS expired, count(*) FILTER (WHERE key LIKE 'fresh-%') AS fresh
    FROM idempotency_keys`.execute(db);
  return { expired: Number(rows[0]!.expired), fresh: Number(rows[0]!.fresh) };
}

export async function deleteStatements(db: Db): Promise<number[]> {
  const { rows } = await sql<{ deleted: string | number }>`SELECT deleted FROM delete_statements ORDER BY id`.execute(
    db,
  );
  return rows.map((r) => Number(r.deleted));
}
