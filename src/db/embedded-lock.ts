import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const LOCK_FILE_NAME = 'orders-service.lock';

/** Takeovers of takeovers (each needs a process to die mid-takeover) deeper than this are refused. */
const MAX_TAKEOVER_DEPTH = 3;
/** Rounds of "the lock vanished or was taken over while we looked": a bound, not a timeout. */
const MAX_ROUNDS = 20;

type Holder = { kind: 'process'; pid: number } | { kind: 'nameless'; file: string };
type Claim = { kind: 'claimed' } | { kind: 'refused'; holder: Holder };

/** A lock file as read through one descriptor, so its identity (inode) and its pid belong together. */
type LockState = { kind: 'gone' } | { kind: 'nameless' } | { kind: 'pid'; pid: number; ino: number };

/**
 * PGlite is single-process: a second process on the same data directory would work on its own
 * copy and lose writes. The first opener holds a lock file naming its pid; a second is refused
 * with a clear message. A lock whose process no longer exists is taken over.
 *
 * Every step is atomic: the pid is written to a private temporary file that is then hard-linked
 * into place (`link` fails if the lock exists), so the lock never exists without its pid. A lock
 * that names no process (empty or unreadable: written by something else) counts as held. A stale
 * lock is replaced by `rename` only by the one process that won a claim on that very lock file
 * (a second lock, named after its inode, taken the same way), so two processes that both found
 * it stale cannot both take it.
 */
export function lockDataDir(dataDir: string): () => void {
  const lockFile = path.join(dataDir, LOCK_FILE_NAME);
  const claim = claimLock(lockFile, 0);
  if (claim.kind === 'claimed') return () => rmSync(lockFile, { force: true });
  const { holder } = claim;
  throw new Error(
    holder.kind === 'process'
      ? `The embedded database in ${dataDir} is in use by process ${holder.pid}. Stop that process first, or use a Postgres server (DATABASE_URL).`
      : `The embedded database in ${dataDir} is locked by ${holder.file}, which names no process (empty or unreadable). If no process uses the database, delete that file.`,
  );
}

function claimLock(file: string, depth: number): Claim {
  let lastRefusal: Claim | undefined;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const mine = pidFile(file);
    try {
      if (linkUnlessExists(mine, file)) return { kind: 'claimed' };
      const seen = readLock(file);
      if (seen.kind === 'gone') continue; // released between our link and our look: try again
      if (seen.kind === 'nameless') return { kind: 'refused', holder: { kind: 'nameless', file } };
      if (isAlive(seen.pid)) return { kind: 'refused', holder: { kind: 'process', pid: seen.pid } };
      if (depth >= MAX_TAKEOVER_DEPTH) return { kind: 'refused', holder: { kind: 'nameless', file } };

      // Stale. One taker per stale file: whoever claims `<lock>.takeover-<inode>` (the same way,
      // so a taker that died mid-takeover is itself taken over).
      const takeover = `${file}.takeover-${seen.ino}`;
      const taking = claimLock(takeover, depth + 1);
      if (taking.kind === 'refused') {
        // Another process is taking it over right now, or has just failed to (it found the lock
        // already replaced): wait a moment and look at the lock again, so the refusal names the
        // process that holds the database, not one that merely tried.
        lastRefusal = taking;
        pause(5);
        continue;
      }
      try {
        const now = readLock(file);
        // Only a holder of this takeover claim replaces this inode, so if it is still here it is
        // still the stale lock, and the rename cannot overwrite another process's fresh lock.
        if (now.kind === 'pid' && now.ino === seen.ino && now.pid === seen.pid) {
          renameSync(mine, file);
          return { kind: 'claimed' };
        }
      } finally {
        rmSync(takeover, { force: true });
      }
      // Another taker replaced it between our two looks: look at what it holds now.
    } finally {
      rmSync(mine, { force: true });
    }
  }
  return lastRefusal ?? { kind: 'refused', holder: { kind: 'nameless', file } };
}

/** Blocks for `ms` (start-up only: the lock is taken before anything else runs). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A private temporary file next to `file` holding this process's pid. */
function pidFile(file: string): string {
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temporary, String(process.pid), { flag: 'wx', mode: 0o600 });
  return temporary;
}

/** Atomically gives `existing` the name `file` unless that name is taken. */
function linkUnlessExists(existing: string, file: string): boolean {
  try {
    linkSync(existing, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

function readLock(file: string): LockState {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? { kind: 'gone' } : { kind: 'nameless' };
  }
  try {
    const { ino } = fstatSync(fd);
    const text = readFileSync(fd, 'utf8').trim();
    const pid = /^\d{1,10}$/.test(text) ? Number(text) : 0;
    return pid > 0 ? { kind: 'pid', pid, ino } : { kind: 'nameless' };
  } catch {
    return { kind: 'nameless' };
  } finally {
    closeSync(fd);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
