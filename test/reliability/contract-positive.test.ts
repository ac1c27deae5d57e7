import fc from 'fast-check';
import t from 'tap';
import { loadContract } from '../../src/http/contract.js';
import { contractViolations } from '../helpers/contract.js';
import { databaseKind } from '../helpers/database.js';
import { startService } from '../helpers/service.js';
import { operationsOf } from './requests-from-contract.js';
import { batchSeed, runSettings } from './fuzz-runs.js';
import {
  brokenRules,
  documentedRules,
  instantOf,
  materialize,
  positivePlansArb,
  targetOf,
  type Issued,
  type PositivePlan,
  type PositiveRequest,
} from './valid-from-contract.js';

// The positive mode of the contract fuzzing: every request is built from openapi.yaml's schemas
// alone (valid-from-contract.ts), as a client validating against openapi.yaml would judge it valid,
// and the server must take it: a 2xx (or 304), or a refusal the operation documents for valid
// input about the data (404, 409, 410, 412, 422), never a 400 and never a 5xx. The rules a schema
// cannot state are in `documentedRules`; a request that breaks one must get exactly that 400.
// Runs on both databases: the validator decides some refusals, the database others.
//
// POSITIVE_SEED replays a run (the same requests in the same order), POSITIVE_RUNS sets how many,
// POSITIVE_ONLY=i,j sends only those requests of the run.

const { seed, runs, only } = runSettings('POSITIVE', { seed: 20_261_215, runs: 5_000 });
const database =
  databaseKind === 'postgres'
    ? 'TEST_DATABASE=postgres TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres '
    : '';
const replay = `${database}POSITIVE_SEED=${seed} POSITIVE_RUNS=${runs} npx tap test/reliability/contract-positive.test.ts`;
// One request at a time: what the server answers then depends on the requests alone, so a seed
// replays exactly (concurrency is the fuzz test's and the reliability tests' business).
const BATCH = 25;

t.comment(`positive seed ${seed}, ${runs} requests on ${databaseKind} (replay: ${replay})`);

const { document } = loadContract();
const operations = operationsOf(document);
const { url, apiKey, client } = await startService(t);

// ---------------------------------------------------------------------------------------------
// What the server handed out: ids, ETags and cursors to aim requests at.

class Handouts implements Issued {
  private readonly idsByParameter = new Map<string, string[]>([
    ['orderId', []],
    ['serviceId', []],
  ]);
  private readonly etags = new Map<string, string>();
  private readonly cursorsByOperation = new Map<string, string[]>();

  ids(parameter: string): string[] {
    return this.idsByParameter.get(parameter) ?? [];
  }

  etag(orderId: string): string | undefined {
    return this.etags.get(orderId);
  }

  cursors(operationId: string): string[] {
    return this.cursorsByOperation.get(operationId) ?? [];
  }

  observe(request: PositiveRequest, status: number, headers: Headers, body: unknown): void {
    const { operationId } = request.operation;
    const location = status === 201 ? /^\/(orders|services)\/(\d+)$/.exec(headers.get('location') ?? '') : null;
    if (location) {
      const ids = this.ids(location[1] === 'orders' ? 'orderId' : 'serviceId');
      if (!ids.includes(location[2]!)) ids.push(location[2]!);
    }
    const etag = headers.get('etag');
    const orderId = location?.[1] === 'orders' ? location[2] : request.path.orderId;
    if (etag && orderId) this.etags.set(orderId, etag);
    if (status === 204) {
      const [parameter, id] = request.path.orderId
        ? ['orderId', request.path.orderId]
        : ['serviceId', request.path.serviceId];
      const ids = this.ids(parameter!);
      if (ids.includes(id!)) ids.splice(ids.indexOf(id!), 1);
    }
    const nextCursor = (body as { nextCursor?: unknown } | undefined)?.nextCursor;
    if (status === 200 && typeof nextCursor === 'string') {
      const cursors = this.cursorsByOperation.get(operationId) ?? [];
      if (!cursors.includes(nextCursor)) cursors.push(nextCursor);
      if (cursors.length > 20) cursors.shift();
      this.cursorsByOperation.set(operationId, cursors);
    }
  }
}

const issued = new Handouts();

