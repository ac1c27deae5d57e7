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

t.test(
  'a list page costs one statement whatever its size; a create one, two refused; a replace two; availability one',
  async (t) => {
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
    t.equal(refused.error?.nearestFreeAfter, '2040-01-01T03:00:00.000Z', 'and the nearest free time after it');
    t.equal(
      counter.count,
      2,
      'a refused create is two statements: the constraint refuses the row and the same statement names the order ' +
        'in the way; one more finds the nearest free times',
    );

    counter.count = 0;
    const replaced = await client.PUT('/orders/{orderId}', {
      params: { path: { orderId: created.data!.id } },
      body: { datetime: '2040-01-01T01:00:00Z', totalfee: 2, services: [{ id: 789 }] },
    });
    t.equal(replaced.response.status, 200);
    t.equal(counter.count, 2, 'a replace is two statements: lock the order and queue for the window, then one write');

    counter.count = 0;
    const windows = await client.GET('/availability', {
      params: { query: { from: '2035-01-01T00:00:00Z', to: '2035-01-31T00:00:00Z', excludeOrderId: created.data!.id } },
    });
    t.equal(windows.response.status, 200);
    t.equal(counter.count, 1, 'availability over 30 days is one statement, the excluded order checked in it');

    counter.count = 0;
    const nearest = await client.GET('/availability/nearest', {
      params: { query: { at: '2035-01-05T00:00:00Z', excludeOrderId: created.data!.id } },
    });
    t.equal(nearest.data?.after, '2035-01-13T12:00:00.000Z', 'nearest walks the 100 orders 3 hours apart to their end');
    t.equal(counter.count, 1, 'nearest is one statement, the excluded order checked in it');
  },
);
