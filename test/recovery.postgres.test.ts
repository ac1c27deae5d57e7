import { createServer, connect, type Server, type Socket } from 'node:net';
import t from 'tap';
import { buildApp } from '../src/app.js';
import { allScopes } from '../src/auth/keys.js';
import { createApiKey } from '../src/auth/repository.js';
import type { HttpSettings } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { apiClient, freshDatabase, orderBody, seedCatalogue } from './helper.js';

// Runs on the Postgres suite only (make test excludes *.postgres.test.ts from the PGlite run).

/**
 * A TCP relay between the app and Postgres that can be cut and restored: Postgres going away and
 * coming back, as the app sees it, without touching the machine's shared server.
 */
class Relay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private frozen = false;
  /** Bytes held back while frozen, delivered in order on thaw. */
  private held: Array<() => void> = [];
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async up(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
        this.sockets.add(from);
        from.on('close', () => this.sockets.delete(from));
        from.on('error', () => from.destroy());
        from.on('end', () => to.end());
        from.on('data', (chunk) => {
          const deliver = () => void (to.writable && to.write(chunk));
          if (this.frozen) this.held.push(deliver);
          else deliver();
        });
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Connections stay open but nothing gets through: a server that stopped answering. */
  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    this.frozen = false;
    for (const deliver of this.held.splice(0)) deliver();
  }

  async down(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/** The service on a fresh database, reaching Postgres only through a relay the test controls. */
async function serviceBehindRelay(t: Parameters<typeof freshDatabase>[0], http: Partial<HttpSettings>) {
  const { db: setup, target } = await freshDatabase(t);
  if (target.kind !== 'postgres') throw new Error('this test needs the Postgres suite');
  await seedCatalogue(setup);
  const { key } = await createApiKey(setup, 'relayed', allScopes);
  const url = new URL(target.url);
  const relay = new Relay({ host: url.hostname, port: Number(url.port || 5432) });
  await relay.up();
  t.teardown(() => relay.down());
  url.host = `127.0.0.1:${relay.port}`;
  const { db, ping, poolStats } = await openDatabase({ kind: 'postgres', url: url.toString() });
  const app = await buildApp({ db, ping, poolStats, http: { rateLimitPerMinute: 0, ...http } });
  t.teardown(async () => {
    await app.close();
    await db.destroy();
  });
  const api = apiClient(await app.listen({ port: 0, host: '127.0.0.1' }), key);
  return { api, relay, setup, poolStats: poolStats! };
}

t.test('while Postgres is unreachable requests get 503 and /readyz is 503; when it is back the service recovers by itself', async (t) => {
  const { api, relay, setup } = await serviceBehindRelay(t, { apiKeyCacheSeconds: 0 });

  t.equal((await api.post('/orders', orderBody('2050-01-01T00:00:00Z'))).status, 201, 'healthy before');
  t.equal((await api.get('/readyz')).status, 200);

  await relay.down();
  for (const res of [await api.get('/orders'), await api.post('/orders', orderBody('2050-02-01T00:00:00Z')), await api.get('/readyz')]) {
    t.equal(res.status, 503, 'unavailable while Postgres is away');
    t.equal(res.body.type, '/problems/unavailable');
    t.ok(res.headers.get('retry-after'));
  }
  t.equal((await api.get('/healthz')).status, 200, 'the process itself is alive');

  await relay.up();
  t.equal((await api.get('/readyz')).status, 200, 'ready again without a restart');
  const created = await api.post('/orders', orderBody('2050-03-01T00:00:00Z'));
  t.equal(created.status, 201, 'writes work again');
  const stored = await setup.selectFrom('orders').select('datetime').orderBy('datetime').execute();
  t.same(stored.map((o) => o.datetime.toISOString()), ['2050-01-01T00:00:00.000Z', '2050-03-01T00:00:00.000Z'], 'exactly the acknowledged orders are stored');
});

t.test('when Postgres stops answering on open connections, requests end in 503 (not a hang) and readiness probes do not exhaust the pool', async (t) => {
  const { api, relay, poolStats } = await serviceBehindRelay(t, {});
  t.equal((await api.get('/orders')).status, 200, 'warm: the key is verified and cached');

  relay.freeze();
  const probes = await Promise.all(Array.from({ length: 12 }, () => api.get('/readyz')));
  t.same([...new Set(probes.map((p) => p.status))], [503], 'readiness says not ready');
  const stuck = await api.get('/orders');
  t.equal(stuck.status, 503, 'a request on a silent connection ends with 503 (client-side query timeout)');
  t.equal(stuck.body.type, '/problems/unavailable');

  relay.thaw();
  t.equal((await api.get('/readyz')).status, 200, 'ready again once Postgres answers');
  t.equal((await api.post('/orders', orderBody('2051-01-01T00:00:00Z'))).status, 201, 'and the pool still has connections to work with');
  const pool = poolStats();
  t.ok(pool.total <= 10 && pool.waiting === 0, `pool not exhausted: ${JSON.stringify(pool)}`);
});
