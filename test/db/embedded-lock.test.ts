import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import t, { type Test } from 'tap';
import { openDatabase } from '../../src/db/database.js';

// PGlite is single-process: the first opener of a data directory writes its pid to
// orders-service.lock there; a second opener is refused while that process lives; the file goes
// when the owner closes the database; a lock whose process no longer exists is taken over; a lock
// that names no process counts as held. Contenders that race, for a free or a stale lock, end with
// exactly one owner. The directory is private to its owner (0700).

/** What tap's `t` offers that the helpers use. */
interface Teardown {
  teardown(fn: () => unknown): void;
}

function freshDataDir(t: Teardown): { dataDir: string; lockFile: string } {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'orders-lock-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  return { dataDir, lockFile: path.join(dataDir, 'orders-service.lock') };
}

/** The refusal src/db/embedded-lock.ts documents, naming the process that holds the lock. */
function inUseBy(dataDir: string, pid: number): string {
  return `The embedded database in ${dataDir} is in use by process ${pid}. Stop that process first, or use a Postgres server (DATABASE_URL).`;
}

/** A live process other than this one: a child that idles until killed or until this process ends. */
async function liveProcess(t: Teardown): Promise<number> {
  const idle = "process.stdin.resume(); process.stdin.on('end', () => process.exit(0))";
  const child = spawn(process.execPath, ['-e', idle], { stdio: ['pipe', 'ignore', 'ignore'] });
  await once(child, 'spawn');
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return child.pid!;
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await once(child, 'exit');
  return child.pid!;
}

t.test(
  'the first opener writes its pid to the lock file, a second is refused naming it, and closing removes the file',
  async (t) => {
    const { dataDir, lockFile } = freshDataDir(t);

    const first = await openDatabase({ kind: 'pglite', dataDir });
    t.equal(readFileSync(lockFile, 'utf8'), String(process.pid), 'the lock file holds the owner pid');

    await t.rejects(
      openDatabase({ kind: 'pglite', dataDir }),
      { message: inUseBy(dataDir, process.pid) },
      'a second opener is refused, naming the owner',
    );
    t.equal(readFileSync(lockFile, 'utf8'), String(process.pid), 'the refused opener leaves the lock as it was');

    await first.db.destroy();
    t.notOk(existsSync(lockFile), 'closing the database removes the lock file');

    const again = await openDatabase({ kind: 'pglite', dataDir });
    t.equal(
      readFileSync(lockFile, 'utf8'),
      String(process.pid),
      'the free directory is locked again by the next opener',
    );
    await again.db.destroy();
    t.notOk(existsSync(lockFile), 'and released again');
  },
);

t.test(
  'a lock held by another live process is refused with a message naming that process, and left alone',
  async (t) => {
    const { dataDir, lockFile } = freshDataDir(t);
    const owner = await liveProcess(t);
    t.not(owner, process.pid);
    writeFileSync(lockFile, String(owner));

    await t.rejects(
      openDatabase({ kind: 'pglite', dataDir }),
      { message: inUseBy(dataDir, owner) },
      `refused, naming process ${owner}`,
    );
    t.equal(readFileSync(lockFile, 'utf8'), String(owner), "the owner's lock file is untouched");
  },
);

t.test('a lock left by a process that no longer exists is taken over and rewritten with the new pid', async (t) => {
  const { dataDir, lockFile } = freshDataDir(t);
  const gone = await deadPid();
  t.not(gone, process.pid);
  writeFileSync(lockFile, String(gone));

  const opened = await openDatabase({ kind: 'pglite', dataDir });
  t.equal(readFileSync(lockFile, 'utf8'), String(process.pid), `the lock of dead process ${gone} now holds ours`);
  const { rows } = await sql<{ one: number }>`SELECT 1 AS one`.execute(opened.db);
  t.same(rows, [{ one: 1 }], 'and the database answers');
  await opened.db.destroy();
  t.notOk(existsSync(lockFile), 'closing removes the taken-over lock');
});

t.test('a lock file that names no process (empty, or not a pid) counts as held and is left alone', async (t) => {
  for (const contents of ['', 'not-a-pid\n']) {
    const { dataDir, lockFile } = freshDataDir(t);
    writeFileSync(lockFile, contents);
    await t.rejects(
      openDatabase({ kind: 'pglite', dataDir }),
      {
        message: `The embedded database in ${dataDir} is locked by ${lockFile}, which names no process (empty or unreadable). If no process uses the database, delete that file.`,
      },
      `refused with ${JSON.stringify(contents)} in the lock file`,
    );
    t.equal(readFileSync(lockFile, 'utf8'), contents, 'the lock file is untouched');
    t.same(readdirSync(dataDir), ['orders-service.lock'], 'no temporary file is left behind');
  }
});

