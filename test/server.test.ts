import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import t from 'tap';
import { loadConfig } from '../src/config.js';
import { apiClient, databaseKind, freshDatabaseTarget } from './helper.js';

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
function sendSlowly(url: string, body: string, between: () => void): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
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

async function serverTarget(t: { teardown(fn: () => unknown): void }): Promise<Record<string, string>> {
  const target = await freshDatabaseTarget(t);
  return target.kind === 'postgres' ? { DATABASE_URL: target.url } : { PGLITE_DATA_DIR: 'memory://' };
}

t.test('the server process migrates, serves, and exits 0 on SIGTERM after in-flight requests finish', async (t) => {
  const server = await startServer(await serverTarget(t));
  const exited = once(server.child, 'exit');
  const api = apiClient(server.url);

  const orders = await api.get('/orders');
  t.equal(orders.status, 200);
  if (databaseKind === 'pglite') {
    t.same(orders.body.data.map((o: { id: string }) => o.id), ['223', '224', '225'], 'a brand-new embedded database is seeded');
  } else {
    t.same(orders.body.data, [], 'a server database is never seeded by itself');
  }
  t.match(server.output(), /"msg":"database migrated"/);

  // A request whose body is still arriving when SIGTERM lands is in flight for certain.
  const body = JSON.stringify({ datetime: '2031-01-01T00:00:00Z', totalfee: 1, services: [{ id: databaseKind === 'pglite' ? 123 : 1 }] });
  if (databaseKind === 'postgres') await api.post('/services', { id: 1, name: 'Only' });
  const inFlight = sendSlowly(`${server.url}/orders`, body, () => server.child.kill('SIGTERM'));
  t.equal((await inFlight).status, 201, 'the request in flight at SIGTERM completes');
  const [code] = await exited;
  t.equal(code, 0, 'exit code 0');
  t.match(server.output(), /"msg":"shutting down"/);
  t.notMatch(server.output(), /"level":50/, 'no error was logged');
});

t.test('each request is logged once, with its id, operation and status, and the id is echoed', async (t) => {
  const server = await startServer(await serverTarget(t));
  t.teardown(() => void server.child.kill('SIGKILL'));
  const res = await fetch(`${server.url}/orders/1`, { headers: { 'x-request-id': 'trace-abc.123' } });
  t.equal(res.status, 404);
  t.equal(res.headers.get('x-request-id'), 'trace-abc.123');
  await new Promise((resolve) => setTimeout(resolve, 100));
  const lines = server.output().split('\n').filter((line) => line.includes('trace-abc.123'));
  t.equal(lines.length, 1, 'exactly one line for the request');
  t.match(JSON.parse(lines[0]!), { reqId: 'trace-abc.123', operationId: 'getOrder', statusCode: 404, method: 'GET', url: '/orders/1' });
});

t.test('a bad configuration stops the process with exit 1 and a clear message', async (t) => {
  for (const [name, value] of [['PORT', 'abc'], ['DATABASE_URL', 'mysql://x'], ['LOG_LEVEL', 'loud']] as const) {
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

t.test('configuration defaults and parsing', async (t) => {
  t.same(loadConfig({}), { port: 3000, host: '127.0.0.1', databaseUrl: undefined, pgliteDataDir: './.data', logLevel: 'info' });
  t.match(loadConfig({ PORT: '8080', DATABASE_URL: 'postgres://u@h/db', DATABASE_URL_UNUSED: 'x', LOG_LEVEL: 'warn' }), { port: 8080, databaseUrl: 'postgres://u@h/db', logLevel: 'warn' });
  t.equal(loadConfig({ DATABASE_URL: '' }).databaseUrl, undefined, 'an empty variable counts as unset');
  t.throws(() => loadConfig({ PORT: '70000' }), /PORT/);
});
