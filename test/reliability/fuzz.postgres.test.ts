import http from 'node:http';
import net from 'node:net';
import fc from 'fast-check';
import { sql } from 'kysely';
import t from 'tap';
import { createApiKey } from '../../src/keys/use-cases.js';
import { loadContract } from '../../src/http/contract.js';
import { contractViolations } from '../helpers/contract.js';
import { startService } from '../helpers/service.js';
import {
  accepts,
  describeRequest,
  materialize,
  operationsOf,
  requestPlanArb,
  schemaAt,
  type ConcreteRequest,
  type Credentials,
  type LiveState,
  type RequestPlan,
} from './requests-from-contract.js';
import { batchSeed, runSettings } from './fuzz-runs.js';

// Property-based fuzzing of the whole HTTP surface, derived from openapi.yaml: for every operation
// of the document, valid requests and requests broken in every part (path, query, headers, auth,
// body, media type, framing), sent over real HTTP to the service on a fresh Postgres database.
// Every response must be below 500, declared for its operation and valid against its schema; a
// request the contract refuses must get a 4xx; and the database must only ever hold what 2xx
// answers said was stored (so a refused request stores nothing).
//
// FUZZ_SEED replays a run (the same requests, in the same order); FUZZ_RUNS sets how many
// (`make fuzz` sends 20000); FUZZ_ONLY=i,j sends only those requests of the run (requests aimed at
// "an existing order" then find what exists without the earlier requests).

const { seed, runs, only } = runSettings('FUZZ', { seed: 20_261_122, runs: 2_000 });
const replay = `FUZZ_SEED=${seed} FUZZ_RUNS=${runs} make fuzz`;
/** Requests in flight at once, and how many between two checks of the database. */
const CONCURRENCY = 4;
const BATCH = 25;
const REQUEST_TIMEOUT_MS = 20_000;

t.comment(`fuzz seed ${seed}, ${runs} requests (replay: ${replay})`);

const { document } = loadContract();
const operations = operationsOf(document);
const problemSchema = schemaAt(document, '#/components/schemas/Problem');
const { db, url, apiKey, client } = await startService(t);
const { key: readOnlyKey } = await createApiKey(db, 'fuzz-reader', ['orders:read']);
const credentials: Credentials = { key: apiKey, readOnlyKey, readOnlyScopes: ['orders:read'] };
const { port } = new URL(url);

// ---------------------------------------------------------------------------------------------
// What the responses say exists: aims requests at real resources, and is the model the database
// is checked against.

interface Observation {
  operationId: string | undefined;
  method: string;
  /** Request path, without the query. */
  path: string;
  status: number;
  headers: Headers;
  body: unknown;
}

/** One order or service as the answers describe it. */
interface Entity {
  /** Successful creates minus successful deletes: 1 if it exists. */
  net: number;
  /** Every state a 2xx answer reported it stored (an order's schedule, fee, services; a service's name). */
  states: Set<string>;
}

type Json = Record<string, unknown>;
const orderState = (o: Json) =>
  `${String(o.datetime)} fee ${Number(o.totalfee)} services ${((o.services as Json[]) ?? [])
    .map((s) => Number(s.id))
    .sort((a, b) => a - b)
    .join(',')}`;

class World implements LiveState {
  private readonly locations: string[] = [];
  private readonly etags = new Map<string, string>();
  readonly orders = new Map<string, Entity>();
  readonly services = new Map<string, Entity>();

  paths(): string[] {
    return this.locations;
  }

  etag(path: string): string | undefined {
    return this.etags.get(path);
  }

  private readonly handedOut = new Map<string, Set<string>>();

  values(name: string): string[] {
    const suffix = name.toLowerCase();
    return [...this.handedOut.entries()].filter(([key]) => key.endsWith(suffix)).flatMap(([, values]) => [...values]);
  }

  private entity(map: Map<string, Entity>, id: string): Entity {
    let entity = map.get(id);
    if (!entity) map.set(id, (entity = { net: 0, states: new Set() }));
    return entity;
  }

