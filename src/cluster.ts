import cluster, { type Worker } from 'node:cluster';
import { pino } from 'pino';
import type { Config } from './config.js';

const RESTART_DELAY_MS = 1_000;

/**
 * WORKERS > 1: this process only supervises; each worker is a full server on the same port (the
 * primary hands connections out round-robin). Workers share nothing but Postgres, exactly like
 * processes on different machines, so the 3-hour rule holds for the same reason.
 *
 * A worker that dies after it was serving is replaced; one that dies before it ever listened
 * (bad config, database unreachable) stops the whole group rather than crash-looping.
 * SIGTERM/SIGINT is passed on to every worker, which drains as a single process would; the
 * primary exits 0 when all of them exited 0.
 */
export function superviseWorkers(config: Config): void {
  const log = pino({ level: config.logLevel, base: { pid: process.pid, role: 'primary' } });
  let stopping = false;
  let failed = false;

  const fork = (): Worker => {
    const worker = cluster.fork();
    let served = false;
    worker.once('listening', () => {
      served = true;
    });
    worker.once('exit', (code, signal) => {
      if (code !== 0) failed = true;
      if (stopping) {
        if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(failed ? 1 : 0);
        return;
      }
      if (!served) {
        log.fatal({ worker: worker.process.pid, code, signal }, 'a worker exited before it could serve; stopping');
        stop('SIGTERM', 1);
        return;
      }
      log.error({ worker: worker.process.pid, code, signal }, 'worker died; starting a replacement');
      setTimeout(() => stopping || fork(), RESTART_DELAY_MS).unref();
    });
    return worker;
  };

  const stop = (signal: NodeJS.Signals, exitCode = 0): void => {
    if (stopping) return;
    stopping = true;
    if (exitCode !== 0) failed = true;
    log.info({ signal }, 'stopping workers');
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    if (workers.length === 0) process.exit(failed ? 1 : 0);
    for (const worker of workers) worker.process.kill('SIGTERM');
    // Workers enforce the grace period themselves; this only catches one that hangs past it.
    setTimeout(() => process.exit(1), config.shutdownGraceMs + 5_000).unref();
  };

  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  for (let i = 0; i < config.workers; i++) fork();
  log.info({ workers: config.workers }, `supervising ${config.workers} workers on port ${config.port}`);
}
