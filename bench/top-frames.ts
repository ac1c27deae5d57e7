/**
 * The top self-time frames of a V8 CPU profile (`node --cpu-prof`), and the same time grouped by
 * package, to find a server's cost centres.
 *
 *   node --import tsx bench/top-frames.ts <file.cpuprofile> [--top 25] [--skip-ms 1500] [--callers writeString]
 *
 * --skip-ms ignores the first milliseconds of the profile (the server's start-up: module loading,
 * contract compilation), so the figures are those of the load; bench/run.ts passes the measured
 * start-up time. --callers NAME shows where the self time of frames named NAME comes from (the
 * nearest JavaScript frames above them).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

export interface Frame {
  name: string;
  location: string;
  group: string;
  selfMs: number;
}

const root = fileURLToPath(new URL('..', import.meta.url));

function shortPath(url: string): string {
  if (url === '') return '';
  const file = url.startsWith('file://') ? fileURLToPath(url) : url;
  return file.startsWith(root) ? path.relative(root, file) : file;
}

/** Which package (or part of the service) a frame belongs to. */
function groupOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node: (core)';
  const file = shortPath(url);
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (inModules) return inModules[1]!;
  const own = /^(dist\/)?(src|bench|migrations)\/([^/]+)/.exec(file);
  if (own) return `${own[2]}/${own[3]}`;
  return file;
}

export interface ProfileOptions {
  /** Ignore samples in the first this many milliseconds (start-up). */
  skipMs?: number;
}

function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

/** Microseconds of self time per node id, from the samples after `skipMs`. */
function selfByNode(profile: CpuProfile, { skipMs = 0 }: ProfileOptions): Map<number, number> {
  const selfUs = new Map<number, number>();
  if (profile.samples && profile.timeDeltas && profile.samples.length > 0) {
    // Each sample stands for the interval until the next one (DevTools' convention).
    const { samples, timeDeltas } = profile;
    let at = profile.startTime;
    for (let i = 0; i < samples.length; i++) {
      at += timeDeltas[i] ?? 0;
      if (at - profile.startTime < skipMs * 1000) continue;
      const interval = timeDeltas[i + 1] ?? (profile.endTime - profile.startTime) / samples.length;
      selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, interval));
    }
  } else {
    const perHit =
      (profile.endTime - profile.startTime) /
      Math.max(
        1,
        profile.nodes.reduce((n, x) => n + (x.hitCount ?? 0), 0),
      );
    for (const node of profile.nodes) selfUs.set(node.id, (node.hitCount ?? 0) * perHit);
  }
  return selfUs;
}

const frameName = (frame: CallFrame) => frame.functionName || '(anonymous)';
const frameLocation = (frame: CallFrame) =>
  frame.url ? `${shortPath(frame.url)}:${frame.lineNumber + 1}:${frame.columnNumber + 1}` : '';

/** Self time per frame (function + location), in milliseconds, most first. */
export function selfTimes(file: string, options: ProfileOptions = {}): { frames: Frame[]; totalMs: number } {
  const profile = readProfile(file);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = selfByNode(profile, options);
  const frames = new Map<string, Frame>();
  for (const [id, us] of selfUs) {
    const { callFrame } = byId.get(id)!;
    const name = frameName(callFrame);
    const location = frameLocation(callFrame);
    const key = `${name}\u0000${location}`;
    const frame = frames.get(key) ?? { name, location, group: groupOf(callFrame), selfMs: 0 };
    frame.selfMs += us / 1000;
    frames.set(key, frame);
  }
  const list = [...frames.values()].sort((a, b) => b.selfMs - a.selfMs);
  return { frames: list, totalMs: list.reduce((n, f) => n + f.selfMs, 0) };
}

/**
 * Where the self time of frames named `name` comes from: for each, the nearest frames above it
 * that belong to a package or to the service (not Node's core), three deep.
 */
export function callersOf(
  file: string,
  name: string,
  options: ProfileOptions = {},
): Array<{ stack: string; ms: number }> {
  const profile = readProfile(file);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const stacks = new Map<string, number>();
  for (const [id, us] of selfByNode(profile, options)) {
    if (frameName(byId.get(id)!.callFrame) !== name) continue;
    const above: string[] = [];
    for (let p = parent.get(id); p !== undefined && above.length < 3; p = parent.get(p)) {
      const frame = byId.get(p)!.callFrame;
      if (frame.url && !frame.url.startsWith('node:')) above.push(`${frameName(frame)} (${frameLocation(frame)})`);
    }
    const stack = above.join(' ← ') || '(no JavaScript caller)';
    stacks.set(stack, (stacks.get(stack) ?? 0) + us / 1000);
  }
  return [...stacks].map(([stack, ms]) => ({ stack, ms })).sort((a, b) => b.ms - a.ms);
}

/**
 * What each part of a server costs per request: its share of the profile's busy time times the
 * server's CPU time per request measured without the profiler (the profiler inflates the total,
 * not the shares much).
 */
export function costCentres(file: string, cpuUsPerRequest: number, options: ProfileOptions = {}): Map<string, number> {
  const busy = selfTimes(file, options).frames.filter((f) => f.name !== '(idle)');
  const busyMs = busy.reduce((n, f) => n + f.selfMs, 0);
  const centres = new Map<string, number>();
  for (const f of busy) {
    const centre = costCentreOf(f);
    centres.set(centre, (centres.get(centre) ?? 0) + (f.selfMs / busyMs) * cpuUsPerRequest);
  }
  return centres;
}