// The catalogue the document's examples name (services 123 and 456), so that creates can succeed;
// put back after each batch when a request deleted them.
const catalogue = [
  { id: 123, name: 'Inspection' },
  { id: 456, name: 'Analysis' },
  { id: 789, name: 'Testing' },
];
async function restockCatalogue(): Promise<void> {
  for (const body of catalogue) {
    const { response } = await client.POST('/services', { body });
    if (response.status !== 201 && response.status !== 409)
      throw new Error(`restocking service ${body.id}: ${response.status}`);
  }
}
await restockCatalogue();

// ---------------------------------------------------------------------------------------------

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
}

async function send(request: PositiveRequest): Promise<Reply> {
  const headers: Record<string, string> = { authorization: `Bearer ${apiKey}`, ...request.headers };
  let body: string | undefined;
  if (request.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(request.body);
  }
  const response = await fetch(new URL(targetOf(request), url), {
    method: request.operation.method,
    headers,
    body,
  });
  const text = await response.text();
  let parsed: unknown = text === '' ? undefined : text;
  if (/json/.test(response.headers.get('content-type') ?? '') && text !== '') parsed = JSON.parse(text);
  return { status: response.status, headers: response.headers, text, body: parsed };
}

const domainRefusals = [404, 409, 410, 412, 422];

/** Statuses a valid request may get: success, or a refusal about the data that the operation declares. */
function acceptable(request: PositiveRequest, status: number): boolean {
  if ((status >= 200 && status < 300) || status === 304) return true;
  return domainRefusals.includes(status) && request.operation.statuses.includes(status);
}

type Json = Record<string, unknown>;

/** What a 2xx to a create or replace says was stored, against what was sent. */
function storedAsSent(request: PositiveRequest, body: unknown): string[] {
  const sent = request.body as Json;
  const stored = body as Json;
  const problems: string[] = [];
  const datetime = new Date(instantOf(String(sent.datetime)).ms).toISOString();
  if (stored.datetime !== datetime) problems.push(`datetime stored as ${String(stored.datetime)}, sent ${datetime}`);
  if (stored.totalfee !== sent.totalfee)
    problems.push(`totalfee stored as ${String(stored.totalfee)}, sent ${String(sent.totalfee)}`);
  const ids = (list: unknown) =>
    [...new Set((list as Json[]).map((s) => Number(s.id)))].sort((a, b) => a - b).join(',');
  if (ids(stored.services) !== ids(sent.services))
    problems.push(`services stored as ${ids(stored.services)}, sent ${ids(sent.services)}`);
  return problems;
}

function violations(request: PositiveRequest, reply: Reply, broken: { path: string }[]): string[] {
  const problems = contractViolations(request.operation.method, targetOf(request), reply);
  const paths = ((reply.body as { errors?: { path?: unknown }[] } | undefined)?.errors ?? []).map((e) => e.path);
  if (broken.length) {
    if (reply.status !== 400 || !broken.some((b) => paths.includes(b.path)))
      problems.push(
        `answered ${reply.status}, expected the documented 400 at ${broken.map((b) => b.path).join(' or ')}`,
      );
  } else if (!acceptable(request, reply.status)) {
    problems.push(`answered ${reply.status} to a request valid against openapi.yaml`);
  } else if (
    reply.status < 300 &&
    (request.operation.operationId === 'createOrder' || request.operation.operationId === 'replaceOrder')
  ) {
    problems.push(...storedAsSent(request, reply.body));
  }
  return problems;
}

function describe(request: PositiveRequest): string {
  const headers = Object.entries(request.headers)
    .map(([k, v]) => `${k}: ${JSON.stringify(v.slice(0, 80))}`)
    .join(', ');
  const body = request.body === undefined ? '' : ` ${JSON.stringify(request.body).slice(0, 600)}`;
  return `${request.operation.method} ${targetOf(request).slice(0, 400)}${headers ? ` [${headers}]` : ''}${body}`;
}

// ---------------------------------------------------------------------------------------------

interface Failure {
  index: number;
  request: PositiveRequest;
  status: number;
  text: string;
  problems: string[];
}

const failures: Failure[] = [];
const byOperation = new Map<string, Map<string, number>>();
const ruleTally = new Map<string, { broken: number; kept: number }>(
  documentedRules.map((rule) => [rule.name, { broken: 0, kept: 0 }]),
);
let sent = 0;

