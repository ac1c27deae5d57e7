import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import t from 'tap';
import { buildApp } from '../../../src/app.js';
import { allScopes, hashApiKey, isScope, type Scope } from '../../../src/keys/model.js';
import { createApiKey, revokeApiKey } from '../../../src/keys/use-cases.js';
import { contractPath, loadContract } from '../../../src/http/contract.js';
import { openDatabase, type DatabaseTarget, type Db } from '../../../src/db/database.js';
import { seedSampleData } from '../../../src/db/seed.js';
import type { OrdersClient } from '../../../src/client.js';
import { countRows, databaseKind, freshDatabase, freshDatabaseTarget } from '../../helpers/database.js';
import { orderBody, seedCatalogue } from '../../helpers/fixtures.js';
import { contractViolations, type ContractResponse } from '../../helpers/contract.js';
import { apiClient, typedClient, type Api } from '../../helpers/http.js';
import { startService } from '../../helpers/service.js';

const REALM = 'Bearer realm="orders-service"';
const INVALID_TOKEN = `${REALM}, error="invalid_token"`;
const insufficientScope = (scope: string) => `${REALM}, error="insufficient_scope", scope="${scope}"`;

// The keys CLI test starts several processes, each opening a database (PGlite: a cold start each time).
t.setTimeout(300_000);

const main = await startService(t);
await seedCatalogue(main.db);

/** The typed client for a new key with these scopes on `service`. */
async function clientWith(
  service: { db: Db; url: string },
  name: string,
  scopes: readonly Scope[],
): Promise<OrdersClient> {
  const { key } = await createApiKey(service.db, name, scopes);
  return typedClient(service.url, key);
}

const orderPath = (orderId: string) => ({ params: { path: { orderId } } });
const servicePath = (serviceId: number) => ({ params: { path: { serviceId } } });

async function lastUsedAt(db: Db, name: string): Promise<string | null> {
  const row = await db.selectFrom('api_keys').select('last_used_at').where('name', '=', name).executeTakeFirstOrThrow();
  return row.last_used_at;
}

/** Everything an API call could change: orders (with who and which version), their services, the catalogue. */
async function snapshot(db: Db): Promise<unknown> {
  const orders =
    await sql`SELECT id::text, datetime, totalfee::text, created_by, updated_by, version, updated_at FROM orders ORDER BY id`.execute(
      db,
    );
  const links = await sql`SELECT order_id::text, service_id FROM order_services ORDER BY order_id, service_id`.execute(
    db,
  );
  const services = await sql`SELECT id, name FROM services ORDER BY id`.execute(db);
  return { orders: orders.rows, links: links.rows, services: services.rows };
}

t.test(
  'no Authorization header: 401 problem with a Bearer challenge, and a refused write stores nothing',
  async (t) => {
    const ordersBefore = await countRows(main.db, 'orders');
    const servicesBefore = await countRows(main.db, 'services');
    const anonymous = { headers: { authorization: null } };
    const attempts = [
      { method: 'GET', path: '/orders', send: () => main.client.GET('/orders', anonymous) },
      { method: 'GET', path: '/services', send: () => main.client.GET('/services', anonymous) },
      {
        method: 'POST',
        path: '/orders',
        send: () => main.client.POST('/orders', { ...anonymous, body: orderBody('2030-01-01T00:00:00Z') }),
      },
      {
        method: 'POST',
        path: '/services',
        send: () => main.client.POST('/services', { ...anonymous, body: { name: 'Anonymous service' } }),
      },
      { method: 'GET', path: '/metrics', send: () => main.client.GET('/metrics', { ...anonymous, parseAs: 'text' }) },
    ];
    for (const { method, path, send } of attempts) {
      const { error, response } = await send();
      t.equal(response.status, 401, `${method} ${path}`);
      t.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      t.equal(
        response.headers.get('www-authenticate'),
        REALM,
        'a challenge naming the scheme and realm, no error for a missing key',
      );
      t.same(error, {
        type: '/problems/unauthorized',
        title: 'Unauthorized',
        status: 401,
        detail: 'Send an API key as Authorization: Bearer <key>.',
        instance: path,
      });
    }
    t.equal(await countRows(main.db, 'orders'), ordersBefore, 'no order stored');
    t.equal(await countRows(main.db, 'services'), servicesBefore, 'no service stored');
  },
);