interface RaceResult {
  pid: number;
  locked: boolean;
  refusal?: string;
}

/**
 * `contenders` processes (test/helpers/lock-racer.ts) that each take the lock of `dataDir` at the same
 * moment: all are started and ready before any is told to go. Winners hold the lock until the
 * results are in, so a late contender cannot win after an early one let go.
 */
async function race(dataDir: string, contenders: number): Promise<RaceResult[]> {
  const children = Array.from({ length: contenders }, () =>
    spawn(process.execPath, ['--import', 'tsx', 'test/helpers/lock-racer.ts', dataDir], {
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const lines = children.map((child) => createInterface({ input: child.stdout })[Symbol.asyncIterator]());
  const next = async (i: number) => {
    const { value, done } = await lines[i]!.next();
    if (done) throw new Error(`contender ${children[i]!.pid} ended early`);
    return value as string;
  };
  try {
    await Promise.all(children.map(async (_, i) => t.equal(await next(i), 'ready')));
    for (const child of children) child.stdin.write('go\n');
    return await Promise.all(children.map(async (_, i) => JSON.parse(await next(i)) as RaceResult));
  } finally {
    await Promise.all(
      children.map((child) => {
        child.stdin.end();
        return child.exitCode === null ? once(child, 'exit') : undefined;
      }),
    );
  }
}

function checkOneWinner(t: Test, dataDir: string, results: RaceResult[]): void {
  const winners = results.filter((r) => r.locked);
  t.equal(winners.length, 1, `exactly one of ${results.length} contenders holds the lock`);
  for (const loser of results.filter((r) => !r.locked)) {
    t.equal(loser.refusal, inUseBy(dataDir, winners[0]!.pid), `process ${loser.pid} is refused, naming the winner`);
  }
}

t.test('10 processes racing for a free directory: exactly one gets it, the others are refused', async (t) => {
  for (let round = 1; round <= 2; round++) {
    const { dataDir, lockFile } = freshDataDir(t);
    const results = await race(dataDir, 10);
    checkOneWinner(t, dataDir, results);
    t.notOk(existsSync(lockFile), `round ${round}: the winner released the lock on exit`);
    t.same(readdirSync(dataDir), [], 'and no temporary or takeover file is left behind');
  }
});

t.test('10 processes racing to take over a stale lock: exactly one gets it, the others are refused', async (t) => {
  for (let round = 1; round <= 2; round++) {
    const { dataDir, lockFile } = freshDataDir(t);
    writeFileSync(lockFile, String(await deadPid()));
    const results = await race(dataDir, 10);
    checkOneWinner(t, dataDir, results);
    t.same(readdirSync(dataDir), [], `round ${round}: nothing is left behind once the winner exits`);
  }
});

t.test('the data directory is private: created 0700, tightened to 0700 when others may read it', async (t) => {
  const parent = mkdtempSync(path.join(tmpdir(), 'orders-private-'));
  t.teardown(() => rmSync(parent, { recursive: true, force: true }));
  const created = path.join(parent, 'created');
  const opened = await openDatabase({ kind: 'pglite', dataDir: created });
  t.equal(statSync(created).mode & 0o777, 0o700, 'a new directory is created 0700');
  await opened.db.destroy();

  chmodSync(created, 0o755); // as earlier versions created it
  const reopened = await openDatabase({ kind: 'pglite', dataDir: created });
  t.equal(statSync(created).mode & 0o777, 0o700, 'an existing 0755 directory is tightened to 0700 on start');
  const { rows } = await sql<{ orders: number }>`SELECT 1 AS orders`.execute(reopened.db);
  t.same(rows, [{ orders: 1 }], 'and the database opens as before');
  await reopened.db.destroy();
});

t.test('a data directory writable by group or others is refused, and left as it is', async (t) => {
  for (const mode of [0o777, 0o775, 0o757]) {
    const { dataDir, lockFile } = freshDataDir(t);
    chmodSync(dataDir, mode);
    const shown = `0${mode.toString(8)}`;
    await t.rejects(
      openDatabase({ kind: 'pglite', dataDir }),
      {
        name: 'UnsafeDataDirError',
        message: `The embedded database directory ${dataDir} is writable by group or others (mode ${shown}), so its files may have been changed by another user. Check its contents, then make it private (chmod 700 ${dataDir}) and start again.`,
      },
      `mode ${shown} is refused`,
    );
    t.equal(statSync(dataDir).mode & 0o777, mode, 'the mode is not changed (an operator should look first)');
    t.notOk(existsSync(lockFile), 'no lock is taken');
  }
});
