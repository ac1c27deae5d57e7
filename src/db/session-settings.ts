import { sql } from 'kysely';
import type { Db } from './database.js';

/** The server cancels a statement that runs longer than this (a runaway query, a lock wait). */
export const STATEMENT_TIMEOUT_MS = 5_000;
/** How often the server checks, while a statement runs, that its client is still there. */
export const CLIENT_CHECK_INTERVAL_MS = 1_000;

/**
 * What to run once, as the database's owner, when the service reaches Postgres through a
 * transaction pooler: the settings a direct connection sends at startup, kept by the database
 * itself, so every server connection the pooler opens has them. (Per role instead:
 * `ALTER ROLE <role> IN DATABASE <db> SET …`.) TimeZone is for speed only: instants are read
 * correctly in any zone.
 */
export function databaseSettingsStatement(database: string): string {
  const name = `"${database.replaceAll('"', '""')}"`;
  return [
    `ALTER DATABASE ${name} SET statement_timeout = '${STATEMENT_TIMEOUT_MS}ms';`,
    `ALTER DATABASE ${name} SET client_connection_check_interval = '${CLIENT_CHECK_INTERVAL_MS}ms';`,
    `ALTER DATABASE ${name} SET TimeZone = 'UTC';`,
  ].join('\n');
}

export class SessionSettingsError extends Error {
  override name = 'SessionSettingsError';
}

/**
 * Behind a transaction pooler the service cannot set its session up, so it checks what the
 * database gives it: without a statement timeout a runaway statement holds a server connection
 * for ever, and without the client check a statement whose caller died may still commit. Refuses
 * (with the statements that fix it) rather than run without either.
 */
export async function verifyPooledSessionSettings(db: Db): Promise<void> {
  const { rows } = await sql<{ database: string; statement_timeout: string; client_check: string | null }>`
    SELECT current_database() AS database,
           current_setting('statement_timeout') AS statement_timeout,
           current_setting('client_connection_check_interval', true) AS client_check`.execute(db);
  const { database, statement_timeout, client_check } = rows[0]!;
  const missing = [
    ...(statement_timeout === '0' ? ['statement_timeout'] : []),
    ...(client_check === null || client_check === '0' ? ['client_connection_check_interval'] : []),
  ];
  if (missing.length === 0) return;
  throw new SessionSettingsError(
    `Behind a transaction pooler (DATABASE_POOLER=transaction) the database must set ${missing.join(' and ')}, ` +
      `which a direct connection sets itself. Run once as the database's owner, then let the pooler open new ` +
      `server connections (PgBouncer: RECONNECT in its admin console):\n${databaseSettingsStatement(database)}`,
  );
}
