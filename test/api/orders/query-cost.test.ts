import type { KyselyPlugin } from 'kysely';
import t from 'tap';
import { buildApp } from '../../../src/app.js';
import { allScopes } from '../../../src/keys/model.js';
import { createApiKey } from '../../../src/keys/use-cases.js';
import type { operations } from '../../../src/client.js';
import { freshDatabase } from '../../helpers/database.js';
import { seedCatalogue } from '../../helpers/fixtures.js';
import { typedClient } from '../../helpers/http.js';

type ListQuery = NonNullable<operations['listOrders']['parameters']['query']>;

/**
 * Counts every statement the app runs (and gets a result for), by wrapping the app's Kysely
 * instance in a plugin. Counted on results, not on compilation: hot queries are compiled once
 * per process (src/db/query-template.ts) and then executed again and again.
 */
function statementCounter(): KyselyPlugin & { count: number } {
  return {
    count: 0,
    transformQuery(args) {
      return args.node;
    },
    async transformResult(args) {
      this.count++;
      return args.result;
    },
  };
}

t.test('a list page costs one statement whatever its size; a create one, refused or not; a replace two', async (t) => {
  const { db } = await freshDatabase(t);
  await seedCatalogue(db);
  const { key } = await createApiKey(db, 'cost', allScopes);
  const counter = statementCounter();
  const app = await buildApp({ db: db.withPlugin(counter) });
  t.teardown(() => app.close());
  const client = typedClient(await app.listen({ port: 0, host: '127.0.0.1' }), key);
  await client.GET('/orders', { params: { query: { limit: 1 } } }); // the verified key is cached from now on; keep its lookup out of the counts

  const start = Date.parse('2035-01-01T00:00:00Z');
  for (let i = 0; i < 100; i++) {
    const { response } = await client.POST('/orders', {
      body: {
        datetime: new Date(start + i * 3 * 3600_000).toISOString(),
        totalfee: i,
        services: [{ id: 123 }, { id: 456 }],
      },
    });
    t.equal(response.status, 201);
  }
  await client.GET('/orders', { params: { query: { limit: 1 } } }); // the cursor key is read once per process; keep it out of the count

  const cost = async (label: string, query: ListQuery, expectedItems: number) => {
    counter.count = 0;
    const { data } = await client.GET('/orders', { params: { query } });
    t.equal(data?.data.length, expectedItems, label);
    return counter.count;
  };
  const small = await cost('/orders?limit=1', { limit: 1 }, 1);
  const large = await cost('/orders?limit=100', { limit: 100 }, 100);
  const filtered = await cost(
    '/orders?limit=100&serviceId=456&from=2035-01-01T00:00:00Z',
    { limit: 100, serviceId: 456, from: '2035-01-01T00:00:00Z' },
    100,
  );
  t.equal(small, 1, 'one statement for a page of 1');
  t.equal(large, 1, 'one statement for a page of 100 (services aggregated in SQL)');
  t.equal(filtered, 1, 'one statement with filters');

  counter.count = 0;
  const created = await client.POST('/orders', {
    body: { datetime: '2040-01-01T00:00:00Z', totalfee: 1, services: [{ id: 123 }, { id: 456 }, { id: 789 }] },
  });
  t.equal(created.response.status, 201);
  t.equal(
    counter.count,
    1,
    'a create is one statement: queue for the window, insert the order and its links, return the order',
  );

  counter.count = 0;
  const refused = await client.POST('/orders', {
    body: { datetime: '2040-01-01T02:59:59Z', totalfee: 1, services: [{ id: 123 }] },
  });
  t.equal(refused.response.status, 409);
  t.equal(refused.error?.conflictingOrderId, created.data!.id, 'the 409 names the order in the way');
  t.equal(
    counter.count,
    1,
    'a refused create is one statement too: the constraint refuses the row and the same statement names the order in the way',
  );

  counter.count = 0;
  const replaced = await client.PUT('/orders/{orderId}', {
    params: { path: { orderId: created.data!.id } },
    body: { datetime: '2040-01-01T01:00:00Z', totalfee: 2, services: [{ id: 789 }] },
  });
  t.equal(replaced.response.status, 200);
  t.equal(counter.count, 2, 'a replace is two statements: lock the order and queue for the window, then one write');
});
