import { PGlite, types } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { securePrivateDataDir } from './embedded-data-dir.js';
import { lockDataDir } from './embedded-lock.js';
import { withMigrationLockInTransaction } from './migration-lock.js';
import { isoInstant, timestamptzAsIsoText } from './instants.js';
import { runTemplatesOnPool } from './pooled-statements.js';
import { poolWithPreparedStatements } from './prepared-statements.js';
import type { Database } from './schema.js';
import { CLIENT_CHECK_INTERVAL_MS, STATEMENT_TIMEOUT_MS } from './session-settings.js';

export type Db = Kysely<Database>;

export type DatabaseTarget =
  | {
      kind: 'postgres';
      url: string;
      /**
       * Run the query templates as named prepared statements (default true). Off behind a pooler
       * that cannot keep them per client, such as PgBouncer before 1.21 in transaction mode.
       */
      preparedStatements?: boolean;
      /**
       * `transaction`: a pooler in transaction mode (PgBouncer) sits in front, which keeps no
       * session state between transactions and refuses startup parameters it does not know. The
       * connection then carries only `application_name`; the statement timeout and the dead-client
       * check come from database or role settings (see session-settings.ts).
       */
      pooler?: 'none' | 'transaction';
    }
  | { kind: 'pglite'; dataDir: string };

export interface OpenedDatabase {
  db: Db;
  target: DatabaseTarget;
  /** The pg pool's connection counts (Postgres only), for metrics. */
  poolStats?: () => { total: number; idle: number; waiting: number };
  /** Resolves when the database answers within `timeoutMs`; never leaves a connection stuck. */
  ping: (timeoutMs: number) => Promise<void>;
}

export interface DatabaseOptions {
  /** Called when a pooled connection breaks (which would otherwise crash the process). */
  onIdleError?: (error: Error) => void;
}

/** The same Kysely API over a `pg` pool or an embedded PGlite instance. */
export async function openDatabase(target: DatabaseTarget, options: DatabaseOptions = {}): Promise<OpenedDatabase> {
  if (target.kind === 'postgres') {
    const pool = new pg.Pool({
      connectionString: target.url,
      max: 10,
      // Fail fast instead of queueing forever when the server is unreachable: with the time to
      // answer, the 503 reaches the caller within 2 s even when connects hang.
      connectionTimeoutMillis: 1_500,
      idleTimeoutMillis: 30_000,
      // A connection that stops answering altogether fails the request (503) instead of hanging.
      query_timeout: 10_000,
      keepAlive: true,
      // Poolers pass application_name on (PgBouncer tracks it per client); the rest are settings
      // of the session, which a transaction pooler cannot keep.
      application_name: 'orders-service',
      ...(target.pooler === 'transaction' ? {} : directSessionSettings),
      types: { getTypeParser: timestamptzAsIsoText },
    });
    // A connection that breaks (Postgres restarted, network cut) emits 'error' on its client; pg
    // forwards it to the pool only while the client is idle. Listening on every client as well
    // keeps a broken connection from crashing the process: the query in flight fails (503) and
    // the pool opens a new connection on the next request.
    pool.on('error', (error) => options.onIdleError?.(error));
    pool.on('connect', (client) => client.on('error', (error) => options.onIdleError?.(error)));
    const poolStats = () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount });
    const ping = async (timeoutMs: number) => {
      const client = await pool.connect();
      try {
        // query_timeout per query is supported by pg, though missing from its QueryConfig type.
        await client.query({ text: SELECT_ONE, query_timeout: timeoutMs } as pg.QueryConfig);
        client.release();
      } catch (error) {
        client.release(true); // a connection that did not answer is discarded, not reused
        throw error;
      }
    };
    const prepared = target.preparedStatements ?? target.pooler !== 'transaction';
    const dialect = withMigrationLockInTransaction(
      new PostgresDialect({ pool: prepared ? poolWithPreparedStatements(pool) : pool }),
    );
    const db = new Kysely<Database>({ dialect });
    runTemplatesOnPool(db, pool, { prepared });
    return { db, target, poolStats, ping };
  }
  const unlock = isInMemory(target.dataDir) ? () => {} : lockPrivateDataDir(target.dataDir);
  try {
    const pglite = await PGlite.create(target.dataDir, { parsers: { [types.TIMESTAMPTZ]: isoInstant } });
    // UTC, as on the server (PGlite starts in UTC; said, not assumed).
    await pglite.exec(`SET TIME ZONE 'UTC'`);
    const db = new Kysely<Database>({ dialect: withMigrationLockInTransaction(new PGliteDialect(pglite)) });
    // Kysely closes PGlite only if a query ever ran; close it regardless, then free the directory.
    const release = async () => {
      if (!pglite.closed) await pglite.close();
      unlock();
    };
    // In-process: it answers or the process is wedged anyway.
    return { db: withCleanup(db, release), target, ping: () => selectOne(db) };
  } catch (error) {
    unlock();
    throw error;
  }
}

/** A throwaway PGlite database, kept in this process's memory only (no data directory). */
export function isInMemory(dataDir: string): boolean {
  return dataDir.startsWith('memory://');
}

/** The data directory made private (or refused), then locked for this process. */
function lockPrivateDataDir(dataDir: string): () => void {
  securePrivateDataDir(dataDir);
  return lockDataDir(dataDir);
}

/**
 * Session settings sent as startup parameters on a direct connection (free: no statement runs).
 * Behind a transaction pooler the same settings belong to the database or role (session-settings.ts).
 */
const directSessionSettings = {
  // A runaway query must not hold a connection for ever: the server cancels it.
  statement_timeout: STATEMENT_TIMEOUT_MS,
  // A server process that dies mid-request (SIGKILL, grace period out) leaves its statements
  // running; Postgres notices the closed socket within a second and cancels them, so a
  // statement still waiting on a lock never commits for a caller that is gone.
  // UTC: timestamptz text is then one string operation from the API's form (db/instants.ts).
  options: `-c client_connection_check_interval=${CLIENT_CHECK_INTERVAL_MS} -c TimeZone=UTC`,
};

const SELECT_ONE = 'SELECT 1';

/** The cheapest statement that proves the database answers (readiness). */
export async function selectOne(db: Db): Promise<void> {
  await sql.raw(SELECT_ONE).execute(db);
}

/** Runs `cleanup` after Kysely's own destroy. */
function withCleanup(db: Db, cleanup: () => Promise<void>): Db {
  const destroy = db.destroy.bind(db);
  db.destroy = async () => {
    try {
      await destroy();
    } finally {
      await cleanup();
    }
  };
  return db;
}

export function databaseTargetFrom(config: {
  databaseUrl: string | undefined;
  pgliteDataDir: string;
  preparedStatements?: boolean;
  pooler?: 'none' | 'transaction';
}): DatabaseTarget {
  return config.databaseUrl
    ? {
        kind: 'postgres',
        url: config.databaseUrl,
        preparedStatements: config.preparedStatements,
        pooler: config.pooler,
      }
    : { kind: 'pglite', dataDir: config.pgliteDataDir };
}
