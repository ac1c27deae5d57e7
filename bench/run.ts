/**
 * The side-by-side benchmark: the service against the bare ceiling (bench/ceiling), same
 * database, same requests, A B A B, medians and service/ceiling ratios. The load driver is wrk
 * (bench/driver.ts, bench/wrk/scenario.lua), pinned with this process to one core; the servers are
 * child processes pinned to the other, when taskset allows. Before the scenarios, the driver's own
 * limit is measured against a trivial endpoint, and any scenario above half of it is marked
 * driver-bound.
 *
 *   make bench                                # 10k and 1M orders, 3 rounds × 10 s per server and scenario
 *   BENCH_SMOKE=1 make bench                  # CI: 200 orders, 1 round × 1 s, no warm-up, 4 connections;
 *                                             # figures printed (bench/results/smoke.md), never asserted
 *   BENCH_PROFILE=1 make bench                # --cpu-prof runs of GET one and create (or BENCH_SCENARIOS),
 *                                             # then their top frames
 *
 * Settings (environment): BENCH_SIZES (10k,1m; also smoke), BENCH_ROUNDS (3), BENCH_SECONDS (10),
 * BENCH_WARMUP_SECONDS (3), BENCH_CONNECTIONS (32,10: each scenario at each), BENCH_SCENARIOS (all: get-one, list-first,
 * list-deep, create, create-conflict, replace), BENCH_PGLITE_SIZES (10k; `none` to skip),
 * BENCH_WORKERS_SIZES (every size; `none` to skip), BENCH_SERVER_CPUS (0), BENCH_DRIVER_CPUS (1),
 * BENCH_SERVICE_LOG (bench/results/logs/<server>.log; /dev/null to discard), BENCH_CEILING_WRITES
 * (service: the ceiling writes with the service's SQL; minimal: without the window queue and the
 * replace's row lock, to see what they cost), PG_TEST_URL.
 *
 * The service runs as users run it: `node dist/src/server.js` on Postgres, auth on (a key in every
 * request), contract validation, LOG_LEVEL=info with its log written to a file, metrics on. Its
 * rate limit stays on but at 1e9 a minute: the plugin's per-request work is part of the cost,
 * while a 429 would only measure the limit. Exits 1 when a server fails to start, a response
 * differs between the two, or a run sees an unexpected status or a connection error.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import type { Db } from '../src/db/database.js';
import {
  FIRST_ID,
  SIZES,
  baseTimeOf,
  benchApiKey,
  ensurePgliteDataset,
  ensurePostgresDataset,
  isSizeName,
  openForLoading,
  postgresUrlFor,
  sweepCreatedOrders,
  type SizeName,
} from './load-data.js';
import { comparisonTable, scalingTable, singleTable, workersTable, type Comparison, type RunResult } from './report.js';
import { claimCreateOffsets, drive, wrkAvailable, type DriverResult } from './driver.js';
import {
  ceilingCursors,
  deepPathsOf,
  eventDeepPositions,
  serviceEventPaths,
  ceilingEventPaths,
  deepPositions,
  scenarios,
  serviceCursors,
  type Scenario,
  type TargetData,
} from './scenarios.js';
import {
  localPostgresCpuTicks,
  postgresCpuSecondsBetween,
  machineCpuTicks,
  newestMtime,
  peakSampler,
  pinThisProcess,
  repoRoot,
  serviceCommand,
  startServer,
  tasksetWorks,
  type RunningServer,
  type ServerSpec,
} from './servers.js';
import { costCentres, printCostComparison, printTopFrames } from './top-frames.js';

const env = process.env;
const smoke = env.BENCH_SMOKE === '1';
const profiling = env.BENCH_PROFILE === '1';
const number = (name: string, fallback: number, { zero = false } = {}) => {
  const value = env[name] === undefined || env[name] === '' ? fallback : Number(env[name]);
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !zero))
    throw new Error(`${name} must be a ${zero ? 'non-negative' : 'positive'} number`);
  return value;
};
const sizeList = (name: string, fallback: string): SizeName[] => {
  const raw = env[name] || fallback;
  if (raw === 'none') return [];
  return raw.split(',').map((s) => {
    const size = s.trim().toLowerCase();
    if (!isSizeName(size)) throw new Error(`${name}: unknown size ${s}; one of ${Object.keys(SIZES).join(', ')}`);
    return size;
  });
};

const settings = {
  sizes: sizeList('BENCH_SIZES', smoke ? 'smoke' : '10k,1m'),
  rounds: number('BENCH_ROUNDS', smoke ? 1 : 3),
  seconds: number('BENCH_SECONDS', smoke ? 1 : 10),
  warmupSeconds: number('BENCH_WARMUP_SECONDS', smoke ? 0 : 3, { zero: true }),
  /** Each scenario runs at each of these connection counts. */
  connections: (env.BENCH_CONNECTIONS || (smoke ? '4' : '32,10')).split(',').map((c) => {
    const n = Number(c);
    if (!Number.isInteger(n) || n < 1) throw new Error('BENCH_CONNECTIONS must be a list of positive integers');
    return n;
  }),
  rateLimit: '1000000000',
};
const selected: Scenario[] = env.BENCH_SCENARIOS
  ? env.BENCH_SCENARIOS.split(',').map((name) => {
      const scenario = scenarios.find((s) => s.name === name.trim());
      if (!scenario)
        throw new Error(`BENCH_SCENARIOS: unknown scenario ${name}; one of ${scenarios.map((s) => s.name).join(', ')}`);
      return scenario;
    })
  : scenarios;