t.test(
  'the key is checked before anything else: a request without one is 401 even if it is also malformed',
  async (t) => {
    const anonymous = { authorization: null };
    const attempts = [
      { method: 'POST', path: '/orders', options: { headers: anonymous, body: {} } },
      { method: 'POST', path: '/orders', options: { headers: anonymous } },
      {
        method: 'POST',
        path: '/orders',
        options: { headers: { ...anonymous, 'content-type': 'text/plain' }, raw: 'hello' },
      },
      { method: 'GET', path: '/orders?bogus=1', options: { headers: anonymous } },
      {
        method: 'PUT',
        path: '/services/0',
        options: { headers: { ...anonymous, authorization: 'Bearer osk_unknown' }, body: { nope: true } },
      },
    ];
    for (const { method, path, options } of attempts) {
      const res = await main.api.request(method, path, options);
      t.equal(res.status, 401, `${method} ${path}: 401, not the 400/415 the request would also deserve`);
    }
    // A malformed id is the one defect the types let through.
    const badId = await main.client.GET('/orders/{orderId}', { ...orderPath('abc'), headers: anonymous });
    t.equal(badId.response.status, 401, 'GET /orders/abc: 401, not the 400/415 the request would also deserve');
  },
);

t.test('a wrong key or a malformed Authorization header: 401 with error="invalid_token", nothing stored', async (t) => {
  const ordersBefore = await countRows(main.db, 'orders');
  const links = await countRows(main.db, 'order_services');
  const headers = {
    'an unknown, well-formed key': 'Bearer osk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    'the real key minus its last character': `Bearer ${main.apiKey.slice(0, -1)}`,
    'the real key plus a character': `Bearer ${main.apiKey}x`,
    'Basic credentials': `Basic ${Buffer.from('test-suite:secret').toString('base64')}`,
    'the real key under the Basic scheme': `Basic ${main.apiKey}`,
    'the real key without a scheme': main.apiKey,
    'Bearer alone': 'Bearer',
    'a key with odd characters': 'Bearer osk_abc$def;DROP',
    'the real key followed by odd characters': `Bearer ${main.apiKey}"`,
    'the real key followed by another token': `Bearer ${main.apiKey} extra`,
    'two credentials': `Bearer ${main.apiKey}, Bearer ${main.apiKey}`,
    'a very long token': `Bearer ${'a'.repeat(5000)}`,
    'an empty header': '',
  };
  for (const [what, authorization] of Object.entries(headers)) {
    const { error, response } = await main.client.POST('/orders', {
      body: orderBody('2031-01-01T00:00:00Z'),
      headers: { authorization },
    });
    t.equal(response.status, 401, what);
    t.equal(response.headers.get('www-authenticate'), INVALID_TOKEN, what);
    t.match(error, { type: '/problems/unauthorized', title: 'Unauthorized', status: 401, instance: '/orders' }, what);
    t.equal(error?.detail, 'The API key is not valid (unknown, revoked or malformed).', what);
  }
  t.equal(await countRows(main.db, 'orders'), ordersBefore, 'no order stored by any refused create');
  t.equal(await countRows(main.db, 'order_services'), links);

  const lowerCase = await main.client.GET('/orders', { headers: { authorization: `bearer ${main.apiKey}` } });
  t.equal(lowerCase.response.status, 200, 'the scheme name is case-insensitive (RFC 9110)');
});

t.test('a refused replace or delete of an existing order changes nothing', async (t) => {
  const created = await main.client.POST('/orders', { body: orderBody('2032-01-01T00:00:00Z') });
  t.equal(created.response.status, 201);
  const before = await snapshot(main.db);
  const id = created.data!.id;
  for (const authorization of [null, 'Bearer osk_wrong']) {
    const put = await main.client.PUT('/orders/{orderId}', {
      ...orderPath(id),
      body: orderBody('2032-02-01T00:00:00Z', { totalfee: 1 }),
      headers: { authorization },
    });
    t.equal(put.response.status, 401);
    const del = await main.client.DELETE('/orders/{orderId}', { ...orderPath(id), headers: { authorization } });
    t.equal(del.response.status, 401);
  }
  t.same(await snapshot(main.db), before);
  t.equal((await main.client.DELETE('/orders/{orderId}', orderPath(id))).response.status, 204);
});

t.test('with apiKeyCacheSeconds 0 a revoked key is refused on the very next request', async (t) => {
  const service = await startService(t, { apiKeyCacheSeconds: 0 });
  await seedCatalogue(service.db);
  const leaving = await clientWith(service, 'leaving', ['orders:read', 'orders:write']);
  t.equal((await leaving.GET('/orders')).response.status, 200, 'works before revocation');

  t.equal(await revokeApiKey(service.db, 'leaving'), true);
  const row = await service.db
    .selectFrom('api_keys')
    .select('revoked_at')
    .where('name', '=', 'leaving')
    .executeTakeFirstOrThrow();
  t.ok(typeof row.revoked_at === 'string', 'revoked_at is set');

  const read = await leaving.GET('/orders');
  t.equal(read.response.status, 401);
  t.equal(read.response.headers.get('www-authenticate'), INVALID_TOKEN);
  t.equal(read.error?.type, '/problems/unauthorized');
  const before = await countRows(service.db, 'orders');
  const write = await leaving.POST('/orders', { body: orderBody('2030-01-01T00:00:00Z') });
  t.equal(write.response.status, 401);
  t.equal(await countRows(service.db, 'orders'), before, 'a revoked key stores nothing');
  t.equal((await service.client.GET('/orders')).response.status, 200, 'other keys are unaffected');

  // The name is free again; the new key works and the old one stays dead.
  const successor = await clientWith(service, 'leaving', ['orders:read']);
  t.equal((await successor.GET('/orders')).response.status, 200, 'a new key may reuse a revoked name');
  t.equal((await leaving.GET('/orders')).response.status, 401, 'the revoked key is still refused');
  t.equal(await revokeApiKey(service.db, 'leaving'), true, 'revoking by name hits the live key');
  t.equal((await successor.GET('/orders')).response.status, 401);
  t.equal(await revokeApiKey(service.db, 'leaving'), false, 'no live key left with that name');
});

