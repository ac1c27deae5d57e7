import { spawnSync } from 'node:child_process';
import t from 'tap';
import { BatchedLines, type LineSink } from '../../src/log-destination.js';

/** A sink that records what it is given. */
class RecordingSink implements LineSink {
  writes: string[] = [];
  flushedSync = 0;
  write(chunk: string): boolean {
    this.writes.push(chunk);
    return true;
  }
  flush(callback: (error?: Error) => void): void {
    callback();
  }
  flushSync(): void {
    this.flushedSync += 1;
  }
}

const line = (n: number, size = 100) => `{"n":${n},"pad":"${'x'.repeat(size - 20 - String(n).length)}"}\n`;

t.test('lines reach the sink whole, in order, in batches of at most batchBytes', async (t) => {
  const sink = new RecordingSink();
  const lines = new BatchedLines(sink, 1000, 60_000);
  const written = Array.from({ length: 95 }, (_, n) => line(n, 97 + (n % 7)));
  for (const text of written) lines.write(text);
  lines.close();
  t.equal(sink.writes.join(''), written.join(''), 'every line, in order, nothing else');
  t.ok(sink.writes.length >= 10, `batched: ${sink.writes.length} writes for 95 lines`);
  t.ok(sink.writes.length < 95, 'fewer writes than lines');
  for (const batch of sink.writes) {
    t.ok(Buffer.byteLength(batch) <= 1000, `a batch of ${Buffer.byteLength(batch)} bytes`);
    t.ok(batch.endsWith('\n'), 'a batch ends with a whole line');
  }
});

t.test('a line longer than a batch goes alone; the batch before it is passed first', async (t) => {
  const sink = new RecordingSink();
  const lines = new BatchedLines(sink, 300, 60_000);
  lines.write(line(1));
  lines.write(line(2, 1000));
  lines.write(line(3));
  lines.close();
  t.same(sink.writes, [line(1), line(2, 1000), line(3)]);
});

t.test('bytes, not characters, fill a batch', async (t) => {
  const sink = new RecordingSink();
  const lines = new BatchedLines(sink, 200, 60_000);
  const wide = `{"name":"${'é'.repeat(60)}"}\n`; // 74 characters, 134 bytes
  lines.write(wide);
  lines.write(wide);
  lines.close();
  t.same(sink.writes, [wide, wide], 'two lines of 134 bytes do not share a 200-byte batch');
});

t.test('nothing is written until a batch fills or the timer passes it on', async (t) => {
  const sink = new RecordingSink();
  const lines = new BatchedLines(sink, 10_000, 30);
  lines.write(line(1));
  t.same(sink.writes, [], 'held while the batch has room');
  await new Promise((resolve) => setTimeout(resolve, 80));
  t.same(sink.writes, [line(1)], 'passed on by the timer');
  lines.close();
});

t.test('flushSync passes the batch on and has the sink write it synchronously', async (t) => {
  const sink = new RecordingSink();
  const lines = new BatchedLines(sink, 10_000, 60_000);
  lines.write(line(1));
  lines.flushSync();
  t.same(sink.writes, [line(1)]);
  t.equal(sink.flushedSync, 1);
  lines.close();
});

t.test('a process that exits right after logging has written every line', async (t) => {
  // A real stdout (a pipe), pino, SonicBoom and process.exit: the exit handler must write the batch.
  const script = `
    import { pino } from 'pino';
    import { batchedStdout } from './src/log-destination.ts';
    const log = pino({}, batchedStdout({ sharedWithOtherWorkers: false }));
    for (let n = 0; n < 5000; n++) log.info({ n }, 'line');
    process.exit(0);
  `;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: new URL('../..', import.meta.url).pathname,
    encoding: 'utf8',
  });
  t.equal(run.status, 0, run.stderr);
  const numbers = run.stdout
    .trim()
    .split('\n')
    .map((text) => (JSON.parse(text) as { n: number }).n);
  t.equal(numbers.length, 5000, 'every line');
  t.same(
    numbers,
    Array.from({ length: 5000 }, (_, n) => n),
    'in order',
  );
});
