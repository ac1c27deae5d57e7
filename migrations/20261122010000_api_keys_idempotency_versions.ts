import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Only a SHA-256 of each key is stored: the key itself is shown once, when it is created.
  await sql`
    CREATE TABLE api_keys (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
      key_hash text NOT NULL UNIQUE,
      scopes text[] NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz,
      revoked_at timestamptz
    )`.execute(db);
  // A name identifies one live key; a revoked key's name may be reused.
  await sql`CREATE UNIQUE INDEX api_keys_live_name_key ON api_keys (name) WHERE revoked_at IS NULL`.execute(db);

  // Who created and last changed an order (the key's name), and a version for ETag / If-Match.
  await sql`ALTER TABLE orders ADD COLUMN created_by text, ADD COLUMN updated_by text, ADD COLUMN version integer NOT NULL DEFAULT 1`.execute(
    db,
  );

  // The first response to a POST with an Idempotency-Key, per calling key, kept at least 24 hours.
  await sql`
    CREATE TABLE idempotency_keys (
      api_key_id bigint NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
      key text NOT NULL,
      request_hash text NOT NULL,
      status_code integer NOT NULL,
      response_headers jsonb NOT NULL,
      response_body jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (api_key_id, key)
    )`.execute(db);
  await sql`CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE idempotency_keys`.execute(db);
  await sql`ALTER TABLE orders DROP COLUMN created_by, DROP COLUMN updated_by, DROP COLUMN version`.execute(db);
  await sql`DROP TABLE api_keys`.execute(db);
}