t.test('with the default cache (10 s) a verified key keeps working for a while after revocation', async (t) => {
  const lingering = await clientWith(main, 'lingering', ['orders:read']);
  t.equal((await lingering.GET('/orders')).response.status, 200, 'verified once, so cached');
  t.equal(await revokeApiKey(main.db, 'lingering'), true);
  t.equal(
    (await lingering.GET('/orders')).response.status,
    200,
    'still trusted within the cache lifetime, as documented',
  );

  const neverUsed = await clientWith(main, 'never-used', ['orders:read']);
  t.equal(await revokeApiKey(main.db, 'never-used'), true);
  t.equal(
    (await neverUsed.GET('/orders')).response.status,
    401,
    'a key revoked before its first use is refused at once',
  );
});

t.test('a revoked key stops working once the cache entry expires (apiKeyCacheSeconds 1)', async (t) => {
  const service = await startService(t, { apiKeyCacheSeconds: 1 });
  const leaving = await clientWith(service, 'leaving', ['orders:read']);
  t.equal((await leaving.GET('/orders')).response.status, 200);
  t.equal(await revokeApiKey(service.db, 'leaving'), true);
  t.equal(
    (await leaving.GET('/orders')).response.status,
    200,
    'within the cache lifetime the verified key is still trusted',
  );
  await sleep(1200);
  const { response } = await leaving.GET('/orders');
  t.equal(response.status, 401, 'refused once the cache entry has expired');
  t.equal(response.headers.get('www-authenticate'), INVALID_TOKEN);
});

/**
 * A POST /orders whose headers and first bytes are sent now and the rest of the body only when
 * `finish` is called: a write in flight, already authenticated, not yet run.
 */
async function slowOrderPost(url: string, key: string, datetime: string) {
  const body = JSON.stringify(orderBody(datetime));
  const req = request(`${url}/orders`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      authorization: `Bearer ${key}`,
    },
  });
  const answered = new Promise<ContractResponse>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers))
          if (typeof value === 'string') headers.set(name, value);
        resolve({ status: res.statusCode ?? 0, headers, body: text === '' ? undefined : JSON.parse(text) });
      });
    });
  });
  req.write(body.slice(0, 10));
  await sleep(200); // the headers have arrived: the key has been checked
  return {
    finish: async () => {
      req.end(body.slice(10));
      const response = await answered;
      const violations = contractViolations('POST', '/orders', response);
      if (violations.length > 0) throw new Error(violations.join('\n'));
      return response;
    },
  };
}

t.test(
  'a write whose key is revoked while its body trickles in is refused 401 once the key cache entry has expired',
  async (t) => {
    const service = await startService(t, { apiKeyCacheSeconds: 1 });
    await seedCatalogue(service.db);
    const { key } = await createApiKey(service.db, 'slow-writer', ['orders:read', 'orders:write']);
    const write = await slowOrderPost(service.url, key, '2037-01-01T00:00:00Z');

    t.equal(await revokeApiKey(service.db, 'slow-writer'), true);
    const read = await typedClient(service.url, key).GET('/orders');
    t.equal(read.response.status, 200, 'the write verified (and cached) the key before it was revoked');
    await sleep(1_200); // past the 1 s cache lifetime, well within the 30 s request timeout

    const answer = await write.finish();
    t.equal(answer.status, 401, 'refused when it was about to run');
    t.match(answer.body, { type: '/problems/unauthorized', status: 401 });
    t.equal(answer.headers.get('www-authenticate'), INVALID_TOKEN);
    t.equal(await countRows(service.db, 'orders'), 0, 'nothing was written');
  },
);

t.test(
  'a write that runs within the key cache lifetime of a revocation still runs (the documented bound)',
  async (t) => {
    const service = await startService(t, { apiKeyCacheSeconds: 10 });
    await seedCatalogue(service.db);
    const { key } = await createApiKey(service.db, 'quick-writer', ['orders:write']);
    const write = await slowOrderPost(service.url, key, '2037-02-01T00:00:00Z');
    t.equal(await revokeApiKey(service.db, 'quick-writer'), true);
    const answer = await write.finish();
    t.equal(answer.status, 201, 'its key was verified under 10 s ago: trusted, as documented');
    t.equal(await countRows(service.db, 'orders'), 1);
  },
);