async function runOne(index: number, plan: PositivePlan): Promise<void> {
  const request = materialize(plan, issued);
  const broken = brokenRules(request, issued);
  const reply = await send(request);
  sent += 1;
  const tally = byOperation.get(request.operation.operationId) ?? new Map<string, number>();
  const key = `${broken.length ? 'rule broken:' : ''}${reply.status}`;
  tally.set(key, (tally.get(key) ?? 0) + 1);
  byOperation.set(request.operation.operationId, tally);
  for (const rule of documentedRules.filter((r) => r.operationIds.includes(request.operation.operationId))) {
    ruleTally.get(rule.name)![broken.some((b) => b.rule === rule) ? 'broken' : 'kept'] += 1;
  }
  const problems = violations(request, reply, broken);
  if (problems.length) failures.push({ index, request, status: reply.status, text: reply.text, problems });
  issued.observe(request, reply.status, reply.headers, reply.body);
}

const arbitrary = positivePlansArb(operations);
const started = Date.now();
for (let first = 0; first < runs; first += BATCH) {
  const count = Math.min(BATCH, runs - first);
  const plans = fc.sample(arbitrary, { seed: batchSeed(seed, first / BATCH), numRuns: count });
  const queue = plans.map((plan, i) => ({ index: first + i, plan })).filter(({ index }) => !only || only.has(index));
  for (const { index, plan } of queue) await runOne(index, plan);
  await restockCatalogue();
}
const seconds = (Date.now() - started) / 1000;

const counts = (map: Map<string, number>) =>
  [...map.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k}×${n}`)
    .join(', ');
t.comment(`${sent} requests in ${seconds.toFixed(1)} s`);
for (const [operationId, tally] of [...byOperation.entries()].sort(([a], [b]) => a.localeCompare(b)))
  t.comment(`${operationId}: ${counts(tally)}`);
for (const [name, { broken, kept }] of ruleTally) t.comment(`rule "${name}": kept ${kept}, broken ${broken}`);
// The refusals of valid input by what they said, so a run's causes read at a glance.
const causes = new Map<string, number>();
for (const { request, status, text, problems } of failures) {
  const errors =
    status === 400 ? ((JSON.parse(text) as { errors?: { path: string; message: string }[] }).errors ?? []) : [];
  const cause = errors.length
    ? errors.map((e) => `${e.path} ${e.message}`).join(' & ')
    : problems.join('; ').slice(0, 200);
  const key = `${request.operation.operationId}: ${cause}`;
  causes.set(key, (causes.get(key) ?? 0) + 1);
}
for (const [cause, n] of [...causes.entries()].sort(([, a], [, b]) => b - a)) t.comment(`refused ${n}×, ${cause}`);

t.test('requests valid against openapi.yaml reached every operation, and some succeeded', async (t) => {
  if (only) {
    t.equal(sent, only.size, `sent the ${only.size} requests asked for`);
    return;
  }
  t.equal(sent, runs, `sent ${runs} requests`);
  // A short run (POSITIVE_RUNS=200 to replay something) is too small to promise this much coverage.
  if (runs < 2_000) return;
  for (const operation of operations) {
    const tally = byOperation.get(operation.operationId);
    const succeeded = [...(tally?.entries() ?? [])].some(([status]) => /^2\d\d$/.test(status));
    t.ok(succeeded, `${operation.operationId}: at least one 2xx (${tally ? counts(tally) : 'no request'})`);
  }
  for (const [name, { broken, kept }] of ruleTally) {
    t.ok(kept > 0 && broken > 0, `the documented rule "${name}" was kept and broken (${kept}/${broken})`);
  }
});

t.test(
  'every request valid against openapi.yaml gets a 2xx or a documented refusal (404, 409, 410, 412, 422), never a 400 or a 5xx',
  async (t) => {
    for (const failure of failures.slice(0, 25)) {
      t.fail(`request #${failure.index}: ${failure.problems.join('; ')}`, {
        request: describe(failure.request),
        answer: `${failure.status} ${failure.text.slice(0, 400)}`,
        replay: `${database}POSITIVE_SEED=${seed} POSITIVE_RUNS=${runs} POSITIVE_ONLY=${failure.index} npx tap test/reliability/contract-positive.test.ts`,
      });
    }
    t.equal(
      failures.length,
      0,
      `${failures.length} refusals of valid input in ${sent} requests (seed ${seed}; replay: ${replay})`,
    );
  },
);
