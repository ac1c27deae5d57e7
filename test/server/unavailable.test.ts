import t from 'tap';
import { buildApp } from '../../src/app.js';
import { openDatabase } from '../../src/db/database.js';
import { typedClient } from '../helpers/http.js';
import { closedPort } from '../helpers/net.js';

t.test('when Postgres is unreachable, requests fail fast with a 503 problem and Retry-After, not a 500', async (t) => {
  const { db } = await openDatabase({
    kind: 'postgres',
    url: `postgres://postgres@127.0.0.1:${await closedPort()}/orders`,
  });
  const app = await buildApp({ db });
  t.teardown(async () => {
    await app.close();
    await db.destroy();
  });
  // Any key: verifying it needs the database, so even authentication answers 503.
  const client = typedClient(await app.listen({ port: 0, host: '127.0.0.1' }), 'osk_any');

  for (const { error, response } of [
    await client.GET('/orders'),
    await client.GET('/orders/{orderId}', { params: { path: { orderId: '1' } } }),
    await client.POST('/orders', { body: { datetime: '2030-01-01T00:00:00Z', totalfee: 1, services: [{ id: 1 }] } }),
  ]) {
    t.equal(response.status, 503);
    t.match(error, {
      type: '/problems/unavailable',
      status: 503,
      detail: 'The database is unavailable; retry shortly.',
    });
    t.equal(response.headers.get('retry-after'), '5');
    t.notMatch(JSON.stringify(error), /ECONNREFUSED|127\.0\.0\.1/, 'no driver text');
  }
});
