/**
 * Server processes for the benchmark: started as plain `node` children (pinned to a core with
 * taskset when the machine allows), waited for on /healthz, measured through /proc, stopped with
 * SIGTERM so a --cpu-prof profile gets written.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';

export const repoRoot = path.resolve(import.meta.dirname, '..');

/** Whether `taskset` exists and can pin this process (not in every container). */
export function tasksetWorks(): boolean {
  if (availableParallelism() < 2) return false;
  const probe = spawnSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
  return probe.status === 0;
}

/** Pins this process (every thread, and so the wrk it starts) to `cpus`; false if it could not. */
export function pinThisProcess(cpus: string): boolean {
  return spawnSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' }).status === 0;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
      .once('error', reject)
      .listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
  });
}

/**
 * The service is started as `npm start` (and `make run`) start it: package.json's start script,
 * `node [flags] dist/src/server.js`, so its heap settings are measured too.
 */
export function serviceCommand(): { nodeFlags: string[]; script: string } {
  const start = (
    JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: { start: string } }
  ).scripts.start;
  const [node, ...rest] = start.trim().split(/\s+/);
  const script = rest.pop();
  if (node !== 'node' || script === undefined || rest.some((flag) => !flag.startsWith('--'))) {
    throw new Error(`package.json's start script is not "node [--flags] script": ${start}`);
  }
  return { nodeFlags: rest, script };
}
export interface ServerSpec {
  label: string;
  /** The script, relative to the repository root. */
  script: string;
  env: Record<string, string>;
  /** taskset CPU list (`0`, `0-1`); undefined runs unpinned. */
  cpus: string | undefined;
  /** Where stdout and stderr go (truncated at start); /dev/null discards them. */
  logFile: string;
  nodeFlags?: string[];
}

export interface RunningServer {
  label: string;
  pid: number;
  url: string;
  logFile: string;
  /** From spawn to the first healthy answer. */
  startupMs: number;
  /** Resident memory of the process and every descendant (cluster workers), in MiB. */
  rssMiB(): number;
  /** CPU time (user + system) used so far by the process and every descendant, in seconds. */
  cpuSeconds(): number;
  stop(): Promise<number | null>;
}

/** The variables a child needs from ours; everything else is set explicitly, never inherited. */
function baseEnv(): Record<string, string> {
  const keep = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR'];
  return Object.fromEntries(keep.flatMap((k) => (process.env[k] === undefined ? [] : [[k, process.env[k]!]])));
}

export async function startServer(spec: ServerSpec): Promise<RunningServer> {
  const port = await freePort();
  const spawnedAt = performance.now();
  const fd = openSync(spec.logFile, 'w');
  const nodeArgs = [...(spec.nodeFlags ?? []), spec.script];
  // taskset execs node, so the child's pid is the server's.
  const [command, args] =
    spec.cpus === undefined
      ? [process.execPath, nodeArgs]
      : ['taskset', ['-c', spec.cpus, process.execPath, ...nodeArgs]];
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      cwd: repoRoot,
      env: { ...baseEnv(), ...spec.env, PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${spec.label}: could not start ${command}`);
  // Never outlive the benchmark, however it ends.
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((code) => {
    exitCode = code;
    process.off('exit', killOnExit);
  });

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (exitCode !== undefined)
      throw new Error(`${spec.label} exited with code ${exitCode} before it served:\n${tail(spec.logFile)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${spec.label} did not answer /healthz within 90 s:\n${tail(spec.logFile)}`);
    }
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    label: spec.label,
    pid,
    url,
    logFile: spec.logFile,
    startupMs: performance.now() - spawnedAt,
    rssMiB: () => treeRssKiB(pid) / 1024,
    cpuSeconds: () => treeCpuTicks(pid) / CLOCK_TICKS_PER_SECOND,
    async stop() {
      if (exitCode !== undefined) return exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

function tail(file: string): string {
  if (file === '/dev/null' || !existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
}

function rssKiB(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0; // gone meanwhile
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

function treeRssKiB(pid: number): number {
  return rssKiB(pid) + childrenOf(pid).reduce((sum, child) => sum + treeRssKiB(child), 0);
}

// USER_HZ: what /proc reports CPU times in (100 on every Linux this runs on).
const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

function cpuTicks(pid: number): number {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

function treeCpuTicks(pid: number): number {
  return cpuTicks(pid) + childrenOf(pid).reduce((sum, child) => sum + treeCpuTicks(child), 0);
}

/** The whole machine's CPU time so far, busy and in all, in ticks (first line of /proc/stat). */
export function machineCpuTicks(): { busy: number; total: number } {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/);
  const ticks = values.map(Number);
  const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0); // user … steal; guest time is inside user
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/**
 * CPU time so far, in clock ticks, of every process on this machine named `postgres` (the postmaster
 * and its backends), by pid: the database's share of a run when Postgres is local.
 */
export function localPostgresCpuTicks(): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== 'postgres') continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks.set(Number(entry), Number(fields[11]) + Number(fields[12]));
    } catch {
      // gone between the listing and the read
    }
  }
  return ticks;
}

/**
 * Postgres's CPU seconds between two readings: each process's growth, all of a process that started
 * in between. A process that ended in between (another client's connection closing) took its time
 * with it and is left out; the benchmark's own connections stay open while it measures.
 */
export function postgresCpuSecondsBetween(before: Map<number, number>, after: Map<number, number>): number {
  let ticks = 0;
  // A pid reused by a new process reads lower than before: counted from zero, as a new one.
  for (const [pid, now] of after) ticks += now >= (before.get(pid) ?? 0) ? now - (before.get(pid) ?? 0) : now;
  return ticks / CLOCK_TICKS_PER_SECOND;
}

/** Samples `read` every `intervalMs` until stopped; returns the peak. */
export function peakSampler(read: () => number, intervalMs = 100): { stop(): number } {
  let peak = read();
  const timer = setInterval(() => (peak = Math.max(peak, read())), intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, read());
    },
  };
}

/** Newest modification time under `dir` of files ending in `suffix`. */
export function newestMtime(dir: string, suffix: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith(suffix)) {
      newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
    }
  }
  return newest;
}
