import { pino } from 'pino';

/** What the batcher writes its batches to: pino's SonicBoom destination, or anything with its methods. */
export interface LineSink {
  write(chunk: string): boolean;
  flush(callback: (error?: Error) => void): void;
  flushSync(): void;
  readonly destroyed?: boolean;
}

/**
 * Log lines gathered into batches before they reach SonicBoom: one write() of many lines instead of
 * one per line. SonicBoom measures its whole pending buffer (Buffer.byteLength of a string it keeps
 * appending to) on every write(), so with a 12 KiB buffer each line costs a flattening and a scan of
 * ~6 KiB: 4 % of a cheap request's CPU and its largest allocation, measured (bench-profile,
 * availability). Here a line costs an array push and its own byte length.
 *
 * A batch is whole lines and at most `batchBytes` (a single longer line is a batch of its own), so
 * with `batchBytes` ≤ PIPE_BUF the workers sharing one stdout never interleave inside a line. It is
 * passed on once full, every `flushEveryMs`, and on flush()/flushSync(), which pino and the
 * shutdown call; the process's exit handler passes what is left and writes it synchronously.
 */
export class BatchedLines {
  private lines: string[] = [];
  private bytes = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly sink: LineSink,
    private readonly batchBytes: number,
    flushEveryMs: number,
  ) {
    this.timer = setInterval(() => this.pass(), flushEveryMs).unref();
  }

  write(line: string): boolean {
    const size = Buffer.byteLength(line);
    if (this.bytes + size > this.batchBytes) this.pass();
    this.lines.push(line);
    this.bytes += size;
    if (this.bytes >= this.batchBytes) this.pass();
    return true;
  }

  /** Everything so far handed on; the callback runs once it is written. */
  flush(callback: (error?: Error) => void = () => {}): void {
    this.pass();
    this.sink.flush(callback);
  }

  /** Everything so far written before this returns (at exit, where no callback would run). */
  flushSync(): void {
    this.pass();
    if (!this.sink.destroyed) this.sink.flushSync();
  }

  /** Stops the timer; the lines gathered so far are passed on. */
  close(): void {
    clearInterval(this.timer);
    this.pass();
  }

  private pass(): void {
    if (this.lines.length === 0 || this.sink.destroyed) return;
    const batch = this.lines.length === 1 ? this.lines[0]! : this.lines.join('');
    this.lines = [];
    this.bytes = 0;
    this.sink.write(batch);
  }
}

/** Longest a log line waits in a batch when traffic is too light to fill it. */
const LOG_FLUSH_MS = 50;

/**
 * The process's log destination: stdout, asynchronous like pino's default (a slow reader never
 * blocks requests), in batches of 12 KiB, or of 3 KiB when WORKERS>1 share one stdout (a write of
 * at most PIPE_BUF, 4096 bytes, cannot interleave with another worker's).
 */
export function batchedStdout({ sharedWithOtherWorkers }: { sharedWithOtherWorkers: boolean }): BatchedLines {
  const batchBytes = sharedWithOtherWorkers ? 3072 : 12_288;
  // SonicBoom writes each batch as it comes (minLength 0) and keeps what arrives during a write;
  // maxWrite holds its own writes to PIPE_BUF for the workers. pino writes out what it holds at exit.
  const stdout = pino.destination({
    dest: 1,
    sync: false,
    minLength: 0,
    maxWrite: sharedWithOtherWorkers ? 4096 : 16_384,
  });
  const lines = new BatchedLines(stdout, batchBytes, LOG_FLUSH_MS);
  // Lines still in a batch at exit are handed to SonicBoom and written synchronously.
  process.once('exit', () => lines.flushSync());
  return lines;
}

/** Everything logged so far, written: waits for the write in progress, then writes the rest. */
export async function writeOut(destination: BatchedLines): Promise<void> {
  // The callback may carry an error (fsync is not supported on a pipe): the data was written.
  await new Promise<void>((resolve) => destination.flush(() => resolve()));
  destination.flushSync();
}