t.test('scopes: a read-only key reads orders and the catalogue but cannot write or see metrics', async (t) => {
  const created = await main.client.POST('/orders', {
    body: orderBody('2033-01-01T00:00:00Z', { services: [{ id: 123 }, { id: 456 }] }),
  });
  t.equal(created.response.status, 201);
  const id = created.data!.id;
  const reader = await clientWith(main, 'reader', ['orders:read']);

  t.equal((await reader.GET('/orders')).response.status, 200);
  const one = await reader.GET('/orders/{orderId}', orderPath(id));
  t.equal(one.response.status, 200);
  t.same(one.data, created.data);
  t.equal((await reader.GET('/services')).response.status, 200);
  t.same((await reader.GET('/services/{serviceId}', servicePath(123))).data, { id: 123, name: 'Inspection' });

  const before = await snapshot(main.db);
  const refused = [
    {
      method: 'POST',
      path: '/orders',
      scope: 'orders:write',
      send: () => reader.POST('/orders', { body: orderBody('2033-06-01T00:00:00Z') }),
    },
    {
      method: 'PUT',
      path: `/orders/${id}`,
      scope: 'orders:write',
      send: () => reader.PUT('/orders/{orderId}', { ...orderPath(id), body: orderBody('2033-06-01T00:00:00Z') }),
    },
    {
      method: 'DELETE',
      path: `/orders/${id}`,
      scope: 'orders:write',
      send: () => reader.DELETE('/orders/{orderId}', orderPath(id)),
    },
    {
      method: 'POST',
      path: '/services',
      scope: 'services:write',
      send: () => reader.POST('/services', { body: { name: 'Calibration' } }),
    },
    {
      method: 'PUT',
      path: '/services/123',
      scope: 'services:write',
      send: () => reader.PUT('/services/{serviceId}', { ...servicePath(123), body: { name: 'Renamed' } }),
    },
    {
      method: 'DELETE',
      path: '/services/789',
      scope: 'services:write',
      send: () => reader.DELETE('/services/{serviceId}', servicePath(789)),
    },
    { method: 'GET', path: '/metrics', scope: 'metrics:read', send: () => reader.GET('/metrics', { parseAs: 'text' }) },
  ];
  for (const { method, path, scope, send } of refused) {
    const { error, response } = await send();
    t.equal(response.status, 403, `${method} ${path}`);
    t.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    t.equal(response.headers.get('www-authenticate'), insufficientScope(scope), `${method} ${path} names ${scope}`);
    t.same(error, {
      type: '/problems/forbidden',
      title: 'Forbidden',
      status: 403,
      detail: `The API key "reader" lacks the scope ${scope} this operation needs.`,
      instance: path,
    });
  }
  t.same(await snapshot(main.db), before, 'nothing changed in the database');
  await main.client.DELETE('/orders/{orderId}', orderPath(id));
});