/** Packages grouped by the job they do for a request. */
function costCentreOf(frame: Frame): string {
  const { group, name, location } = frame;
  if (location.includes('src/plugins/app/rate-limit.js')) return 'rate limiter';
  if (group.startsWith('src/')) return "the service's own code (src/)";
  if (group.startsWith('bench/')) return "the ceiling's own code";
  if (/^(pg|pg-protocol|pg-pool|pg-types|postgres-\w+|pg-cursor)$/.test(group)) return 'pg driver';
  if (group === 'kysely' || group === 'kysely-pglite-dialect') return 'Kysely';
  if (/^(pino|pino-std-serializers|sonic-boom|thread-stream|fast-redact|quick-format-unescaped)$/.test(group))
    return 'request log (pino)';
  if (group === 'prom-client' || group === 'tdigest' || group === 'bintrees') return 'metrics (prom-client)';
  if (/^(ajv|ajv-formats|fast-uri|fastify-openapi-glue|@fastify\/ajv-compiler)$/.test(group)) return 'validation (Ajv)';
  if (group === 'fast-json-stringify' || group === '@fastify/fast-json-stringify-compiler')
    return 'serialisation (fast-json-stringify)';
  // Ajv's validators and fast-json-stringify's serialisers are compiled with new Function: no file.
  if (location === '' && /^(anonymous\d*|\(anonymous\))$/.test(name)) return 'compiled validators and serialisers';
  if (group === '(garbage collector)') return 'garbage collection';
  if (group === '(native)') return 'native (socket writes, hashing, ...)';
  if (group === 'node: (core)') return 'Node core (http, streams, timers)';
  if (
    /^(fastify|find-my-way|avvio|light-my-request|secure-json-parse|@fastify\/.+|fastify-plugin|toad-cache)$/.test(
      group,
    )
  )
    return 'Fastify';
  if (group.startsWith('(')) return `${group}`;
  return `other (${group})`;
}

/** The cost centres of the service beside the ceiling's, in µs per request, largest difference first. */
export function printCostComparison(service: Map<string, number>, ceiling: Map<string, number>): void {
  const names = [...new Set([...service.keys(), ...ceiling.keys()])];
  const rows = names
    .map((name) => ({ name, s: service.get(name) ?? 0, c: ceiling.get(name) ?? 0 }))
    .sort((a, b) => b.s - b.c - (a.s - a.c));
  const sum = (f: (r: { s: number; c: number }) => number) => rows.reduce((n, r) => n + f(r), 0);
  const fmt = (us: number) => us.toFixed(1).padStart(7);
  console.log(
    `  ${'µs per request'.padEnd(40)} ${'service'.padStart(7)} ${'ceiling'.padStart(7)} ${'extra'.padStart(7)}`,
  );
  for (const r of rows)
    if (r.s >= 0.05 || r.c >= 0.05) console.log(`  ${r.name.padEnd(40)} ${fmt(r.s)} ${fmt(r.c)} ${fmt(r.s - r.c)}`);
  console.log(`  ${'total'.padEnd(40)} ${fmt(sum((r) => r.s))} ${fmt(sum((r) => r.c))} ${fmt(sum((r) => r.s - r.c))}`);
}

/** Prints the top frames and the time by package, as percentages of the busy (non-idle) time. */
export function printTopFrames(file: string, count = 25, options: ProfileOptions = {}): void {
  const { frames, totalMs } = selfTimes(file, options);
  const idleMs = frames.filter((f) => f.name === '(idle)').reduce((n, f) => n + f.selfMs, 0);
  const busy = frames.filter((f) => f.name !== '(idle)');
  const busyMs = totalMs - idleMs;
  const pct = (ms: number) => `${((100 * ms) / busyMs).toFixed(1).padStart(5)}%`;
  const skipped = options.skipMs ? ` after the first ${(options.skipMs / 1000).toFixed(1)} s (start-up)` : '';
  console.log(
    `profile${skipped}: ${(totalMs / 1000).toFixed(1)} s, busy ${(busyMs / 1000).toFixed(1)} s (idle ${((100 * idleMs) / totalMs).toFixed(0)}%); percentages of busy time`,
  );
  console.log(`top ${count} frames by self time:`);
  for (const f of busy.slice(0, count))
    console.log(`  ${pct(f.selfMs)}  ${f.name.slice(0, 48).padEnd(48)} ${f.location}`);
  const groups = new Map<string, number>();
  for (const f of busy) groups.set(f.group, (groups.get(f.group) ?? 0) + f.selfMs);
  console.log('self time by package:');
  for (const [group, ms] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${pct(ms)}  ${group}`);
  // The largest native frames (socket and file writes, mostly) say little without their callers.
  for (const f of busy.slice(0, 3).filter((f) => f.location === '' && !f.name.startsWith('('))) {
    console.log(`callers of ${f.name}:`);
    for (const c of callersOf(file, f.name, options).slice(0, 4)) console.log(`  ${pct(c.ms)}  ${c.stack}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: 'string', default: '25' },
      'skip-ms': { type: 'string', default: '0' },
      callers: { type: 'string' },
    },
  });
  const file = positionals[0];
  if (!file) {
    console.error(
      'usage: node --import tsx bench/top-frames.ts <file.cpuprofile> [--top 25] [--skip-ms 0] [--callers NAME]',
    );
    process.exit(2);
  }
  const options = { skipMs: Number(values['skip-ms']) };
  if (values.callers) {
    for (const c of callersOf(file, values.callers, options))
      console.log(`${c.ms.toFixed(1).padStart(9)} ms  ${c.stack}`);
  } else {
    printTopFrames(file, Number(values.top), options);
  }
}