  /**
   * Learns from one answer. The store model knows the writing operations by operationId: a new one
   * must be taught here, or what it stores shows up as unexplained (a failure, not a silent pass).
   */
  observe(o: Observation): void {
    const replayed = o.headers.get('idempotent-replayed') === 'true';
    const location = o.status === 201 ? o.headers.get('location') : null;
    const etag = o.headers.get('etag');
    if (etag) this.etags.set(location ?? o.path, etag);
    if (location && !replayed && !this.locations.includes(location)) this.locations.push(location);
    const body = (o.body ?? {}) as Json;
    if (o.status < 300 && typeof o.body === 'object' && o.body !== null) {
      for (const [key, value] of Object.entries(body)) {
        if (typeof value !== 'string') continue;
        const values = this.handedOut.get(key.toLowerCase()) ?? new Set();
        if (values.size < 50) values.add(value);
        this.handedOut.set(key.toLowerCase(), values);
      }
    }
    const segment = o.path.split('/')[2];
    switch (o.operationId) {
      case 'createOrder':
        if (o.status === 201 && !replayed) this.entity(this.orders, String(body.id)).net += 1;
        if (o.status === 201) this.entity(this.orders, String(body.id)).states.add(orderState(body));
        break;
      case 'replaceOrder':
        if (o.status === 200) this.entity(this.orders, String(body.id)).states.add(orderState(body));
        break;
      case 'deleteOrder':
        if (o.status === 204) this.forget(this.orders, BigInt(decodeURIComponent(segment!)).toString(), '/orders/');
        break;
      case 'createService':
        if (o.status === 201 && !replayed) this.entity(this.services, String(body.id)).net += 1;
        if (o.status === 201) this.entity(this.services, String(body.id)).states.add(String(body.name));
        break;
      case 'replaceService':
        if (o.status === 200) this.entity(this.services, String(body.id)).states.add(String(body.name));
        break;
      case 'deleteService':
        if (o.status === 204) this.forget(this.services, String(Number(decodeURIComponent(segment!))), '/services/');
        break;
    }
  }

  private forget(map: Map<string, Entity>, id: string, prefix: string): void {
    this.entity(map, id).net -= 1;
    const i = this.locations.indexOf(prefix + id);
    if (i >= 0) this.locations.splice(i, 1);
  }
}

const world = new World();

/** What is in the database and no 2xx answer accounts for (or what such an answer stored and is gone). */
async function unexplainedStoreChanges(): Promise<string[]> {
  const { rows: orders } = await sql<{ id: string; datetime: string; totalfee: string; services: number[] }>`
    SELECT o.id::text AS id, to_char(o.datetime AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS datetime,
           o.totalfee::text AS totalfee,
           coalesce(array_agg(os.service_id ORDER BY os.service_id) FILTER (WHERE os.service_id IS NOT NULL), '{}') AS services
    FROM orders o LEFT JOIN order_services os ON os.order_id = o.id GROUP BY o.id`.execute(db);
  const { rows: services } = await sql<{ id: string; name: string }>`SELECT id::text AS id, name FROM services`.execute(
    db,
  );
  const problems: string[] = [];
  const compare = (kind: string, model: Map<string, Entity>, stored: Map<string, string>) => {
    for (const [id, entity] of model) {
      if (entity.net < 0 || entity.net > 1)
        problems.push(`${kind} ${id}: created ${entity.net > 1 ? 'twice' : 'never'} but deleted`);
      if (entity.net === 1 && !stored.has(id))
        problems.push(`${kind} ${id} was created (2xx) and never deleted, yet is not stored`);
    }
    for (const [id, state] of stored) {
      const entity = model.get(id);
      if (!entity || entity.net !== 1)
        problems.push(`${kind} ${id} is stored (${state}) though no 2xx answer created it (or a 204 deleted it)`);
      else if (!entity.states.has(state))
        problems.push(
          `${kind} ${id} is stored as ${JSON.stringify(state)}, which no 2xx answer reported (${[...entity.states].map((s) => JSON.stringify(s)).join(' | ')})`,
        );
    }
  };
  compare(
    'order',
    world.orders,
    new Map(
      orders.map((o) => [
        o.id,
        orderState({ datetime: o.datetime, totalfee: o.totalfee, services: o.services.map((id) => ({ id })) }),
      ]),
    ),
  );
  compare('service', world.services, new Map(services.map((s) => [s.id, s.name])));
  return problems;
}

// ---------------------------------------------------------------------------------------------
// HTTP: node:http with keep-alive for what an HTTP client can send, raw sockets for the rest.

type Reply = { status: number; headers: Headers; text: string; body: unknown } | { error: string };

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
t.teardown(() => agent.destroy());

function toHeaders(raw: string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    try {
      headers.append(raw[i]!, raw[i + 1]!);
    } catch {
      headers.append(raw[i]!, '(not a valid header value)');
    }
  }
  return headers;
}

function parsed(status: number, headers: Headers, text: string): Reply {
  const json = /^application\/(.+\+)?json/.test(headers.get('content-type') ?? '');
  let body: unknown = text === '' ? undefined : text;
  if (json && text !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      body = { notJson: text.slice(0, 200) };
    }
  }
  return { status, headers, text, body };
}