t.test('scopes: orders:write without services:write manages orders but not the catalogue', async (t) => {
  const writer = await clientWith(main, 'order-writer', ['orders:read', 'orders:write']);
  const created = await writer.POST('/orders', { body: orderBody('2034-01-01T00:00:00Z') });
  t.equal(created.response.status, 201);
  const id = created.data!.id;
  const replaced = await writer.PUT('/orders/{orderId}', {
    ...orderPath(id),
    body: orderBody('2034-01-02T00:00:00Z', { services: [{ id: 789 }] }),
  });
  t.equal(replaced.response.status, 200);

  const catalogue = await snapshot(main.db);
  for (const [method, path, send] of [
    ['POST', '/services', () => writer.POST('/services', { body: { name: 'Calibration' } })],
    ['POST', '/services', () => writer.POST('/services', { body: { id: 321, name: 'Calibration' } })],
    [
      'PUT',
      '/services/456',
      () => writer.PUT('/services/{serviceId}', { ...servicePath(456), body: { name: 'Deep analysis' } }),
    ],
    ['DELETE', '/services/456', () => writer.DELETE('/services/{serviceId}', servicePath(456))],
  ] as const) {
    const { error, response } = await send();
    t.equal(response.status, 403, `${method} ${path}`);
    t.equal(response.headers.get('www-authenticate'), insufficientScope('services:write'));
    t.equal(error?.type, '/problems/forbidden');
  }
  t.same(await snapshot(main.db), catalogue, 'the catalogue is unchanged');
  t.equal((await writer.DELETE('/orders/{orderId}', orderPath(id))).response.status, 204);

  const writeOnly = await clientWith(main, 'write-only', ['orders:write']);
  const list = await writeOnly.GET('/orders');
  t.equal(list.response.status, 403, 'orders:write does not imply orders:read');
  t.equal(list.response.headers.get('www-authenticate'), insufficientScope('orders:read'));
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- free-form JSON read by the test; the contract check validates it
type Json = Record<string, any>;

/** Follows a `#/...` reference in the contract. */
function deref(document: Json, node: Json): Json {
  if (typeof node.$ref !== 'string') return node;
  const target = node.$ref
    .slice(2)
    .split('/')
    .reduce((o: Json, k: string) => o[k.replace(/~1/g, '/').replace(/~0/g, '~')], document);
  return deref(document, target);
}

interface ContractOperation {
  operationId: string;
  method: string;
  template: string;
  /** The request path, with path parameters taken from the contract's examples. */
  path: string;
  body: unknown;
  /** undefined: the operation declares no `security` at all. */
  security: Array<Record<string, string[]>> | undefined;
}

function contractOperations(): ContractOperation[] {
  const { document } = loadContract() as { document: Json };
  const methods = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];
  const found: ContractOperation[] = [];
  for (const [template, item] of Object.entries(document.paths as Json)) {
    for (const method of methods) {
      const operation = (item as Json)[method] as Json | undefined;
      if (!operation) continue;
      const parameters = [...((item as Json).parameters ?? []), ...(operation.parameters ?? [])].map((p: Json) =>
        deref(document, p),
      );
      const path = template.replace(/\{([^}]+)\}/g, (_, name: string) => {
        const parameter = parameters.find((p) => p.in === 'path' && p.name === name);
        const example = parameter && deref(document, parameter.schema).examples?.[0];
        if (example === undefined)
          throw new Error(`${operation.operationId}: path parameter ${name} has no example in openapi.yaml`);
        return encodeURIComponent(String(example));
      });
      let body: unknown;
      if (operation.requestBody) {
        const json = deref(document, operation.requestBody).content?.['application/json'];
        const example = json?.examples && Object.values(json.examples as Json)[0];
        body = example ? deref(document, example as Json).value : json?.example;
        if (body === undefined)
          throw new Error(`${operation.operationId}: the JSON request body has no example in openapi.yaml`);
      }
      found.push({
        operationId: operation.operationId,
        method: method.toUpperCase(),
        template,
        path,
        body,
        security: operation.security,
      });
    }
  }
  return found;
}

t.test(
  'every operation in openapi.yaml that needs a scope refuses a key without it (403) and accepts one with it',
  async (t) => {
    const service = await startService(t);
    await seedSampleData(service.db); // orders 223-225 and services 123, 456, 789: the ids the contract's examples use
    const operations = contractOperations();
    t.ok(operations.length >= 13, `found ${operations.length} operations`);

    for (const op of operations) {
      t.ok(Array.isArray(op.security), `${op.operationId} says explicitly whether it needs a key`);
    }
    const secured = operations.filter((op) => (op.security?.length ?? 0) > 0);
    t.ok(secured.length >= 11, `${secured.length} operations need a key`);

    // raw: the method, path and body of each request are data read from openapi.yaml, not code the types can check.
    const keys = new Map<string, Api>();
    async function keyFor(name: string, scopes: Scope[]): Promise<Api> {
      if (!keys.has(name)) keys.set(name, apiClient(service.url, (await createApiKey(service.db, name, scopes)).key));
      return keys.get(name)!;
    }

    const before = await snapshot(service.db);
    for (const op of secured) {
      t.same(Object.keys(op.security![0]!), ['apiKey'], `${op.operationId} uses the apiKey scheme`);
      t.equal(op.security!.length, 1, `${op.operationId} has one security requirement`);
      const required = op.security![0]!.apiKey!;
      t.ok(required.length > 0, `${op.operationId} needs at least one scope`);
      for (const scope of required) {
        t.ok(isScope(scope), `${op.operationId}: ${scope} is a scope a key can hold`);
        const lacking = allScopes.filter((s) => s !== scope);
        const api = await keyFor(`without-${scope.replace(':', '-')}`, lacking);
        const res = await api.request(op.method, op.path, { body: op.body });
        t.equal(res.status, 403, `${op.operationId} (${op.method} ${op.path}) without ${scope}`);
        t.equal(
          res.headers.get('www-authenticate'),
          insufficientScope(required.join(' ')),
          `${op.operationId} names the scope it needs`,
        );
        t.match(res.body, { type: '/problems/forbidden', status: 403, instance: op.path.split('?')[0] });
        t.match(res.body.detail, scope);
      }
    }
    t.same(await snapshot(service.db), before, 'no refused operation changed anything');

    for (const op of secured) {
      const required = op.security![0]!.apiKey! as Scope[];
      const api = await keyFor(`only-${required.join('-').replace(/:/g, '-')}`, required);
      const res = await api.request(op.method, op.path, { body: op.body });
      t.not(res.status, 401, `${op.operationId} with exactly its scopes is authenticated`);
      t.not(res.status, 403, `${op.operationId} with exactly its scopes is allowed (got ${res.status})`);
      t.ok(res.status < 500, `${op.operationId} answered ${res.status}`);
    }

    for (const op of operations.filter((op) => op.security?.length === 0)) {
      const res = await service.api.request(op.method, op.path, { body: op.body, headers: { authorization: null } });
      t.equal(res.status, 200, `${op.operationId} needs no key`);
    }
  },
);