const pgliteSizes = sizeList('BENCH_PGLITE_SIZES', smoke ? 'smoke' : '10k');
const workersSizes = env.BENCH_WORKERS_SIZES ? sizeList('BENCH_WORKERS_SIZES', '') : settings.sizes;

const resultsDir = path.join(repoRoot, 'bench', 'results');
const logsDir = path.join(resultsDir, 'logs');
const profileDir = path.join(resultsDir, 'profile');
mkdirSync(logsDir, { recursive: true });

// Ctrl-C or a CI timeout: exit through process.exit, whose handlers kill the servers.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

let failures = 0;
const fail = (message: string) => {
  failures++;
  console.error(`FAIL: ${message}`);
};

// ---------------------------------------------------------------- build and placement

const { nodeFlags: serviceNodeFlags, script: serviceScript } = serviceCommand();
const ceilingScript = 'dist/bench/ceiling/server.js';

function ensureBuilt(): void {
  if (!wrkAvailable())
    throw new Error('wrk is missing: make bench installs it (scripts/ensure-debian-package.sh wrk wrk)');
  const service = path.join(repoRoot, serviceScript);
  if (!existsSync(service)) throw new Error(`${serviceScript} is missing: run make build first (make bench does)`);
  if (newestMtime(path.join(repoRoot, 'src'), '.ts') > statSync(service).mtimeMs) {
    console.warn(
      `warning: src/ is newer than ${serviceScript}; the service measured is the last build (make bench rebuilds)`,
    );
  }
  const ceiling = path.join(repoRoot, ceilingScript);
  const source = path.join(repoRoot, 'bench', 'ceiling');
  if (!existsSync(ceiling) || newestMtime(source, '.ts') > statSync(ceiling).mtimeMs) {
    execFileSync(
      path.join(repoRoot, 'node_modules', '.bin', 'tsc'),
      ['-p', path.join(repoRoot, 'bench', 'tsconfig.json')],
      { stdio: 'inherit' },
    );
  }
}

// Counted before pinning: afterwards this process sees only its own CPU.
const cpuCount = availableParallelism();
const pinned = cpuCount >= 2 && tasksetWorks();
const serverCpus = pinned ? env.BENCH_SERVER_CPUS || '0' : undefined;
const driverCpus = pinned ? env.BENCH_DRIVER_CPUS || '1' : undefined;
if (driverCpus !== undefined && !pinThisProcess(driverCpus))
  throw new Error(`could not pin the driver to CPU ${driverCpus}`);
const placement = pinned
  ? `server on CPU ${serverCpus}, driver on CPU ${driverCpus} (taskset); Postgres unpinned; WORKERS comparison: servers unpinned`
  : `unpinned (${cpuCount < 2 ? 'one CPU' : 'taskset unavailable'})`;

