import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { closedPort } from './net.js';

/** Debian's PgBouncer (1.18 on bookworm); `make test` installs it (scripts/ensure-package.sh). */
const PGBOUNCER = process.env.PGBOUNCER_PATH ?? '/usr/sbin/pgbouncer';

export interface PgBouncer {
  /** 127.0.0.1 port it listens on. */
  port: number;
  /** `url` (a database on the Postgres server behind it) as reached through this PgBouncer. */
  route(url: string): string;
  /** Everything PgBouncer logged, for failure messages. */
  log(): string;
  /** RECONNECT `database` in the admin console: new server connections, which read new settings. */
  reconnect(database: string): Promise<void>;
  stop(): Promise<void>;
}

/** The PgBouncers this process started, by port, with the server each is in front of. */
const bouncerPorts = new Map<number, { host: string; port: number }>();

/** True when `url` leads through a PgBouncer this test process started. */
export function throughPgBouncer(url: string): boolean {
  return bouncerPorts.has(Number(new URL(url).port));
}

/** `url` straight to the Postgres server, also when it leads through one of those PgBouncers. */
export function directUrl(url: string): string {
  const server = bouncerPorts.get(Number(new URL(url).port));
  if (!server) return url;
  const direct = new URL(url);
  direct.hostname = server.host;
  direct.port = String(server.port);
  return direct.toString();
}

/**
 * A PgBouncer of the test's own in **transaction** pooling, as production would run it in front of
 * many service processes: every database of the server at `postgres` (host:port), trust auth, at
 * most `poolSize` server connections per database (fewer than the clients, so they are shared).
 * No `ignore_startup_parameters`: a client sending a session setting at connect is refused, as it
 * would be in production. As root (CI) it runs as the `postgres` user (it refuses to run as root).
 */
export async function startPgBouncer(postgres: { host: string; port: number }, poolSize = 10): Promise<PgBouncer> {
  if (!existsSync(PGBOUNCER)) {
    throw new Error(`${PGBOUNCER} is missing: \`make test\` installs Debian's pgbouncer (scripts/ensure-package.sh)`);
  }
  const port = await closedPort();
  const dir = mkdtempSync('/tmp/orders-pgbouncer-');
  chmodSync(dir, 0o755); // readable by the postgres user; it holds no secret (trust auth, no passwords)
  const users = join(dir, 'users.txt');
  writeFileSync(users, '"postgres" ""\n', { mode: 0o644 });
  const config = join(dir, 'pgbouncer.ini');
  writeFileSync(
    config,
    [
      '[databases]',
      `* = host=${postgres.host} port=${postgres.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${users}`,
      'pool_mode = transaction',
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 1000',
      'admin_users = postgres',
      // As docs/operations.md recommends: a client waits at most a second for a server connection
      // (the service answers 503, as when its own pool is exhausted), rather than for a Postgres
      // that is gone; a failed server login is retried after a second.
      'query_wait_timeout = 1',
      'server_login_retry = 1',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  // As root it drops to the postgres user itself (-u), so the child is PgBouncer and a kill reaches it.
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = spawn(PGBOUNCER, [...(asRoot ? ['-u', 'postgres'] : []), config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Never outlive the test process, and never keep it alive: the shared one is stopped by its exit.
  const killOnExit = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref(): void }).unref();
  const stop = async () => {
    bouncerPorts.delete(port);
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.ref(); // keeps the process alive until PgBouncer has gone
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await untilListening(port, exited, () => output);
  } catch (error) {
    await stop();
    throw error;
  }
  bouncerPorts.set(port, postgres);
  return {
    port,
    route: (url) => {
      const routed = new URL(url);
      routed.hostname = '127.0.0.1';
      routed.port = String(port);
      return routed.toString();
    },
    log: () => output,
    reconnect: async (database) => {
      const console = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'pgbouncer' });
      await console.connect();
      try {
        await console.query(`RECONNECT ${database}`);
      } finally {
        await console.end();
      }
    },
    stop,
  };
}

async function untilListening(port: number, exited: Promise<void>, log: () => string): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 10_000;
  while (!gone && Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      }).on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`PgBouncer did not start listening on ${port}:\n${log()}`);
}
