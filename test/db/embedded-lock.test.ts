import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import t from 'tap';
import { openDatabase } from '../../src/db/database.js';

// PGlite is single-process: the first opener of a data directory writes its pid to
// orders-service.lock there; a second opener is refused while that process lives; the file goes
// when the owner closes the database; a lock whose process no longer exists is taken over.

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
