import { chmodSync, mkdirSync, statSync } from 'node:fs';

/** Owner only: the embedded database, its WAL, its lock and the development key file live here. */
const PRIVATE = 0o700;
const GROUP_OR_OTHERS_WRITE = 0o022;

export class UnsafeDataDirError extends Error {
  override name = 'UnsafeDataDirError';
}

/**
 * Makes the embedded data directory private to this user, creating it if needed. PGlite creates
 * its files 0666 and its subdirectories 0755 whatever the umask, so the directory itself is the
 * one boundary: at 0700 no other user can reach any file below it, including files PGlite creates
 * later (which is why the files are not chmodded one by one: PGlite would undo it as it runs).
 *
 * Readable by others is tightened silently (earlier versions created it 0755). Writable by group
 * or others is refused: someone else could have replaced or edited files in it, and chmod now
 * would hide that rather than undo it.
 */
export function securePrivateDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: PRIVATE });
  const mode = statSync(dataDir).mode & 0o777;
  if ((mode & GROUP_OR_OTHERS_WRITE) !== 0) {
    throw new UnsafeDataDirError(
      `The embedded database directory ${dataDir} is writable by group or others (mode ${octal(mode)}), so its ` +
        `files may have been changed by another user. Check its contents, then make it private (chmod 700 ${dataDir}) ` +
        `and start again.`,
    );
  }
  if (mode === PRIVATE) return;
  try {
    chmodSync(dataDir, PRIVATE);
  } catch (error) {
    throw new UnsafeDataDirError(
      `The embedded database directory ${dataDir} is readable by other users (mode ${octal(mode)}) and could not be ` +
        `made private: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}