const clientRefusals = new Set([
  'ERR_INVALID_CHAR',
  'ERR_UNESCAPED_CHARACTERS',
  'ERR_INVALID_HTTP_TOKEN',
  'ERR_HTTP_INVALID_HEADER_VALUE',
  'ERR_INVALID_ARG_VALUE',
]);

function sendHttp(request: ConcreteRequest, retry = true): Promise<Reply> {
  return new Promise((resolve) => {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of request.headers) {
      const k = name.toLowerCase();
      const existing = headers[k];
      headers[k] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
    }
    if (request.body !== undefined) headers['content-length'] = String(request.body.length);
    const outgoing = http.request(
      { host: '127.0.0.1', port, method: request.method, path: request.target, headers, agent },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (c: Buffer) => chunks.push(c));
        response.on('error', (e) => resolve({ error: `response: ${e.message}` }));
        response.on('end', () =>
          resolve(parsed(response.statusCode!, toHeaders(response.rawHeaders), Buffer.concat(chunks).toString('utf8'))),
        );
      },
    );
    outgoing.setTimeout(REQUEST_TIMEOUT_MS, () =>
      outgoing.destroy(new Error(`no response within ${REQUEST_TIMEOUT_MS} ms`)),
    );
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      // A keep-alive socket the server closed just as it was reused: the request never arrived.
      if (retry && outgoing.reusedSocket && error.code === 'ECONNRESET') resolve(sendHttp(request, false));
      else resolve({ error: `${error.code ?? ''} ${error.message}` });
    });
    outgoing.end(request.body);
  }).catch((error: NodeJS.ErrnoException) => {
    // node:http refuses to send some bytes (a NUL in a header, a raw space in the path): send them raw.
    if (clientRefusals.has(error.code ?? '')) return sendRaw(rawRequest(request));
    return { error: `${error.code ?? ''} ${error.message}` };
  }) as Promise<Reply>;
}

