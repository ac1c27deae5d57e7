import { createServer, connect, type Server, type Socket } from 'node:net';
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { allScopes } from '../../src/keys/model.js';
import { createApiKey } from '../../src/keys/use-cases.js';
import type { OrdersClient } from '../../src/client.js';
import type { HttpSettings } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { freshDatabase } from '../helpers/database.js';
import { orderBody, seedCatalogue } from '../helpers/fixtures.js';
import { typedClient } from '../helpers/http.js';

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
      for (const [from, to] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
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
  const client = typedClient(await app.listen({ port: 0, host: '127.0.0.1' }), key);
  return { client, relay, setup, poolStats: poolStats! };
}

/**
 * /readyz until it answers `status` or `ms` pass; the last answer. A readiness answer is reused for
 * a second (src/health/readiness.ts), so a change shows within about that, not on the next probe.
 */
async function readinessWithin(client: OrdersClient, ms: number, status: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    const answer = await client.GET('/readyz');
    if (answer.response.status === status || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

t.test(
  'while Postgres is unreachable requests get 503 and /readyz is 503; when it is back the service recovers by itself',
  async (t) => {
    const { client, relay, setup } = await serviceBehindRelay(t, { apiKeyCacheSeconds: 0 });
    const createAt = (datetime: string) => client.POST('/orders', { body: orderBody(datetime) });

    t.equal((await createAt('2050-01-01T00:00:00Z')).response.status, 201, 'healthy before');
    t.equal((await client.GET('/readyz')).response.status, 200);

    await relay.down();
    for (const { error, response } of [
      await client.GET('/orders'),
      await createAt('2050-02-01T00:00:00Z'),
      await readinessWithin(client, 3_000, 503),
    ]) {
      t.equal(response.status, 503, 'unavailable while Postgres is away');
      t.equal(error?.type, '/problems/unavailable');
      t.ok(response.headers.get('retry-after'));
    }
    t.equal((await client.GET('/healthz')).response.status, 200, 'the process itself is alive');

    await relay.up();
    t.equal((await readinessWithin(client, 3_000, 200)).response.status, 200, 'ready again without a restart');
    const created = await createAt('2050-03-01T00:00:00Z');
    t.equal(created.response.status, 201, 'writes work again');
    const stored = await setup.selectFrom('orders').select('datetime').orderBy('datetime').execute();
    t.same(
      stored.map((o) => o.datetime),
      ['2050-01-01T00:00:00.000Z', '2050-03-01T00:00:00.000Z'],
      'exactly the acknowledged orders are stored',
    );
  },
);

t.test(
  'when Postgres stops answering on open connections, requests end in 503 (not a hang) and readiness probes do not exhaust the pool',
  async (t) => {
    const { client, relay, poolStats } = await serviceBehindRelay(t, {});
    t.equal((await client.GET('/orders')).response.status, 200, 'warm: the key is verified and cached');

    relay.freeze();
    const probes = await Promise.all(Array.from({ length: 12 }, () => client.GET('/readyz')));
    t.same([...new Set(probes.map((p) => p.response.status))], [503], 'readiness says not ready');
    const stuck = await client.GET('/orders');
    t.equal(stuck.response.status, 503, 'a request on a silent connection ends with 503 (client-side query timeout)');
    t.equal(stuck.error?.type, '/problems/unavailable');

    relay.thaw();
    t.equal((await readinessWithin(client, 3_000, 200)).response.status, 200, 'ready again once Postgres answers');
    t.equal(
      (await client.POST('/orders', { body: orderBody('2051-01-01T00:00:00Z') })).response.status,
      201,
      'and the pool still has connections to work with',
    );
    const pool = poolStats();
    t.ok(pool.total <= 10 && pool.waiting === 0, `pool not exhausted: ${JSON.stringify(pool)}`);
  },
);