/** `service` (the service's write SQL, the default) or `minimal` (no window queue, no row lock): bench/ceiling. */
const ceilingWrites = env.BENCH_CEILING_WRITES || 'service';
if (!['service', 'minimal'].includes(ceilingWrites)) throw new Error('BENCH_CEILING_WRITES must be service or minimal');

const logFor = (label: string) => env.BENCH_SERVICE_LOG || path.join(logsDir, `${label}.log`);

function serviceSpec(label: string, dataEnv: Record<string, string>, extra: Partial<ServerSpec> = {}): ServerSpec {
  return {
    label,
    script: serviceScript,
    env: { ...dataEnv, LOG_LEVEL: 'info', RATE_LIMIT_PER_MINUTE: settings.rateLimit },
    cpus: serverCpus,
    logFile: logFor(label),
    ...extra,
    nodeFlags: [...serviceNodeFlags, ...(extra.nodeFlags ?? [])],
  };
}

/**
 * The ceiling runs with the one V8 flag of the service's that only makes a process faster: with
 * allocation-site pretenuring, V8 may decide early on to allocate some short-lived objects (Node's
 * nextTick records among them) straight in the old generation, and a process that does runs its
 * whole life slower: the ceiling's HTTP side took 21 µs a request instead of 15.8 in about half of
 * its processes, none with the flag (bench/README). A ceiling left to that chance would flatter the
 * service in some runs. The service's two heap-size flags trade speed for memory and are not given.
 */
const ceilingNodeFlags = ['--no-allocation-site-pretenuring'];

function ceilingSpec(label: string, databaseUrl: string, extra: Partial<ServerSpec> = {}): ServerSpec {
  return {
    label,
    script: ceilingScript,
    env: { DATABASE_URL: databaseUrl, CEILING_WRITES: ceilingWrites },
    cpus: serverCpus,
    logFile: path.join(logsDir, `${label}.log`),
    ...extra,
    nodeFlags: [...ceilingNodeFlags, ...(extra.nodeFlags ?? [])],
  };
}

// ---------------------------------------------------------------- one run

/** Deletes what earlier write runs created and vacuums, so every run starts from the same table. */
async function settle(db: Db | undefined): Promise<void> {
  if (!db) return;
  await sweepCreatedOrders(db);
  await sql`VACUUM (ANALYZE) orders, order_services`.execute(db);
  // Not every role may checkpoint; when allowed, no checkpoint from the last run lands in the next.
  await sql`CHECKPOINT`.execute(db).catch(() => undefined);
}

const QUIET_MS = 300;

async function measure(
  server: RunningServer,
  scenario: Scenario | 'trivial',
  target: TargetData,
  seconds: number,
  connections: number,
  db?: Db,
): Promise<RunResult> {
  const name = scenario === 'trivial' ? 'trivial' : scenario.name;
  if (scenario !== 'trivial' && scenario.writes) await settle(db);
  const rss = peakSampler(() => server.rssMiB());
  const cpuBefore = server.cpuSeconds();
  const machineBefore = machineCpuTicks();
  const postgresBefore = localPostgresCpuTicks();
  const driven: DriverResult = await drive({
    url: server.url,
    scenario: name,
    seconds,
    connections,
    cpus: driverCpus,
    authorization: target.authorization,
    orders: target.orders,
    ...(name === 'list-deep' ? { paths: target.deepPaths } : {}),
    ...(name === 'events-deep' ? { paths: target.eventDeepPaths } : {}),
    // Creates never reuse a time within this benchmark process (see bench/wrk/scenario.lua).
    ...(name === 'create' ? { createOffset: claimCreateOffsets() } : {}),
  });
  const peakRssMiB = rss.stop();
  const cpuSeconds = server.cpuSeconds() - cpuBefore;
  const machineAfter = machineCpuTicks();
  const postgresSeconds = postgresCpuSecondsBetween(postgresBefore, localPostgresCpuTicks());
  const machineBusyPct =
    (100 * (machineAfter.busy - machineBefore.busy)) / Math.max(1, machineAfter.total - machineBefore.total);
  // Requests in flight when the driver stopped are still being answered: let them finish, so
  // they neither overlap the next run nor escape the next sweep.
  await new Promise((r) => setTimeout(r, QUIET_MS));
  const expected = scenario === 'trivial' ? 200 : scenario.expect;
  const answered = Object.values(driven.statuses).reduce((n, c) => n + c, 0);
  return {
    requests: driven.requests,
    seconds: driven.seconds,
    rps: driven.requests / driven.seconds,
    p50: driven.p50Ms,
    p99: driven.p99Ms,
    peakRssMiB,
    cpuUsPerRequest: driven.requests > 0 ? (cpuSeconds * 1e6) / driven.requests : 0,
    postgresUsPerRequest: driven.requests > 0 ? (postgresSeconds * 1e6) / driven.requests : 0,
    machineBusyPct,
    driverCpuPct: (100 * driven.driverCpuSeconds) / driven.seconds,
    statuses: driven.statuses,
    unexpected: answered - (driven.statuses[expected] ?? 0),
    errors: driven.errors,
  };
}

