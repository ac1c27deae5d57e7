import { hostname } from 'node:os';
import fc from 'fast-check';
import Fastify, { type FastifyInstance } from 'fastify';
import t from 'tap';
import {
  RequestLog,
  RequestLogger,
  requestIdFor,
  requestLoggerFor,
  withoutSecrets,
} from '../../../src/http/request-log.js';
import { checkProperty } from '../../helpers/property.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('a plain path is logged as it is', async (t) => {
  t.equal(withoutSecrets('/orders/1234'), '/orders/1234');
  t.equal(withoutSecrets('/'), '/');
  t.equal(withoutSecrets('/services/7/keys'), '/services/7/keys', 'a path segment named like a secret is no parameter');
});

t.test('ordinary query parameters stay', async (t) => {
  t.equal(withoutSecrets('/orders?limit=50&cursor=abc'), '/orders?limit=50&cursor=abc');
  t.equal(
    withoutSecrets('/orders?from=2022-11-01T11:11:11Z&serviceId=3'),
    '/orders?from=2022-11-01T11:11:11Z&serviceId=3',
  );
});

t.test('a parameter whose name says token, key, secret, password or auth has its value redacted', async (t) => {
  t.equal(withoutSecrets('/orders?access_token=abc123'), '/orders?access_token=[redacted]');
  t.equal(withoutSecrets('/orders?limit=5&api_key=secret'), '/orders?limit=5&api_key=[redacted]');
  t.equal(withoutSecrets('/orders?client_secret=s3cr3t'), '/orders?client_secret=[redacted]');
  t.equal(withoutSecrets('/orders?password=hunter2'), '/orders?password=[redacted]');
  t.equal(
    withoutSecrets('/orders?Authorization=Bearer%20x'),
    '/orders?Authorization=[redacted]',
    'names are matched in any case',
  );
  t.equal(withoutSecrets('/orders?API-KEY=x'), '/orders?API-KEY=[redacted]');
});

t.test('only the secret values are redacted; the parameters around them stay', async (t) => {
  t.equal(
    withoutSecrets('/orders?token=a&limit=5&key=b&cursor=c'),
    '/orders?token=[redacted]&limit=5&key=[redacted]&cursor=c',
  );
  t.equal(withoutSecrets('/orders?token=&limit=5'), '/orders?token=[redacted]&limit=5', 'an empty value');
});

t.test('a parameter after & without any ? is redacted too', async (t) => {
  t.equal(withoutSecrets('/orders&token=abc'), '/orders&token=[redacted]');
});

t.test('an osk_ key is redacted wherever it appears', async (t) => {
  t.equal(withoutSecrets('/orders?access_token=osk_abc123'), '/orders?access_token=[redacted]');
  t.equal(withoutSecrets('/orders/osk_leakedkey'), '/orders/osk_[redacted]', 'pasted into the path');
  t.equal(
    withoutSecrets('/orders?q=osk_Ab-9_z&limit=5'),
    '/orders?q=osk_[redacted]&limit=5',
    'in a parameter not named like a secret',
  );
  t.equal(withoutSecrets('/orders?a=osk_x&b=osk_y'), '/orders?a=osk_[redacted]&b=osk_[redacted]', 'every occurrence');
});

t.test('the cheap pre-checks redact exactly what both replacements alone would (fast-check)', async (t) => {
  // The two replacements as they ran on every URL before the pre-checks.
  const replacedAlways = (url: string) =>
    url
      .replace(/osk_[A-Za-z0-9_-]*/g, 'osk_[redacted]')
      .replace(/([?&][^=&]*(?:token|key|secret|password|auth)[^=&]*=)[^&]*/gi, '$1[redacted]');
  const piece = fc.constantFrom(
    '/orders',
    '/services/keys',
    '?',
    '&',
    '=',
    'limit',
    'from',
    '2022-11-01T11:11:11Z',
    'Token',
    'api_KEY',
    'monkey',
    'secret',
    'PassWord',
    'oauth',
    'osk_',
    'Ab-9_z',
    '%20',
    'x',
    '',
  );
  const url = fc.array(piece, { maxLength: 12 }).map((parts) => parts.join(''));
  checkProperty(t, url, (u) => withoutSecrets(u) === replacedAlways(u), {
    seed: 20_261_206,
    runs: 20_000,
    held: 'URLs, each redacted the same',
  });
  t.equal(withoutSecrets('/services/keys?limit=5'), '/services/keys?limit=5', 'a secret word in the path only');
  t.equal(
    withoutSecrets('/orders?limit=5&monkey=1'),
    '/orders?limit=5&monkey=[redacted]',
    'as before: any name with one',
  );
});

t.test('a sane X-Request-Id is kept, to follow a call across services', async (t) => {
  t.equal(requestIdFor({ headers: { 'x-request-id': 'abc-123' } }), 'abc-123');
  t.equal(requestIdFor({ headers: { 'x-request-id': 'A.b_C-9' } }), 'A.b_C-9');
  t.equal(requestIdFor({ headers: { 'x-request-id': 'x'.repeat(64) } }), 'x'.repeat(64), '64 characters');
});

