import { sql, type Kysely } from 'kysely';

// Secrets every server process must share (the key that signs list cursors), kept in the one
// place all processes already share, so scaling out needs no extra configuration.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE app_secrets (
      name text PRIMARY KEY,
      secret text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE app_secrets`.execute(db);
}