function describeRun(label: string, scenario: Scenario, r: RunResult): string {
  const codes = Object.entries(r.statuses)
    .map(([code, n]) => `${code}×${n}`)
    .join(' ');
  return `  ${scenario.name.padEnd(15)} ${label.padEnd(22)} ${Math.round(r.rps).toString().padStart(6)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  RSS ${r.peakRssMiB.toFixed(0)} MiB  CPU ${r.cpuUsPerRequest.toFixed(0)} µs/req  Postgres ${r.postgresUsPerRequest.toFixed(0)} µs/req  driver ${r.driverCpuPct.toFixed(0)} % of a core  machine ${r.machineBusyPct.toFixed(0)} % busy  [${codes}${r.errors ? ` errors×${r.errors}` : ''}]`;
}

function check(label: string, scenario: Scenario, r: RunResult): void {
  if (r.requests === 0) fail(`${label} ${scenario.name}: no responses at all`);
  if (r.unexpected > 0)
    fail(
      `${label} ${scenario.name}: ${r.unexpected} responses were not ${scenario.expect} (${JSON.stringify(r.statuses)})`,
    );
  if (r.errors > 0) fail(`${label} ${scenario.name}: ${r.errors} connection errors or timeouts`);
}

/** Warm-up for each server, then `rounds` × (each server in turn); returns the runs per server. */
async function alternate(
  scenario: Scenario,
  connections: number,
  legs: Array<{ label: string; server: RunningServer; target: TargetData }>,
  db?: Db,
  rounds = settings.rounds,
): Promise<RunResult[][]> {
  if (settings.warmupSeconds > 0) {
    for (const leg of legs) await measure(leg.server, scenario, leg.target, settings.warmupSeconds, connections, db);
  }
  const runs: RunResult[][] = legs.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [i, leg] of legs.entries()) {
      const result = await measure(leg.server, scenario, leg.target, settings.seconds, connections, db);
      console.log(describeRun(`${leg.label} c=${connections}`, scenario, result));
      check(leg.label, scenario, result);
      runs[i]!.push(result);
    }
  }
  return runs;
}

// ---------------------------------------------------------------- parity: the ceiling does the same job

/** Availability and nearest asked the way bench/wrk/scenario.lua asks them, at the middle base order. */
function freeTimeParityPaths(orders: number): Array<[string, string]> {
  const middle = baseTimeOf(FIRST_ID + Math.floor(orders / 2));
  const iso = (ms: number) => new Date(ms).toISOString();
  const from = middle - 1.5 * 3_600_000;
  return [
    ['availability', `/availability?from=${iso(from)}&to=${iso(from + 7 * 86_400_000)}`],
    ['nearest', `/availability/nearest?at=${iso(middle + 1.5 * 3_600_000)}`],
  ];
}

const canonical = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(canonical)
    : value !== null && typeof value === 'object'
      ? Object.fromEntries(
          Object.entries(value)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([k, v]) => [k, canonical(v)]),
        )
      : value;

