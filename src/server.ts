import cluster from 'node:cluster';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { databaseTargetFrom, isInMemory, openDatabase, type DatabaseTarget } from './db/database.js';
import { migrateToLatest } from './db/migrator.js';
import { verifyPooledSessionSettings } from './db/session-settings.js';
import { seedSampleData } from './db/seed.js';
import { allScopes } from './keys/model.js';
import { countApiKeys, createApiKey } from './keys/use-cases.js';
import { superviseWorkers } from './cluster.js';
import { batchedStdout, writeOut } from './log-destination.js';

/** Process entry: config → database (migrated) → app → listen, and a graceful exit on signals. */
async function main(config: Config): Promise<void> {
  const target = databaseTargetFrom(config);
  const app = await startApp(config, target);
  await app.listen({ port: config.port, host: config.host });
  app.log.info(
    { database: describe(target) },
    `orders service listening on http://${config.host}:${config.port} (docs at /docs)`,
  );
}

async function startApp(config: Config, target: DatabaseTarget) {
  // Until the app (and its logger) exists, an idle connection's failure has nowhere better to go.
  let reportIdleError: (error: Error) => void = (error) => console.error(error);
  const { db, poolStats, ping } = await openDatabase(target, { onIdleError: (error) => reportIdleError(error) });
  if (target.kind === 'postgres' && target.pooler === 'transaction') await verifyPooledSessionSettings(db);
  const migration = await migrateToLatest(db);
  // A newcomer's first run has something to show and a key to show it with; a server database is
  // never seeded and never given a key by itself.
  const seeded = target.kind === 'pglite' && migration.freshDatabase ? await seedSampleData(db) : undefined;
  let keyFile: string | undefined;
  if (target.kind === 'pglite' && (await countApiKeys(db)) === 0) {
    const { key } = await createApiKey(db, 'dev', allScopes);
    if (process.stdout.isTTY) announceDevelopmentKey(key, config);
    else keyFile = writeDevelopmentKey(key, target.dataDir);
  }

  // Created after the banner above, so the banner can never be overtaken by buffered lines.
  const logDestination = batchedStdout({ sharedWithOtherWorkers: cluster.isWorker });
  const app = await buildApp({
    db,
    logger: { level: config.logLevel, redact: ['req.headers.authorization'], stream: logDestination },
    http: config.http,
    poolStats,
    ping,
    eventRetentionDays: config.eventRetentionDays,
  });
  reportIdleError = (error) => app.log.warn({ err: error }, 'idle database connection failed');
  app.addHook('onClose', async () => db.destroy());
  if (migration.applied.length > 0) app.log.info({ migrations: migration.applied }, 'database migrated');
  if (seeded) app.log.info(seeded, 'embedded database seeded with the sample data');
  if (keyFile) {
    app.log.info(
      { keyFile },
      `created a development API key with every scope, in ${keyFile} (this user only; stdout is no terminal)`,
    );
  }

  // SIGTERM/SIGINT, or an uncaught error: stop accepting, let in-flight requests finish, close the
  // pool, write out the log, exit. (If the grace period runs out first, pino's exit hook still
  // writes the buffered lines synchronously.)
  closeWithGrace({ delay: config.shutdownGraceMs }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an unexpected error');
    else app.log.info({ signal }, 'shutting down');
    await app.close();
    await writeOut(logDestination);
  });
  return app;
}

const DEVELOPMENT_KEY_FILE = 'development-api-key';

/**
 * Without a terminal, stdout is the JSON log stream (collected, shipped, kept), which is no place
 * for a credential: the key goes to a file only this user can read, in the embedded database's
 * private directory (or, for an in-memory database, a private directory of its own).
 */
function writeDevelopmentKey(key: string, dataDir: string): string {
  const directory = isInMemory(dataDir) ? mkdtempSync(path.join(tmpdir(), 'orders-dev-key-')) : dataDir;
  const file = path.resolve(directory, DEVELOPMENT_KEY_FILE);
  // Created afresh, so that the mode is ours even if an older file was left with another one.
  rmSync(file, { force: true });
  writeFileSync(file, `${key}\n`, { flag: 'wx', mode: 0o600 });
  return file;
}

/** Printed once, to the terminal rather than the JSON log: the only time the key is shown. */
function announceDevelopmentKey(key: string, config: Config): void {
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  console.log(
    [
      '',
      'Created a development API key with every scope (shown only now; `npm run keys -- list` shows its name):',
      '',
      `  export ORDERS_API_KEY=${key}`,
      `  curl -H "Authorization: Bearer $ORDERS_API_KEY" http://${host}:${config.port}/orders`,
      '',
    ].join('\n'),
  );
}

/** Where the data lives, without credentials. */
function describe(target: DatabaseTarget): string {
  if (target.kind === 'pglite') return `embedded PGlite (${target.dataDir})`;
  const url = new URL(target.url);
  const route = target.pooler === 'transaction' ? ' through a transaction pooler' : '';
  return `postgres://${url.host}${url.pathname}${route}`;
}

/** PgBouncer refuses the session settings a direct connection sends: say what to do about it. */
function poolerHint(message: string): string {
  return /unsupported startup parameter/i.test(message)
    ? '. A pooler in transaction mode in front? Set DATABASE_POOLER=transaction (docs/operations.md).'
    : '';
}

try {
  const config = loadConfig();
  if (config.workers > 1 && cluster.isPrimary) superviseWorkers(config);
  else await main(config);
} catch (error) {
  // One clear line for the operator, not a stack through node_modules.
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  console.error(
    error instanceof ConfigError
      ? message
      : `Failed to start: ${message}${typeof code === 'string' ? ` (${code})` : ''}${poolerHint(message)}`,
  );
  process.exit(1);
}