function rawRequest(request: ConcreteRequest): Buffer {
  const head = [
    `${request.method} ${request.target} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    ...request.headers.map(([k, v]) => `${k}: ${v}`),
  ];
  if (request.body !== undefined) head.push(`Content-Length: ${request.body.length}`);
  head.push('Connection: close', '', '');
  return Buffer.concat([Buffer.from(head.join('\r\n'), 'latin1'), request.body ?? Buffer.alloc(0)]);
}

function sendRaw(bytes: Buffer): Promise<Reply> {
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(
      () => socket.destroy(new Error(`no response within ${REQUEST_TIMEOUT_MS} ms`)),
      REQUEST_TIMEOUT_MS,
    );
    let failure: string | undefined;
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (e) => (failure = e.message));
    socket.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return resolve({ error: failure ?? `connection closed after ${all.length} bytes and no response` });
      const [statusLine, ...lines] = all.subarray(0, end).toString('latin1').split('\r\n');
      const raw = lines.flatMap((line) => {
        const colon = line.indexOf(':');
        return [line.slice(0, colon), line.slice(colon + 1).trim()];
      });
      const headers = toHeaders(raw);
      let body: Buffer = all.subarray(end + 4);
      if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) body = dechunk(body);
      else if (headers.has('content-length')) body = body.subarray(0, Number(headers.get('content-length')));
      resolve(parsed(Number(statusLine!.split(' ')[1]), headers, body.toString('utf8')));
    });
    socket.write(bytes);
  });
}

function dechunk(data: Buffer): Buffer {
  // Enough of chunked transfer coding to read a response (no trailers, no extensions).
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (!(size > 0)) break;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

const send = (request: ConcreteRequest): Promise<Reply> => (request.raw ? sendRaw(request.raw) : sendHttp(request));

// ---------------------------------------------------------------------------------------------
// The checks on one response.

function malformedUrl(path: string): boolean {
  try {
    decodeURIComponent(path);
    return false;
  } catch {
    return true;
  }
}

function violations(request: ConcreteRequest, reply: Reply, expect = request.expect): string[] {
  if ('error' in reply) return [`no response: ${reply.error}`];
  const problems: string[] = [];
  const { status } = reply;
  if (status >= 500) problems.push(`answered ${status}: ${reply.text.slice(0, 300)}`);
  const contentType = (reply.headers.get('content-type') ?? '').split(';')[0]!.trim();
  if (expect.kind === 'parser-or') {
    const fromParser =
      status === 431 || (status === 400 && (reply.body as { type?: unknown } | undefined)?.type === 'about:blank');
    return violations(request, reply, fromParser ? { kind: 'parser' } : expect.otherwise);
  }
  if (expect.kind === 'parser') {
    // Refused by the HTTP parser, before any route: 400 (431 for oversized headers) as a problem.
    if (status !== 400 && status !== 431)
      problems.push(`answered ${status} to a request the HTTP parser must refuse with 400 or 431`);
    if (contentType !== 'application/problem+json')
      problems.push(
        `a refusal without a problem body (content-type ${contentType || '(none)'}, body ${JSON.stringify(reply.text.slice(0, 100))})`,
      );
    else if (!accepts(problemSchema, reply.body))
      problems.push(`the problem body breaks the Problem schema: ${reply.text.slice(0, 200)}`);
    return problems;
  }
  if (request.method === 'HEAD') {
    // HEAD is GET without the body (openapi.yaml declares GET only).
    const get = request.operation;
    const declared = get ? get.statuses : [404, 405];
    if (!declared.includes(status))
      problems.push(`HEAD answered ${status}, not declared for ${get?.operationId ?? 'an unknown path'}`);
    if (reply.text !== '') problems.push('HEAD answered with a body');
  } else {
    const found = contractViolations(request.method, request.contractPath, {
      status,
      headers: reply.headers,
      body: reply.body,
    });
    // A path that is not valid percent-encoding is a malformed request (400), whatever the path; and
    // an operation's path with an empty parameter (`/orders/`) is that operation, with a bad value.
    const emptyParameter = operations.find(
      (o) => o.method === request.method && o.loosePattern.test(request.contractPath.split('?')[0]!),
    );
    const excused = (v: string) =>
      /^undeclared .* answered \d+$/.test(v) &&
      ((status === 400 && malformedUrl(request.contractPath)) || emptyParameter?.statuses.includes(status) === true);
    problems.push(...found.filter((v) => !excused(v)));
  }
  if (expect.kind === 'client-error' && (status < 400 || status >= 500))
    problems.push(`answered ${status} to a request the contract refuses (expected a 4xx)`);
  if (expect.kind === 'status' && !expect.statuses.includes(status))
    problems.push(`answered ${status}, expected ${expect.statuses.join(' or ')}`);
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Start from a small catalogue and schedule, made through the API like everything else.

const catalogue = [
  { id: 123, name: 'Inspection' },
  { id: 456, name: 'Analysis' },
  { id: 789, name: 'Testing' },
];

/** Puts back the catalogue entries the fuzzer deleted (the document's examples name them), so creates can succeed. */
async function restockCatalogue(): Promise<void> {
  for (const body of catalogue) {
    if (world.services.get(String(body.id))?.net === 1) continue;
    const { data, response } = await client.POST('/services', { body });
    // 409: a fuzzed service took the name meanwhile; then that entry stays away.
    if (response.status !== 201 && response.status !== 409)
      throw new Error(`restocking service ${body.id}: ${response.status}`);
    world.observe({
      operationId: 'createService',
      method: 'POST',
      path: '/services',
      status: response.status,
      headers: response.headers,
      body: data,
    });
  }
}

async function seedThroughApi(): Promise<void> {
  await restockCatalogue();
  for (const datetime of ['2022-11-01T11:11:11.111Z', '2022-11-01T14:11:11.111Z', '2022-11-01T17:11:11.111Z']) {
    const { data, response } = await client.POST('/orders', {
      body: { datetime, totalfee: 100, services: [{ id: 123 }, { id: 789 }] },
    });
    if (response.status !== 201) throw new Error(`seeding order at ${datetime}: ${response.status}`);
    world.observe({
      operationId: 'createOrder',
      method: 'POST',
      path: '/orders',
      status: 201,
      headers: response.headers,
      body: data,
    });
  }
}

await seedThroughApi();

// ---------------------------------------------------------------------------------------------

interface Failure {
  index: number;
  request: ConcreteRequest;
  reply: Reply;
  problems: string[];
}

const statuses = new Map<string, number>();
const byOperation = new Map<
  string,
  { valid: number; invalid: number; success: number; statuses: Map<string, number> }
>();
const byExpectation = new Map<string, number>();
const failures: Failure[] = [];
const storeFailures: string[] = [];
let sent = 0;
const bump = <K>(map: Map<K, number>, key: K) => map.set(key, (map.get(key) ?? 0) + 1);

const arbitrary = requestPlanArb(operations);
const started = Date.now();

async function runOne(index: number, plan: RequestPlan): Promise<void> {
  const request = materialize(plan, world, credentials);
  const reply = await send(request);
  sent += 1;
  bump(statuses, 'error' in reply ? 'no response' : String(reply.status));
  bump(
    byExpectation,
    request.expect.kind === 'status' ? `exactly ${request.expect.statuses.join('/')}` : request.expect.kind,
  );
  if (request.kind === 'operation' && request.method !== 'HEAD' && request.operation) {
    const tally = byOperation.get(request.operation.operationId) ?? {
      valid: 0,
      invalid: 0,
      success: 0,
      statuses: new Map(),
    };
    bump(
      tally.statuses,
      `${request.expect.kind === 'declared' ? 'valid' : 'invalid'}:${'error' in reply ? 'none' : reply.status}`,
    );
    if (request.expect.kind === 'declared') tally.valid += 1;
    else tally.invalid += 1;
    if (!('error' in reply) && reply.status < 300) tally.success += 1;
    byOperation.set(request.operation.operationId, tally);
  }
  const problems = violations(request, reply);
  if (problems.length) failures.push({ index, request, reply, problems });
  if (!('error' in reply) && request.kind === 'operation' && request.method !== 'HEAD') {
    world.observe({
      operationId: request.operation?.operationId,
      method: request.method,
      path: request.target.split('?')[0]!,
      status: reply.status,
      headers: reply.headers,
      body: reply.body,
    });
  }
}

for (let first = 0; first < runs; first += BATCH) {
  const count = Math.min(BATCH, runs - first);
  const plans = fc.sample(arbitrary, { seed: batchSeed(seed, first / BATCH), numRuns: count });
  const queue = plans.map((plan, i) => ({ index: first + i, plan })).filter(({ index }) => !only || only.has(index));
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let job = queue.shift(); job; job = queue.shift()) await runOne(job.index, job.plan);
    }),
  );
  // Once the database has diverged from the answers, later checks would only repeat it.
  const unexplained = storeFailures.length ? [] : await unexplainedStoreChanges();
  if (unexplained.length)
    storeFailures.push(`after requests ${first}..${first + count - 1}: ${unexplained.slice(0, 10).join('; ')}`);
  await restockCatalogue();
}
const seconds = (Date.now() - started) / 1000;

const sortedCounts = (map: Map<string, number>) =>
  [...map.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k}×${n}`)
    .join(', ');
t.comment(
  `${sent} requests in ${seconds.toFixed(1)} s (${Math.round(sent / seconds)}/s); statuses: ${sortedCounts(statuses)}`,
);
t.comment(`expected: ${sortedCounts(byExpectation)}`);
for (const [operationId, tally] of [...byOperation.entries()].sort(([a], [b]) => a.localeCompare(b))) {
  t.comment(`${operationId}: ${tally.valid} valid, ${tally.invalid} invalid; ${sortedCounts(tally.statuses)}`);
}

t.test('the fuzzer sent what it promised, to every operation of openapi.yaml', async (t) => {
  if (only) {
    t.equal(sent, only.size, `sent the ${only.size} requests asked for`);
    return;
  }
  t.equal(sent, runs, `sent ${runs} requests`);
  if (process.env.FUZZ_RUNS === undefined) t.ok(sent >= 2000, 'at least 2,000 requests in CI');
  for (const operation of operations) {
    const tally = byOperation.get(operation.operationId);
    // An operation that takes no input (no parameters, body or key) cannot be sent anything invalid.
    const takesInput =
      operation.parameters.length > 0 || operation.body !== undefined || operation.scopes !== undefined;
    t.ok(
      tally && tally.valid > 0 && (tally.invalid > 0 || !takesInput),
      `${operation.operationId}: valid and invalid requests (${tally?.valid ?? 0}/${tally?.invalid ?? 0})`,
    );
  }
});

t.test(
  'every response is below 500, declared in openapi.yaml and valid against its schema; every invalid request gets a 4xx',
  async (t) => {
    for (const failure of failures.slice(0, 25)) {
      t.fail(`request #${failure.index}: ${failure.problems.join('; ')}`, {
        request: describeRequest(failure.request, credentials),
        why: failure.request.why,
        answer:
          'error' in failure.reply
            ? failure.reply.error
            : `${failure.reply.status} ${failure.reply.text.slice(0, 400)}`,
        replay: `FUZZ_SEED=${seed} FUZZ_RUNS=${runs} FUZZ_ONLY=${failure.index} make fuzz`,
      });
    }
    t.equal(failures.length, 0, `no bad answer in ${sent} requests (seed ${seed}; replay: ${replay})`);
  },
);

t.test('the database holds exactly what 2xx answers said was stored: a refused request stores nothing', async (t) => {
  for (const failure of storeFailures) t.fail(failure, { replay });
  t.equal(
    storeFailures.length,
    0,
    `orders, their services and the catalogue match the answers (seed ${seed}; replay: ${replay})`,
  );
});