async function body(server: RunningServer, pathAndQuery: string, headers: Record<string, string>): Promise<unknown> {
  const response = await fetch(server.url + pathAndQuery, { headers });
  if (response.status !== 200)
    throw new Error(`${server.label} GET ${pathAndQuery}: ${response.status} ${await response.text()}`);
  return response.json();
}

async function checkParity(
  service: RunningServer,
  ceiling: RunningServer,
  headers: Record<string, string>,
  s: TargetData,
  c: TargetData,
): Promise<void> {
  const pairs: Array<[string, string, string, (b: unknown) => unknown]> = [
    ['GET one', `/orders/${FIRST_ID + 1}`, `/orders/${FIRST_ID + 1}`, (b) => b],
    ['first page', '/orders?limit=50', '/orders?limit=50', (b) => (b as { data: unknown }).data],
    ['deep page', s.deepPaths[0]!, c.deepPaths[0]!, (b) => (b as { data: unknown }).data],
    ['events, first page', '/events?limit=100', '/events?limit=100', (b) => (b as { data: unknown }).data],
    ['events, deep page', s.eventDeepPaths[0]!, c.eventDeepPaths[0]!, (b) => (b as { data: unknown }).data],
    ...freeTimeParityPaths(s.orders).map(([what, path]): [string, string, string, (b: unknown) => unknown] => [
      what,
      path,
      path,
      (b) => b,
    ]),
  ];
  for (const [what, servicePath, ceilingPath, pick] of pairs) {
    const a = JSON.stringify(canonical(pick(await body(service, servicePath, headers))));
    const b = JSON.stringify(canonical(pick(await body(ceiling, ceilingPath, headers))));
    if (a !== b)
      fail(
        `parity: the ceiling's ${what} differs from the service's:\n  service ${a.slice(0, 300)}\n  ceiling ${b.slice(0, 300)}`,
      );
  }
}

// ---------------------------------------------------------------- phases

interface SizeResults {
  size: SizeName;
  orders: number;
  loadSeconds: number;
  comparisons: Comparison[];
  workers: Comparison[];
  pglite: Array<{ title: string; runs: RunResult[] }>;
  pgliteLoadSeconds?: number;
}

async function prepareTargets(db: Db, orders: number) {
  const key = await benchApiKey(db);
  const authorization = `Bearer ${key}`;
  const positions = deepPositions(orders);
  const eventPositions = await eventDeepPositions(db);
  const service: TargetData = {
    orders,
    authorization,
    deepPaths: deepPathsOf(await serviceCursors(db, positions)),
    eventDeepPaths: await serviceEventPaths(db, eventPositions),
  };
  const ceiling: TargetData = {
    orders,
    authorization,
    deepPaths: deepPathsOf(ceilingCursors(positions)),
    eventDeepPaths: ceilingEventPaths(eventPositions),
  };
  return { headers: { authorization }, service, ceiling };
}

const began = performance.now();
const clock = () => `[${((performance.now() - began) / 1000).toFixed(0)} s]`;