t.test('health, readiness, the contract and the docs need no key', async (t) => {
  const anonymous = typedClient(main.url);
  const health = await anonymous.GET('/healthz');
  t.equal(health.response.status, 200);
  t.same(health.data, { status: 'ok' });
  const ready = await anonymous.GET('/readyz');
  t.equal(ready.response.status, 200);
  t.same(ready.data, { status: 'ready' });

  // Not operations of the contract (the helper's contract check does not apply): plain fetch.
  const json = await fetch(`${main.url}/openapi.json`);
  t.equal(json.status, 200);
  t.match(json.headers.get('content-type'), /^application\/json/);
  t.equal(((await json.json()) as { openapi: string }).openapi, '3.1.0');
  const yaml = await fetch(`${main.url}/openapi.yaml`);
  t.equal(yaml.status, 200);
  t.equal(await yaml.text(), loadContract().text, '/openapi.yaml serves the contract as written');
  const docs = await fetch(`${main.url}/docs`);
  t.equal(docs.status, 200, '/docs (after any redirect)');
  t.match(docs.headers.get('content-type'), /^text\/html/);
  t.match(await docs.text(), /swagger/i);
  for (const { response } of [health, ready]) t.notOk(response.headers.has('www-authenticate'));
});

t.test('orders record the name of the key that created them and of the one that last changed them', async (t) => {
  const alpha = await clientWith(main, 'alpha', ['orders:read', 'orders:write']);
  const beta = await clientWith(main, 'beta', ['orders:read', 'orders:write']);
  const reader = await clientWith(main, 'alpha-reader', ['orders:read']);

  const created = await alpha.POST('/orders', { body: orderBody('2035-01-01T00:00:00Z') });
  t.equal(created.response.status, 201);
  t.match(created.data, { createdBy: 'alpha', updatedBy: 'alpha' });
  const id = created.data!.id;

  const replaced = await beta.PUT('/orders/{orderId}', {
    ...orderPath(id),
    body: orderBody('2035-01-01T01:00:00Z', { totalfee: 7 }),
  });
  t.equal(replaced.response.status, 200);
  t.match(replaced.data, { createdBy: 'alpha', updatedBy: 'beta' });

  const refused = await reader.PUT('/orders/{orderId}', { ...orderPath(id), body: orderBody('2035-01-01T02:00:00Z') });
  t.equal(refused.response.status, 403, 'a key without the scope does not become the last changer');

  const read = await reader.GET('/orders/{orderId}', orderPath(id));
  t.match(read.data, { createdBy: 'alpha', updatedBy: 'beta', totalfee: 7 });
  const listed = await reader.GET('/orders', {
    params: { query: { from: '2035-01-01T00:00:00Z', to: '2035-01-02T00:00:00Z' } },
  });
  t.match(listed.data?.data, [{ id, createdBy: 'alpha', updatedBy: 'beta' }]);
  const row = await main.db
    .selectFrom('orders')
    .select(['created_by', 'updated_by'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  t.same(row, { created_by: 'alpha', updated_by: 'beta' }, 'stored in the database');

  // Read-only fields sent back are ignored: a client cannot claim to be someone else.
  const spoofed = await beta.PUT('/orders/{orderId}', {
    ...orderPath(id),
    body: { ...read.data!, createdBy: 'mallory', updatedBy: 'mallory' },
  });
  t.equal(spoofed.response.status, 200);
  t.match(spoofed.data, { createdBy: 'alpha', updatedBy: 'beta' });
  t.equal((await alpha.DELETE('/orders/{orderId}', orderPath(id))).response.status, 204);
});

t.test('last use is recorded in the background, at most about once a minute per key', async (t) => {
  const fresh = await clientWith(main, 'fresh', ['orders:read']);
  await createApiKey(main.db, 'idle', ['orders:read']);
  t.equal(await lastUsedAt(main.db, 'fresh'), null, 'never used yet');

  for (let i = 0; i < 5; i++) t.equal((await fresh.GET('/orders')).response.status, 200);
  let first: string | null = null;
  for (let waited = 0; waited < 3000 && first === null; waited += 50) {
    await sleep(50);
    first = await lastUsedAt(main.db, 'fresh');
  }
  t.match(first, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, 'last_used_at is set after the first requests');
  const { rows } = await sql<{ now: string }>`SELECT now() AS now`.execute(main.db);
  t.ok(Math.abs(Date.parse(rows[0]!.now) - Date.parse(first!)) < 60_000, 'and it is recent');

  await sleep(20); // any new write would now carry a later timestamp
  for (let i = 0; i < 5; i++) t.equal((await fresh.GET('/orders')).response.status, 200);
  await sleep(500);
  t.same(await lastUsedAt(main.db, 'fresh'), first, 'a second burst within the minute does not write again');
  t.equal(await lastUsedAt(main.db, 'idle'), null, 'an unused key has no last use');
});

/** Runs the keys CLI in its own process, with only the environment given. */
function runKeysCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/keys.ts', ...args], {
      cwd: path.dirname(contractPath),
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * The service on an existing database (opened here, migrated by the CLI), listening; close() stops
 * both (also at teardown, should the test end early).
 */
async function serveOn(
  t: { teardown(fn: () => unknown): void },
  target: DatabaseTarget,
): Promise<{ db: Db; url: string; close: () => Promise<void> }> {
  const { db } = await openDatabase(target);
  const app = await buildApp({ db, http: { rateLimitPerMinute: 0, apiKeyCacheSeconds: 0 } });
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      try {
        await app.close();
      } finally {
        await db.destroy();
      }
    })());
  t.teardown(close);
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { db, url, close };
}

