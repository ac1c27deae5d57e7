/** Figures of benchmark runs: medians over rounds, and the markdown tables they make. */
import type { ScenarioName } from './scenarios.js';

export interface RunResult {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  peakRssMiB: number;
  /** The server's CPU time (all its processes) per response, in microseconds. */
  cpuUsPerRequest: number;
  /** CPU time of the local Postgres processes per response, in microseconds (the database's share). */
  postgresUsPerRequest: number;
  /** How busy the whole machine was during the run (all cores, 0-100 %). */
  machineBusyPct: number;
  /** The driver's (wrk's) own CPU time, as a share of one core. */
  driverCpuPct: number;
  statuses: Record<string, number>;
  /** Responses with another status than the scenario expects. */
  unexpected: number;
  /** Connection errors and timeouts. */
  errors: number;
}

export interface Comparison {
  scenario: ScenarioName;
  title: string;
  connections: number;
  /** Writes have their own req/s target. */
  writes: boolean;
  a: RunResult[];
  b: RunResult[];
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Latency percentile of a sorted sample (nearest rank). */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export interface Summary {
  rps: number;
  p50: number;
  p99: number;
  rss: number;
  cpuUs: number;
  postgresUs: number;
  machineBusy: number;
  driverCpu: number;
  unexpected: number;
  errors: number;
}

export function summarise(runs: RunResult[]): Summary {
  return {
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    rss: median(runs.map((r) => r.peakRssMiB)),
    cpuUs: median(runs.map((r) => r.cpuUsPerRequest)),
    postgresUs: median(runs.map((r) => r.postgresUsPerRequest)),
    machineBusy: median(runs.map((r) => r.machineBusyPct)),
    driverCpu: median(runs.map((r) => r.driverCpuPct)),
    unexpected: runs.reduce((n, r) => n + r.unexpected, 0),
    errors: runs.reduce((n, r) => n + r.errors, 0),
  };
}

/** Median of the per-round ratios a[i] / b[i]: each pair ran back to back, so drift cancels. */
export function pairedRatio(a: RunResult[], b: RunResult[], pick: (r: RunResult) => number): number {
  const n = Math.min(a.length, b.length);
  return median(Array.from({ length: n }, (_, i) => pick(a[i]!) / pick(b[i]!)));
}

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
const rate = (value: number) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en') : 'n/a');
const ms = (value: number) => fixed(value, value < 10 ? 2 : 1);
const mark = (ok: boolean) => (ok ? '✓' : '✗');

function problems(s: Summary): string {
  const parts = [];
  if (s.unexpected > 0) parts.push(`${s.unexpected} unexpected status`);
  if (s.errors > 0) parts.push(`${s.errors} errors`);
  return parts.join(', ');
}

/** The RSS target, 150 MB, in MiB. */
const MAX_RSS_MIB = 150e6 / 2 ** 20;

/** Targets: req/s at least 0.8x the ceiling's for reads, 0.7x for writes; p99 at most 2x; CPU per request at most 1.4x. */
const RPS_TARGET = { read: 0.8, write: 0.7 };
const P99_TARGET = 2;
const CPU_TARGET = 1.4;

export function comparisonTable(rows: Comparison[], driverLimit: number | undefined): string {
  const lines = [
    '| Scenario | Conn. | Service req/s | Ceiling req/s | req/s ratio (≥ 0.8 reads, 0.7 writes) | Service p50 ms | Ceiling p50 ms | Service p99 ms | Ceiling p99 ms | p99 ratio (≤ 2) | Service CPU µs/req | Ceiling CPU µs/req | CPU ratio (≤ 1.4) | Postgres CPU µs/req, service / ceiling runs | Service RSS MiB (≤ 143, i.e. 150 MB) | Driver CPU, service / ceiling runs | Problems |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const row of rows) {
    const s = summarise(row.a);
    const c = summarise(row.b);
    const rpsRatio = pairedRatio(row.a, row.b, (r) => r.rps);
    const p99Ratio = pairedRatio(row.a, row.b, (r) => r.p99);
    const cpuRatio = pairedRatio(row.a, row.b, (r) => r.cpuUsPerRequest);
    const rpsTarget = row.writes ? RPS_TARGET.write : RPS_TARGET.read;
    // Driver-bound: the driver cannot be shown to have had room to spare.
    const bound = driverLimit !== undefined && Math.max(s.rps, c.rps) > driverLimit / 2;
    const trouble = [
      bound && 'DRIVER-BOUND (above half the driver limit): the ratio is not valid',
      problems(s) && `service: ${problems(s)}`,
      problems(c) && `ceiling: ${problems(c)}`,
    ]
      .filter(Boolean)
      .join('; ');
    lines.push(
      `| ${row.title} | ${row.connections} | ${rate(s.rps)} | ${rate(c.rps)} | ${fixed(rpsRatio, 2)} ${mark(rpsRatio >= rpsTarget)} | ` +
        `${ms(s.p50)} | ${ms(c.p50)} | ${ms(s.p99)} | ${ms(c.p99)} | ${fixed(p99Ratio, 2)} ${mark(p99Ratio <= P99_TARGET)} | ` +
        `${fixed(s.cpuUs, 0)} | ${fixed(c.cpuUs, 0)} | ${fixed(cpuRatio, 2)} ${mark(cpuRatio <= CPU_TARGET)} | ` +
        `${fixed(s.postgresUs, 0)} / ${fixed(c.postgresUs, 0)} | ` +
        `${fixed(s.rss, 0)} ${mark(s.rss <= MAX_RSS_MIB)} | ${fixed(s.driverCpu, 0)} % / ${fixed(c.driverCpu, 0)} % | ${trouble} |`,
    );
  }
  return lines.join('\n');
}

export function singleTable(rows: Array<{ title: string; runs: RunResult[] }>): string {
  const lines = [
    '| Scenario | req/s | p50 ms | p99 ms | RSS MiB | Problems |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const row of rows) {
    const s = summarise(row.runs);
    lines.push(`| ${row.title} | ${rate(s.rps)} | ${ms(s.p50)} | ${ms(s.p99)} | ${fixed(s.rss, 0)} | ${problems(s)} |`);
  }
  return lines.join('\n');
}

export function workersTable(rows: Comparison[]): string {
  const lines = [
    '| Scenario | WORKERS=1 req/s | WORKERS=2 req/s | ratio (≥ 1.6) | WORKERS=1 p99 ms | WORKERS=2 p99 ms | WORKERS=1 RSS MiB | WORKERS=2 RSS MiB (all processes) | server CPU µs/req, WORKERS=1 / 2 | machine CPU busy, WORKERS=1 / 2 | Problems |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const row of rows) {
    const one = summarise(row.a);
    const two = summarise(row.b);
    const ratio = pairedRatio(row.b, row.a, (r) => r.rps);
    const trouble = [problems(one) && `1: ${problems(one)}`, problems(two) && `2: ${problems(two)}`]
      .filter(Boolean)
      .join('; ');
    lines.push(
      `| ${row.title} | ${rate(one.rps)} | ${rate(two.rps)} | ${fixed(ratio, 2)} ${mark(ratio >= 1.6)} | ${ms(one.p99)} | ${ms(two.p99)} | ` +
        `${fixed(one.rss, 0)} | ${fixed(two.rss, 0)} | ${fixed(one.cpuUs, 0)} / ${fixed(two.cpuUs, 0)} | ${fixed(one.machineBusy, 0)} % / ${fixed(two.machineBusy, 0)} % | ${trouble} |`,
    );
  }
  return lines.join('\n');
}

/** The scenarios the 1.3x latency target covers (GET one, both list pages, create, refused or not, free time). */
const SCALING_TARGETS = new Set<ScenarioName>([
  'get-one',
  'list-first',
  'list-deep',
  'create',
  'create-conflict',
  'availability-7d',
  'nearest',
]);

/** The service's latency at the large size against the small one (target: within 1.3x). */
export function scalingTable(
  small: { label: string; rows: Comparison[] },
  large: { label: string; rows: Comparison[] },
): string {
  const lines = [
    `| Scenario | p50 ms ${small.label} | p50 ms ${large.label} | p50 ratio (≤ 1.3) | p99 ms ${small.label} | p99 ms ${large.label} | p99 ratio |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const row of large.rows) {
    const other = small.rows.find((r) => r.scenario === row.scenario && r.connections === row.connections);
    if (!other) continue;
    const s = summarise(other.a);
    const l = summarise(row.a);
    const p50Ratio = l.p50 / s.p50;
    lines.push(
      `| ${row.title}, ${row.connections} conn. | ${ms(s.p50)} | ${ms(l.p50)} | ${fixed(p50Ratio, 2)} ${SCALING_TARGETS.has(row.scenario) ? mark(p50Ratio <= 1.3) : '(no target)'} | ${ms(s.p99)} | ${ms(l.p99)} | ${fixed(l.p99 / s.p99, 2)} |`,
    );
  }
  return lines.join('\n');
}