async function benchSize(size: SizeName): Promise<SizeResults> {
  console.log(`\n== ${clock()} ${size}: preparing orders_bench_${size}`);
  const dataset = await ensurePostgresDataset(size);
  console.log(
    dataset.loadSeconds > 0
      ? `   loaded ${dataset.orders} orders in ${dataset.loadSeconds.toFixed(1)} s`
      : `   reused (${dataset.orders} orders)`,
  );
  const databaseUrl = postgresUrlFor(size);
  const db = await openForLoading(dataset.target);
  const results: SizeResults = {
    size,
    orders: dataset.orders,
    loadSeconds: dataset.loadSeconds,
    comparisons: [],
    workers: [],
    pglite: [],
  };
  const started: RunningServer[] = [];
  try {
    await settle(db);
    const targets = await prepareTargets(db, dataset.orders);

    // Service against ceiling: a fresh pair of processes each round, so that no one process's luck
    // (V8 settles into faster or slower code for a process's life: ±10 % seen between processes of
    // one build) decides a whole size's ratios.
    const paired = new Map<string, { a: RunResult[]; b: RunResult[] }>();
    for (let round = 0; round < settings.rounds; round++) {
      const service = await startServer(serviceSpec(`service-${size}-r${round + 1}`, { DATABASE_URL: databaseUrl }));
      started.push(service);
      const ceiling = await startServer(ceilingSpec(`ceiling-${size}-r${round + 1}`, databaseUrl));
      started.push(ceiling);
      console.log(
        `   ${clock()} round ${round + 1}: service pid ${service.pid} (${service.url}), ceiling pid ${ceiling.pid} (${ceiling.url})`,
      );
      if (round === 0) await checkParity(service, ceiling, targets.headers, targets.service, targets.ceiling);
      driverLimit ??= await measureDriverLimit(ceiling, targets.ceiling);
      for (const scenario of selected) {
        for (const connections of settings.connections) {
          const [a, b] = await alternate(
            scenario,
            connections,
            [
              { label: 'service', server: service, target: targets.service },
              { label: 'ceiling', server: ceiling, target: targets.ceiling },
            ],
            db,
            1,
          );
          const key = `${scenario.name}@${connections}`;
          const runs = paired.get(key) ?? { a: [], b: [] };
          runs.a.push(...a!);
          runs.b.push(...b!);
          paired.set(key, runs);
        }
      }
      await stopAll(started.splice(0));
    }
    for (const scenario of selected) {
      for (const connections of settings.connections) {
        const runs = paired.get(`${scenario.name}@${connections}`)!;
        results.comparisons.push({
          scenario: scenario.name,
          title: scenario.title,
          connections,
          writes: scenario.writes,
          a: runs.a,
          b: runs.b,
        });
      }
    }

    // One worker against two, both free to use every core.
    const getOne = scenarios.find((s) => s.name === 'get-one')!;
    if (workersSizes.includes(size)) {
      console.log(`== ${clock()} ${size}: WORKERS=1 against WORKERS=2`);
      const one = await startServer(
        serviceSpec(`service-w1-${size}`, { DATABASE_URL: databaseUrl, WORKERS: '1' }, { cpus: undefined }),
      );
      started.push(one);
      const two = await startServer(
        serviceSpec(`service-w2-${size}`, { DATABASE_URL: databaseUrl, WORKERS: '2' }, { cpus: undefined }),
      );
      started.push(two);
      const [a, b] = await alternate(getOne, settings.connections[0]!, [
        { label: 'service WORKERS=1', server: one, target: targets.service },
        { label: 'service WORKERS=2', server: two, target: targets.service },
      ]);
      results.workers.push({
        scenario: getOne.name,
        title: getOne.title,
        connections: settings.connections[0]!,
        writes: false,
        a: a!,
        b: b!,
      });
      await stopAll(started);
    }
    await settle(db);
  } finally {
    await stopAll(started);
    await db.destroy();
  }

  // The embedded mode: the same scenarios on PGlite (one process, one connection); no ratio target.
  if (pgliteSizes.includes(size)) {
    console.log(`== ${clock()} ${size}: PGlite`);
    const pglite = await ensurePgliteDataset(size);
    results.pgliteLoadSeconds = pglite.loadSeconds;
    const pgliteDb = await openForLoading(pglite.target);
    let targets;
    try {
      targets = await prepareTargets(pgliteDb, pglite.orders);
    } finally {
      await pgliteDb.destroy(); // the server takes the directory's lock
    }
    if (pglite.target.kind !== 'pglite') throw new Error('unreachable');
    const server = await startServer(serviceSpec(`service-pglite-${size}`, { PGLITE_DATA_DIR: pglite.target.dataDir }));
    started.push(server);
    try {
      for (const scenario of selected) {
        // Created orders stay until the next preparation sweeps them (the server holds the database).
        const [runs] = await alternate(scenario, settings.connections[0]!, [
          { label: 'service (PGlite)', server, target: targets.service },
        ]);
        results.pglite.push({ title: scenario.title, runs: runs! });
      }
    } finally {
      await stopAll(started);
    }
  }
  return results;
}

