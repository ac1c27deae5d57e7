/**
 * The load driver: wrk (Debian's `wrk`, C and LuaJIT) running bench/wrk/scenario.lua, pinned to
 * its own CPU. One wrk thread per pinned CPU; its Lua script varies every request (ids, times,
 * cursors) and counts statuses, and reports the driver's own CPU time, so every run shows how
 * close the driver came to being the bottleneck.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./wrk/scenario.lua', import.meta.url));

export interface DriverRun {
  /** The server's base URL. */
  url: string;
  scenario: string;
  seconds: number;
  connections: number;
  /** taskset CPU list for wrk; undefined: unpinned. */
  cpus: string | undefined;
  authorization: string;
  orders: number;
  /** list-deep: the paths it sends in turn. */
  paths?: string[];
  /** create: where this run's unique create times start (see nextCreateOffset). */
  createOffset?: number;
}

export interface DriverResult {
  requests: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  statuses: Record<string, number>;
  /** Connection errors, read/write errors and timeouts (not HTTP statuses). */
  errors: number;
  /** wrk's own CPU time, all its threads. */
  driverCpuSeconds: number;
}

interface WrkReport {
  requests: number;
  durationUs: number;
  p50Us: number;
  p99Us: number;
  cpuSeconds: number;
  errors: { connect: number; read: number; write: number; timeout: number; status: number };
  statuses: Record<string, number>;
}

export function wrkAvailable(): boolean {
  return ['/usr/bin/wrk', '/usr/local/bin/wrk'].some((file) => existsSync(file));
}

const scratch = mkdtempSync(path.join(tmpdir(), 'orders-bench-'));
let pathsFiles = 0;

/**
 * Creates in one benchmark process never reuse a time (so one still in flight when a run ends
 * cannot collide with the next run's): each create run starts where the last one stopped.
 */
let createOffset = 0;
export function claimCreateOffsets(): number {
  return createOffset;
}
function advanceCreateOffsets(requests: number): void {
  createOffset += requests + 10_000; // wrk counts completed requests; a margin for those in flight
}

export async function drive(run: DriverRun): Promise<DriverResult> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BENCH_SCENARIO: run.scenario,
    BENCH_AUTH: run.authorization,
    BENCH_ORDERS: String(run.orders),
    BENCH_THREADS: '1',
    BENCH_CREATE_OFFSET: String(run.createOffset ?? 0),
  };
  if (run.paths) {
    const file = path.join(scratch, `paths-${pathsFiles++}.txt`);
    writeFileSync(file, run.paths.join('\n') + '\n');
    env.BENCH_PATHS_FILE = file;
  }
  const wrkArgs = [
    '-t1',
    `-c${run.connections}`,
    `-d${Math.max(1, Math.round(run.seconds))}s`, // wrk takes whole seconds
    '--timeout',
    '10s',
    '--latency',
    '-s',
    script,
    run.url,
  ];
  const [command, args] = run.cpus === undefined ? ['wrk', wrkArgs] : ['taskset', ['-c', run.cpus, 'wrk', ...wrkArgs]];
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`wrk exited with ${code}: ${stderr || stdout}`)),
    );
  });
  const line = output.split('\n').find((l) => l.startsWith('wrk-result '));
  if (!line) throw new Error(`wrk printed no result:\n${output}`);
  const report = JSON.parse(line.slice('wrk-result '.length)) as WrkReport;
  if (run.createOffset !== undefined) advanceCreateOffsets(report.requests);
  const { connect, read, write, timeout } = report.errors;
  return {
    requests: report.requests,
    seconds: report.durationUs / 1e6,
    p50Ms: report.p50Us / 1000,
    p99Ms: report.p99Us / 1000,
    statuses: report.statuses,
    errors: connect + read + write + timeout,
    driverCpuSeconds: report.cpuSeconds,
  };
}
