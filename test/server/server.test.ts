import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { allScopes } from '../../src/keys/model.js';
import { createApiKey } from '../../src/keys/use-cases.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { databaseKind, freshDatabaseTarget } from '../helpers/database.js';
import { typedClient } from '../helpers/http.js';

interface RunningServer {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** The real entry point, src/server.ts, as its own process. */
function startServer(env: Record<string, string>): Promise<RunningServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) resolve({ child, url: match[1]!, output: () => output });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`server exited with ${code} before listening:\n${output}`)));
  });
}

/** POSTs `body` in two halves, calling `between` after the first half has been sent. */
function sendSlowly(url: string, body: string, key: string, between: () => void): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const headers = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      authorization: `Bearer ${key}`,
    };
    const req = request(url, { method: 'POST', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('error', reject);
    req.write(body.slice(0, 10));
    setTimeout(() => {
      between();
      setTimeout(() => req.end(body.slice(10)), 300);
    }, 300);
  });
}

/**
 * Where the server keeps its data, and a key for it: on Postgres a key is provisioned beforehand
 * (a server database never gets one by itself); the embedded database creates a development key,
 * which, stdout being a pipe here, it writes to a file in its data directory.
 */
async function serverTarget(t: {
  teardown(fn: () => unknown): void;
}): Promise<{ env: Record<string, string>; provisionedKey?: string }> {
  const target = await freshDatabaseTarget(t);
  if (target.kind === 'pglite') {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'orders-server-'));
    t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
    return { env: { PGLITE_DATA_DIR: dataDir } };
  }
  const { db } = await openDatabase(target);
  try {
    await migrateToLatest(db);
    const { key } = await createApiKey(db, 'ops', allScopes);
    return { env: { DATABASE_URL: target.url }, provisionedKey: key };
  } finally {
    await db.destroy();
  }
}

function keyOf(provisionedKey: string | undefined, env: Record<string, string>): string {
  return provisionedKey ?? developmentKeyIn(env.PGLITE_DATA_DIR!);
}

/** The development key the embedded database wrote to its data directory. */
function developmentKeyIn(dataDir: string): string {
  const key = /^(osk_[A-Za-z0-9_-]{43})\n$/.exec(readFileSync(path.join(dataDir, 'development-api-key'), 'utf8'))?.[1];
  if (!key) throw new Error(`no development key in ${dataDir}`);
  return key;
}

t.test('the server process migrates, serves, and exits 0 on SIGTERM after in-flight requests finish', async (t) => {
  const { env, provisionedKey } = await serverTarget(t);
  const server = await startServer(env);
  const exited = once(server.child, 'exit');
  const key = keyOf(provisionedKey, env);
  const client = typedClient(server.url, key);
  if (databaseKind === 'pglite') {
    const keyFile = path.join(env.PGLITE_DATA_DIR!, 'development-api-key');
    t.equal(statSync(keyFile).mode & 0o777, 0o600, 'stdout is a pipe: the key is in a file only its owner reads');
    t.match(server.output(), `"keyFile":${JSON.stringify(keyFile)}`, 'the log says where the key is');
    t.notOk(server.output().includes(key), 'and never shows the key itself, on stdout or stderr');
  } else t.notMatch(server.output(), /ORDERS_API_KEY|osk_/, 'no key is created on a server database');

  const orders = await client.GET('/orders');
  t.equal(orders.response.status, 200);
  if (databaseKind === 'pglite') {
    t.same(
      orders.data!.data.map((o) => o.id),
      ['223', '224', '225'],
      'a brand-new embedded database is seeded',
    );
  } else {
    t.same(orders.data!.data, [], 'a server database is never seeded by itself');
  }
  // On Postgres the key was provisioned, and so the schema migrated, before the server started.
  if (databaseKind === 'pglite') t.match(server.output(), /"msg":"database migrated"/);

  // A request whose body is still arriving when SIGTERM lands is in flight for certain.
  const body = JSON.stringify({
    datetime: '2031-01-01T00:00:00Z',
    totalfee: 1,
    services: [{ id: databaseKind === 'pglite' ? 123 : 1 }],
  });
  if (databaseKind === 'postgres') await client.POST('/services', { body: { id: 1, name: 'Only' } });
  const inFlight = sendSlowly(`${server.url}/orders`, body, key, () => server.child.kill('SIGTERM'));
  t.equal((await inFlight).status, 201, 'the request in flight at SIGTERM completes');
  const [code] = await exited;
  t.equal(code, 0, 'exit code 0');
  t.match(server.output(), /"msg":"shutting down"/);
  t.notMatch(server.output(), /"level":50/, 'no error was logged');
  const logLines = server
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'));
  t.notOk(
    logLines.some((line) => line.includes(key)),
    'the key never appears in the log',
  );
});

t.test('each request is logged once, with its id, operation and status, and the id is echoed', async (t) => {
  const { env, provisionedKey } = await serverTarget(t);
  const server = await startServer(env);
  t.teardown(() => void server.child.kill('SIGKILL'));
  const key = keyOf(provisionedKey, env);
  const { response } = await typedClient(server.url, key).GET('/orders/{orderId}', {
    params: { path: { orderId: '1' } },
    headers: { 'x-request-id': 'trace-abc.123' },
  });
  t.equal(response.status, 404);
  t.equal(response.headers.get('x-request-id'), 'trace-abc.123');
  await new Promise((resolve) => setTimeout(resolve, 100));
  const lines = server
    .output()
    .split('\n')
    .filter((line) => line.includes('trace-abc.123'));
  t.equal(lines.length, 1, 'exactly one line for the request');
  t.match(JSON.parse(lines[0]!), {
    reqId: 'trace-abc.123',
    operationId: 'getOrder',
    statusCode: 404,
    method: 'GET',
    url: '/orders/1',
  });
});

t.test('a bad configuration stops the process with exit 1 and a clear message', async (t) => {
  for (const [name, value] of [
    ['PORT', 'abc'],
    ['DATABASE_URL', 'mysql://x'],
    ['LOG_LEVEL', 'loud'],
  ] as const) {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      env: { PATH: process.env.PATH ?? '', [name]: value },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = await once(child, 'exit');
    t.equal(code, 1, `${name}=${value} exits 1`);
    t.match(stderr, new RegExp(`Invalid configuration: .*${name}`), `${name}=${value} is named`);
  }
});