/**
 * The driver's own limit: wrk against a trivial endpoint (the ceiling's /healthz), as requests per
 * second of one core of driver CPU time. A scenario above half of it is marked driver-bound.
 */
let driverLimit: number | undefined;
async function measureDriverLimit(server: RunningServer, target: TargetData): Promise<number> {
  const run = await measure(server, 'trivial', target, smoke ? 1 : 5, settings.connections[0]!);
  const limit = (run.rps * 100) / Math.max(run.driverCpuPct, 1e-9);
  console.log(
    `   driver: wrk against ${server.label} /healthz: ${Math.round(run.rps)} req/s using ${run.driverCpuPct.toFixed(0)} % of its core, so its limit is about ${Math.round(limit)} req/s`,
  );
  return limit;
}

async function stopAll(servers: RunningServer[]): Promise<void> {
  while (servers.length > 0) {
    const server = servers.pop()!;
    const code = await server.stop();
    if (code !== 0 && code !== null)
      fail(`${server.label} exited with code ${code} on SIGTERM (log: ${server.logFile})`);
  }
}

// ---------------------------------------------------------------- profile mode

async function profile(): Promise<void> {
  const size = settings.sizes[0]!;
  const dataset = await ensurePostgresDataset(size);
  const databaseUrl = postgresUrlFor(size);
  const db = await openForLoading(dataset.target);
  mkdirSync(profileDir, { recursive: true });
  try {
    const targets = await prepareTargets(db, dataset.orders);
    const profiled = env.BENCH_SCENARIOS
      ? selected
      : scenarios.filter((s) => s.name === 'get-one' || s.name === 'create');
    for (const scenario of profiled) {
      const name = scenario.name;
      const centres: Partial<Record<'service' | 'ceiling', Map<string, number>>> = {};
      for (const which of ['service', 'ceiling'] as const) {
        const targetsOf = which === 'service' ? targets.service : targets.ceiling;
        // The profiler slows a server down; its CPU per request is measured without it first.
        const plain = await startServer(
          which === 'service'
            ? serviceSpec(`unprofiled-${which}-${name}`, { DATABASE_URL: databaseUrl })
            : ceilingSpec(`unprofiled-${which}-${name}`, databaseUrl),
        );
        let cpuUsPerRequest: number;
        try {
          const result = await measure(plain, scenario, targetsOf, settings.seconds, settings.connections[0]!, db);
          console.log(describeRun(`${which}, unprofiled`, scenario, result));
          check(which, scenario, result);
          cpuUsPerRequest = result.cpuUsPerRequest;
        } finally {
          const code = await plain.stop();
          if (code !== 0) fail(`${plain.label} exited with code ${code}`);
        }
        const file = `${which}-${name}-${size}.cpuprofile`;
        const flags = { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${file}`] };
        const server = await startServer(
          which === 'service'
            ? serviceSpec(`profile-${which}-${name}`, { DATABASE_URL: databaseUrl }, flags)
            : ceilingSpec(`profile-${which}-${name}`, databaseUrl, flags),
        );
        try {
          const result = await measure(server, scenario, targetsOf, settings.seconds, settings.connections[0]!, db);
          console.log(describeRun(which, scenario, result));
          check(which, scenario, result);
        } finally {
          const code = await server.stop();
          if (code !== 0) fail(`${server.label} exited with code ${code}`);
        }
        // The profile covers the whole process; its start-up (module loading, contract
        // compilation) is left out so the frames are those of the load.
        const skipMs = Math.round(server.startupMs);
        const where = path.relative(repoRoot, path.join(profileDir, file));
        console.log(
          `\n${which}, ${scenario.title}, ${size}: ${where} (again: node --import tsx bench/top-frames.ts ${where} --skip-ms ${skipMs})`,
        );
        printTopFrames(path.join(profileDir, file), 25, { skipMs });
        console.log('');
        centres[which] = costCentres(path.join(profileDir, file), cpuUsPerRequest, { skipMs });
      }
      console.log(
        `${scenario.title}, ${size}: where each request's CPU time goes (profile shares × unprofiled CPU µs per request)`,
      );
      printCostComparison(centres.service!, centres.ceiling!);
      console.log('');
    }
    await settle(db);
  } finally {
    await db.destroy();
  }
}

// ---------------------------------------------------------------- report

function environmentLines(loadBefore: number[]): string[] {
  const git = (args: string[]) => spawnSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).stdout?.trim() ?? '';
  const commit = git(['rev-parse', '--short', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== '' ? ' (working tree has changes)' : '';
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  return [
    `- ${new Date().toISOString()}, commit ${commit}${dirty}, Node ${process.version}, ${cpuCount} CPUs, ${placement}`,
    `- ${settings.rounds} round(s) × ${settings.seconds} s per server and scenario (A B, after ${settings.warmupSeconds} s of warm-up each; service against ceiling: a fresh pair of processes each round), at ${settings.connections.join(' and ')} connections; medians; ratios are medians of the per-round ratios`,
    `- driver: wrk (one thread${driverCpus === undefined ? '' : `, on CPU ${driverCpus}`}), bench/wrk/scenario.lua; its own limit, measured first against the ceiling's /healthz: about ${driverLimit === undefined ? 'n/a' : Math.round(driverLimit).toLocaleString('en')} req/s of one core. A scenario above half of that is marked driver-bound.`,
    `- service: \`${['node', ...serviceNodeFlags, serviceScript].join(' ')}\` (npm start) on Postgres, API key in every request, contract validation, LOG_LEVEL=info to ${env.BENCH_SERVICE_LOG || 'a file'}, metrics on, RATE_LIMIT_PER_MINUTE=${settings.rateLimit} (the limiter runs, never refuses); ceiling: \`${['node', ...ceilingNodeFlags, ceilingScript].join(' ')}\` (Fastify + pg, ${ceilingWrites === 'service' ? 'same SQL' : 'same reads, minimal writes: no window queue, no row lock'}, nothing else); both pools 10 connections`,
    `- load average before ${load(loadBefore)}, after ${load(loadavg())} (figures on a busy machine are noise)`,
  ];
}

async function main(): Promise<void> {
  ensureBuilt();
  if (profiling) {
    await profile();
    process.exit(failures > 0 ? 1 : 0);
  }
  const loadBefore = loadavg();
  console.log(`benchmark: sizes ${settings.sizes.join(', ')}; ${placement}`);
  const all: SizeResults[] = [];
  for (const size of settings.sizes) all.push(await benchSize(size));

  const sections = [
    `# Benchmark${smoke ? ' (smoke: tiny data, figures meaningless)' : ''}`,
    '',
    ...environmentLines(loadBefore),
  ];
  for (const r of all) {
    const load = r.loadSeconds > 0 ? `, loaded in ${r.loadSeconds.toFixed(1)} s this run` : '';
    sections.push(
      '',
      `## ${r.orders.toLocaleString('en')} orders (orders_bench_${r.size}${load})`,
      '',
      comparisonTable(r.comparisons, driverLimit),
    );
    if (r.workers.length > 0)
      sections.push('', `WORKERS=2 against WORKERS=1 (service only, ${r.size}):`, '', workersTable(r.workers));
    if (r.pglite.length > 0)
      sections.push('', `Embedded PGlite (service only, no target; ${r.size}):`, '', singleTable(r.pglite));
  }
  const small = all.find((r) => r.size === '10k');
  const large = all.find((r) => r.size === '1m');
  if (small && large) {
    sections.push(
      '',
      'Service latency at 1M orders against 10k:',
      '',
      scalingTable({ label: '10k', rows: small.comparisons }, { label: '1M', rows: large.comparisons }),
    );
  }
  if (failures > 0)
    sections.push(
      '',
      `**${failures} problem(s): see the Problems column and the run log; these figures are not valid.**`,
    );
  const markdown = sections.join('\n') + '\n';
  const out = path.join(resultsDir, smoke ? 'smoke.md' : 'latest.md');
  writeFileSync(out, markdown);
  console.log(`\n${markdown}\n(written to ${path.relative(repoRoot, out)}; ${clock()} in all)`);
  process.exit(failures > 0 ? 1 : 0);
}

try {
  await main();
} catch (error) {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
}
