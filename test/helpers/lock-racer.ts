import { createInterface } from 'node:readline';
import { lockDataDir } from '../../src/db/embedded-lock.js';

// One contender of the embedded lock race (embedded-lock.test.ts): says "ready", waits for "go" on
// stdin so that every contender tries at the same moment, reports what it got, and holds a lock it
// won until stdin closes.
const dataDir = process.argv[2]!;
let unlock: (() => void) | undefined;
process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  if (line !== 'go') continue;
  try {
    unlock = lockDataDir(dataDir);
    process.stdout.write(`${JSON.stringify({ pid: process.pid, locked: true })}\n`);
  } catch (error) {
    process.stdout.write(`${JSON.stringify({ pid: process.pid, locked: false, refusal: (error as Error).message })}\n`);
  }
}
unlock?.();
