import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { typedClient } from '../helpers/http.js';

// Starting the real server (src/server.ts) on the embedded database: the development key goes to the
// terminal only when there is one; one process per data directory however many start at once; a
// directory others could write to is refused. About PGlite only: `.pglite.test.ts` files run on the
// PGlite pass of make test only.

function freshDataDir(t: { teardown(fn: () => unknown): void }): string {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'orders-start-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  return dataDir;
}

const serverEnv = (dataDir: string) => ({ PATH: process.env.PATH ?? '', PORT: '0', PGLITE_DATA_DIR: dataDir });

interface Outcome {
  child: ChildProcess;
  /** The URL it serves on, or its exit code when it stopped before listening. */
  url?: string;
  code?: number | null;
  output: string;
}

/** Spawns `command` and settles once it listens or exits, whichever comes first. */
function startOrExit(command: string, args: string[], env: Record<string, string>) {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const outcome: Outcome = { child, output: '' };
  return new Promise<Outcome>((resolve) => {
    const onData = (chunk: Buffer) => {
      outcome.output += chunk.toString();
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(outcome.output);
      if (match && !outcome.url) resolve({ ...outcome, url: match[1]! });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => resolve({ ...outcome, code }));
  });
}

/**
 * Kills what script(1) runs (in a session of its own, so not in script's process group), then
 * script itself: the server must not outlive the test.
 */
function killScriptAndChild(pid: number): void {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    // script has already exited (and its child with it).
  }
  for (const child of [...children, pid]) {
    try {
      process.kill(child, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

t.test('on a terminal the development key is printed there, works, and no key file is written', async (t) => {
  // script(1) (util-linux, in every Debian) gives the server a pseudo-terminal.
  t.equal(spawnSync('script', ['--version']).status, 0, 'script(1) is there');
  const dataDir = freshDataDir(t);
  // script(1) runs the server with a pseudo-terminal as its stdout.
  const command = `exec ${process.execPath} --import tsx src/server.ts`;
  const started = await startOrExit('script', ['-qefc', command, '/dev/null'], serverEnv(dataDir));
  t.teardown(() => killScriptAndChild(started.child.pid!));
  t.ok(started.url, `the server listens\n${started.output}`);
  const key = /export ORDERS_API_KEY=(osk_[A-Za-z0-9_-]{43})/.exec(started.output)?.[1];
  t.ok(key, 'the key is shown on the terminal');
  t.match(started.output, /curl -H "Authorization: Bearer \$ORDERS_API_KEY" http:\/\/127\.0\.0\.1:0\/orders/);
  t.notOk(existsSync(path.join(dataDir, 'development-api-key')), 'no key file');
  const { response } = await typedClient(started.url!, key).GET('/orders');
  t.equal(response.status, 200, 'the printed key works');
});

t.test('10 servers started at once on one data directory: one serves, nine exit 1 naming it', async (t) => {
  const dataDir = freshDataDir(t);
  const starts = Array.from({ length: 10 }, () =>
    startOrExit(process.execPath, ['--import', 'tsx', 'src/server.ts'], serverEnv(dataDir)),
  );
  const outcomes = await Promise.all(starts);
  t.teardown(() => outcomes.forEach((o) => o.child.exitCode === null && o.child.kill('SIGKILL')));
  const serving = outcomes.filter((o) => o.url);
  t.equal(serving.length, 1, 'exactly one server runs');
  const winner = serving[0]!;
  for (const refused of outcomes.filter((o) => !o.url)) {
    t.equal(refused.code, 1, `process ${refused.child.pid} exits 1`);
    t.equal(
      refused.output,
      `Failed to start: The embedded database in ${dataDir} is in use by process ${winner.child.pid}. Stop that process first, or use a Postgres server (DATABASE_URL).\n`,
      'with one line naming the process that has it',
    );
  }
  const { response } = await typedClient(winner.url!).GET('/healthz');
  t.equal(response.status, 200, 'the one that runs serves');
});

t.test('a data directory others can write to stops the server with exit 1 and says why', async (t) => {
  const dataDir = freshDataDir(t);
  chmodSync(dataDir, 0o777);
  const outcome = await startOrExit(process.execPath, ['--import', 'tsx', 'src/server.ts'], serverEnv(dataDir));
  t.equal(outcome.code, 1);
  t.equal(
    outcome.output,
    `Failed to start: The embedded database directory ${dataDir} is writable by group or others (mode 0777), so its files may have been changed by another user. Check its contents, then make it private (chmod 700 ${dataDir}) and start again.\n`,
  );
  t.notOk(existsSync(path.join(dataDir, 'orders-service.lock')), 'nothing was opened');
});
