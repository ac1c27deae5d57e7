import { execFile, execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePorts } from './processes.js';

const run = promisify(execFile);

/** What tap's `t` offers that this helper uses. */
interface TestContext {
  teardown(fn: () => unknown): void;
}

export type StopMode = 'fast' | 'immediate';

export interface ThrowawayPostgres {
  /** 127.0.0.1 port it listens on, the same after every restart. */
  port: number;
  /** The temporary directory holding the cluster, its socket and its log. */
  dir: string;
  /** Connection string for `database` (default `postgres`), user postgres, trust auth. */
  url(database?: string): string;
  createDatabase(name: string): Promise<string>;
  /** pg_ctl stop -m `mode`, waiting until the server is gone. */
  stop(mode: StopMode): Promise<void>;
  /** pg_ctl start on the same port, waiting until it accepts connections. */
  start(): Promise<void>;
  /** The server log so far, for failure messages. */
  log(): string;
}

/**
 * A Postgres cluster of the test's own, in a temporary directory on a free port, so that a test may
 * stop, kill and restart it: never the machine's shared server. Stopped and removed at teardown
 * (and stopped, at least, if the test process exits without tearing down).
 *
 * initdb and postgres refuse to run as root: as root (CI) they run as the `postgres` user.
 */
export async function startThrowawayPostgres(t: TestContext): Promise<ThrowawayPostgres> {
  const bin = postgresBinDir();
  const asPostgres = process.getuid?.() === 0;
  // As root, under /tmp: the postgres user must be able to reach it (TMPDIR may be root's own).
  const dir = mkdtempSync(join(asPostgres ? '/tmp' : tmpdir(), 'orders-throwaway-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  if (asPostgres) {
    const { uid, gid } = postgresUser();
    chownSync(dir, uid, gid);
  }
  const command = (tool: string, args: string[]): [string, string[]] =>
    asPostgres ? ['runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]] : [join(bin, tool), args];
  const pgCtl = async (args: string[]) => {
    const [file, argv] = command('pg_ctl', ['-D', dataDir, ...args]);
    try {
      await run(file, argv, { timeout: 60_000 });
    } catch (error) {
      throw new Error(`pg_ctl ${args.join(' ')} failed: ${(error as Error).message}\n${readLog()}`, { cause: error });
    }
  };
  const readLog = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');

  let running = false;
  const stopSync = () => {
    if (!running) return;
    running = false;
    const [file, argv] = command('pg_ctl', ['-D', dataDir, 'stop', '-m', 'immediate', '-w']);
    try {
      execFileSync(file, argv, { stdio: 'ignore', timeout: 30_000 });
    } catch {
      // already gone
    }
  };
  // A test process that dies without its teardown must not leave a postmaster behind.
  process.once('exit', stopSync);
  t.teardown(async () => {
    process.removeListener('exit', stopSync);
    if (running) {
      running = false;
      await pgCtl(['stop', '-m', 'immediate', '-w']).catch(() => undefined);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const [initdb, initdbArgs] = command('initdb', [
    '-D',
    dataDir,
    '--no-sync',
    '-A',
    'trust',
    '-U',
    'postgres',
    '-E',
    'UTF8',
    '--locale=C',
  ]);
  await run(initdb, initdbArgs, { timeout: 60_000 });
  const [port] = await freePorts(1);
  appendFileSync(
    join(dataDir, 'postgresql.conf'),
    [
      '',
      '# throwaway cluster for fault tests',
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      'shared_buffers = 16MB',
      'max_connections = 50',
      'max_wal_size = 64MB',
      // Crash recovery (after an immediate stop) otherwise fsyncs every file of the cluster first.
      'recovery_init_sync_method = syncfs',
      "log_min_messages = 'warning'",
      '',
    ].join('\n'),
  );

  const instance: ThrowawayPostgres = {
    port: port!,
    dir,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: instance.url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
      return instance.url(name);
    },
    async stop(mode) {
      await pgCtl(['stop', '-m', mode, '-w', '-t', '30']);
      running = false;
    },
    async start() {
      running = true; // from here on a postmaster may exist: teardown must stop it
      await pgCtl(['start', '-w', '-t', '30', '-l', logFile]);
    },
    log: readLog,
  };
  await instance.start();
  return instance;
}

/** The newest installed server's binaries (/usr/lib/postgresql/<version>/bin). */
function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0)
    throw new Error(`no Postgres server binaries under ${root} (initdb, pg_ctl): install postgresql`);
  return join(root, versions[0]!, 'bin');
}

function postgresUser(): { uid: number; gid: number } {
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((line) => line.startsWith('postgres:'));
  if (!entry) throw new Error('running as root, but there is no postgres user to run initdb and postgres as');
  const [, , uid, gid] = entry.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