t.test('the keys CLI creates, lists and revokes keys a server on the same database honours', async (t) => {
  let target: DatabaseTarget;
  let env: Record<string, string>;
  if (databaseKind === 'postgres') {
    target = await freshDatabaseTarget(t);
    env = { DATABASE_URL: (target as { url: string }).url };
  } else {
    // A directory of its own: the embedded database is locked per process.
    const dataDir = mkdtempSync(path.join(tmpdir(), 'orders-keys-cli-'));
    t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
    target = { kind: 'pglite', dataDir };
    env = { PGLITE_DATA_DIR: dataDir };
  }
  // PGlite: one process at a time, so the server runs only between CLI calls. Postgres: it keeps running.
  const shared = databaseKind === 'postgres';

  const created = await runKeysCli(['create', '--name', 'billing', '--scopes', 'orders:read,orders:write'], env);
  t.equal(created.code, 0, created.stderr);
  const key = /\b(osk_[A-Za-z0-9_-]{43})\b/.exec(created.stdout)?.[1];
  t.ok(key, 'the key is printed');
  t.match(created.stdout, /billing/);

  const unknownScope = await runKeysCli(['create', '--name', 'other', '--scopes', 'orders:read,orders:delete'], env);
  t.equal(unknownScope.code, 1);
  t.match(unknownScope.stderr, /unknown scope orders:delete/);
  const duplicate = await runKeysCli(['create', '--name', 'billing', '--scopes', 'orders:read'], env);
  t.equal(duplicate.code, 1);
  t.match(duplicate.stderr, /a live key named billing already exists/);
  t.equal(duplicate.stdout.includes('osk_'), false, 'no key printed for a refused create');

  const listed = await runKeysCli(['list'], env);
  t.equal(listed.code, 0, listed.stderr);
  t.match(listed.stdout, /^billing\s+orders:read,orders:write\s/m, 'name and scopes');
  t.notMatch(listed.stdout, /^other\s/m, 'the refused create left no key');
  t.equal(listed.stdout.includes(key!), false, 'list never shows the key');
  t.equal(listed.stdout.includes(hashApiKey(key!)), false, 'nor its hash');

  let server = await serveOn(t, target);
  const stored = await server.db.selectFrom('api_keys').select(['name', 'key_hash', 'scopes', 'revoked_at']).execute();
  t.same(
    stored,
    [{ name: 'billing', key_hash: hashApiKey(key!), scopes: ['orders:read', 'orders:write'], revoked_at: null }],
    'only the hash is stored',
  );
  const billing = typedClient(server.url, key);
  t.equal((await billing.GET('/orders')).response.status, 200, 'the printed key works');
  await seedCatalogue(server.db);
  const order = await billing.POST('/orders', { body: orderBody('2036-01-01T00:00:00Z') });
  t.equal(order.response.status, 201);
  t.equal(order.data?.createdBy, 'billing');
  const catalogueWrite = await billing.POST('/services', { body: { name: 'Calibration' } });
  t.equal(catalogueWrite.response.status, 403, 'with exactly the scopes it was given');

  if (!shared) {
    const locked = await runKeysCli(['list'], env);
    t.not(locked.code, 0, 'the CLI refuses an embedded directory a running server holds');
    t.match(locked.stderr, /in use by process/);
    await server.close();
  }
  const revoked = await runKeysCli(['revoke', 'billing'], env);
  t.equal(revoked.code, 0, revoked.stderr);
  t.match(revoked.stdout, /Revoked key "billing"/);
  const again = await runKeysCli(['revoke', 'billing'], env);
  t.equal(again.code, 1, 'revoking a name with no live key fails');
  t.match(again.stderr, /no live key named "billing"/);
  const afterRevoke = await runKeysCli(['list'], env);
  t.match(
    afterRevoke.stdout,
    /^billing\s+orders:read,orders:write\s+\S+\s+\S+\s+\d{4}-\d{2}-\d{2}T/m,
    'list shows when it was revoked',
  );
  if (!shared) server = await serveOn(t, target);

  const { response: refused } = await typedClient(server.url, key).GET('/orders');
  t.equal(refused.status, 401, 'the revoked key stops working');
  t.equal(refused.headers.get('www-authenticate'), INVALID_TOKEN);
  await server.close();
});