t.test('an insane or missing X-Request-Id is replaced by a new UUID', async (t) => {
  const insane: (string | string[] | undefined)[] = [
    undefined,
    '',
    'x'.repeat(65),
    'has space',
    'line\nbreak',
    'quote"',
    'ünïcode',
    ['a', 'b'],
  ];
  for (const given of insane) {
    t.match(requestIdFor({ headers: { 'x-request-id': given } }), UUID, JSON.stringify(given) ?? 'undefined');
  }
});

t.test('each new request id is different', async (t) => {
  t.not(requestIdFor({ headers: {} }), requestIdFor({ headers: {} }));
});

t.test('the request line is pino’s: its level, time and bindings, then the request’s fields', async (t) => {
  const lines: string[] = [];
  const app = Fastify({
    logger: { level: 'info', stream: { write: (line: string) => lines.push(line) } },
    logController: new RequestLog(),
    genReqId: () => 'req-1',
  });
  app.get('/things', async () => ({ ok: true }));
  await app.inject({ method: 'GET', url: '/things?access_token=osk_secret&q="quoted"' });
  await app.close();
  t.equal(lines.length, 1, 'one line, no "incoming request"');
  const line = JSON.parse(lines[0]!) as Record<string, unknown>;
  t.match(line, { level: 30, time: Number, pid: process.pid, hostname: hostname(), reqId: 'req-1' });
  t.strictSame(Object.keys(line), [
    'level',
    'time',
    'pid',
    'hostname',
    'reqId',
    'method',
    'url',
    'statusCode',
    'responseTimeMs',
    'msg',
  ]);
  t.equal(line.url, '/things?access_token=[redacted]&q=%22quoted%22', 'redacted');
  t.match(line, { method: 'GET', statusCode: 200, responseTimeMs: Number, msg: 'request' });
  t.ok(lines[0]!.endsWith('}\n'), 'one line');
});

t.test('below info no request line is written', async (t) => {
  const lines: string[] = [];
  const app = Fastify({
    logger: { level: 'warn', stream: { write: (line: string) => lines.push(line) } },
    logController: new RequestLog(),
  });
  app.get('/things', async () => ({ ok: true }));
  await app.inject({ method: 'GET', url: '/things' });
  await app.close();
  t.strictSame(lines, []);
});

/** The lines an app writes for the same requests, with pino's own child loggers or RequestLogger's. */
async function linesWith(lazy: boolean, routes: (app: FastifyInstance) => void, urls: string[]) {
  const lines: string[] = [];
  let id = 0;
  const app = Fastify({
    logger: { level: 'info', stream: { write: (line: string) => lines.push(line) } },
    logController: new RequestLog(),
    genReqId: () => `req-${++id}`,
    ...(lazy ? { childLoggerFactory: requestLoggerFor } : {}),
  });
  routes(app);
  for (const url of urls) await app.inject({ method: 'GET', url });
  await app.close();
  // Time and duration differ between any two runs.
  return lines.map((line) =>
    line.replace(/"time":\d+/, '"time":0').replace(/"responseTimeMs":[\d.]+/, '"responseTimeMs":0'),
  );
}

t.test('with the request logger made on first use, every line is what pino’s child wrote', async (t) => {
  const seen: unknown[] = [];
  const routes = (app: FastifyInstance) => {
    app.get('/quiet', async (request) => {
      seen.push(request.log);
      return { ok: true };
    });
    app.get('/chatty', async (request) => {
      request.log.warn({ detail: 'x' }, 'a warning');
      request.log.child({ step: 'inner' }).info('from a child');
      return { ok: true };
    });
    app.get('/fails', async () => {
      throw new Error('broken');
    });
    app.get('/own-level', { logLevel: 'warn' }, async (request) => {
      request.log.info('not written: the route logs from warn');
      return { ok: true };
    });
  };
  const urls = ['/quiet', '/chatty', '/fails', '/own-level', '/missing', '/quiet?token=osk_x'];
  const eager = await linesWith(false, routes, urls);
  seen.length = 0;
  const lazy = await linesWith(true, routes, urls);
  t.strictSame(lazy, eager, 'the same lines, byte for byte');
  t.ok(eager.length >= 8, `${eager.length} lines`);
  t.match(lazy.join(''), /"reqId":"req-2".*"msg":"a warning"/, 'a line logged during a request carries its id');
  t.ok(seen[0] instanceof RequestLogger, 'a quiet request has the lazy logger');
  t.ok((seen[0] as RequestLogger).unused, 'and never made pino’s child');
});

t.test('a request logger answers its level and takes a new one', async (t) => {
  const lines: string[] = [];
  const parent = Fastify({ logger: { level: 'info', stream: { write: (line: string) => lines.push(line) } } }).log;
  const log = requestLoggerFor(parent, { reqId: 'r' }, {}) as RequestLogger;
  t.ok(log instanceof RequestLogger);
  t.equal(log.level, 'info');
  t.ok(log.unused);
  log.level = 'error';
  t.equal(log.level, 'error');
  t.equal(parent.level, 'info', 'the parent keeps its own');
  log.warn('dropped');
  log.error('kept');
  t.equal(lines.length, 1);
  t.match(JSON.parse(lines[0]!), { level: 50, reqId: 'r', msg: 'kept' });
  t.notOk(
    requestLoggerFor(parent, { reqId: 'r' }, { level: 'warn' }) instanceof RequestLogger,
    'own options: pino’s child',
  );
});