t.test('an API key never appears in the server log', async (t) => {
  for (const level of ['info', 'trace'] as const) {
    const { db } = await freshDatabase(t);
    await seedCatalogue(db);
    const { key } = await createApiKey(db, 'logged', allScopes);
    const { key: readerKey } = await createApiKey(db, 'logged-reader', ['orders:read']);
    const { key: revokedKey } = await createApiKey(db, 'logged-revoked', ['orders:read']);
    await revokeApiKey(db, 'logged-revoked');
    const { key: urlKey } = await createApiKey(db, 'logged-in-url', ['orders:read']);
    const wrongKey = 'osk_' + 'W'.repeat(43);
    let captured = '';
    const app = await buildApp({
      db,
      logger: { level, stream: { write: (line: string) => void (captured += line) } },
      http: { rateLimitPerMinute: 0 },
    });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const client = typedClient(url, key);
    const api = apiClient(url, key);
    const listWith = async (authorization: string) =>
      (await client.GET('/orders', { headers: { authorization } })).response.status;

    t.equal((await client.GET('/orders')).response.status, 200);
    const created = await client.POST('/orders', { body: orderBody('2037-01-01T00:00:00Z') });
    t.equal(created.response.status, 201);
    const id = created.data!.id;
    const idempotent = await client.POST('/orders', {
      params: { header: { 'Idempotency-Key': 'log-test-1' } },
      body: orderBody('2037-02-01T00:00:00Z'),
    });
    t.equal(idempotent.response.status, 201);
    t.equal((await client.GET('/orders/{orderId}', orderPath(id))).response.status, 200);
    t.equal(await listWith(`Bearer ${wrongKey}`), 401);
    t.equal(await listWith(`Bearer ${revokedKey}`), 401);
    t.equal(await listWith(`Basic ${key}`), 401);
    const asReader = await client.POST('/orders', {
      body: orderBody('2037-03-01T00:00:00Z'),
      headers: { authorization: `Bearer ${readerKey}` },
    });
    t.equal(asReader.response.status, 403);
    t.equal(
      (await api.request('POST', '/orders', { raw: '{"datetime":', headers: { 'content-type': 'application/json' } }))
        .status,
      400,
    );
    t.equal((await client.GET('/metrics', { parseAs: 'text' })).response.status, 200);
    // RFC 6750 also lets clients send a bearer token as the access_token query parameter. The
    // service does not accept it there, and must not write it to its log either. (raw: the
    // contract declares no access_token parameter, so the typed client cannot send one.) Without
    // an Authorization header the request is unauthenticated: 401 comes before the 400 that the
    // unknown parameter would earn, so a key in the URL is never even looked at.
    const listInUrl = await api.request('GET', `/orders?access_token=${urlKey}`, { headers: { authorization: null } });
    t.equal(
      listInUrl.status,
      401,
      'a key in the query string does not authenticate a list either (401, not the 400 for an unknown parameter)',
    );
    t.equal(
      listInUrl.headers.get('www-authenticate'),
      'Bearer realm="orders-service"',
      'the challenge of a request without credentials',
    );
    const getInUrl = await api.request('GET', `/orders/${id}?access_token=${urlKey}`, {
      headers: { authorization: null },
    });
    t.equal(getInUrl.status, 401, 'a key in the query string does not authenticate');
    await app.close();

    t.match(captured, /"statusCode":401/, `${level}: the refused request was logged`);
    t.match(captured, /"statusCode":201/, `${level}: the create was logged`);
    for (const [what, secret] of [
      ['the valid key', key],
      ['the wrong key', wrongKey],
      ['the revoked key', revokedKey],
      ['the read-only key', readerKey],
    ] as const) {
      t.equal(captured.includes(secret), false, `${level}: ${what} is not in the log`);
      t.equal(captured.includes(secret.slice(4, 20)), false, `${level}: no part of ${what} is in the log`);
    }
    t.notMatch(captured, /Bearer osk_|authorization":/i, `${level}: no Authorization header in the log`);
    t.equal(captured.includes(urlKey), false, `${level}: a key sent in the URL is not in the log either`);
  }
});
