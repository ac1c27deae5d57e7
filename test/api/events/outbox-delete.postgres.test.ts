import pg from 'pg';
import t from 'tap';
import { storedEvents } from '../../helpers/events.js';
import { orderBody, seedCatalogue } from '../../helpers/fixtures.js';
import { startService } from '../../helpers/service.js';

// Postgres run only: a second session holds a change to the order while the DELETE waits for it.

const { client, db, target } = await startService(t);
if (target.kind !== 'postgres') throw new Error('this file runs on the Postgres server only');
await seedCatalogue(db);

async function createOrder(services = [{ id: 123 }]) {
  const { data, response } = await client.POST('/orders', {
    body: orderBody('2032-06-01T09:00:00.000Z', { services }),
  });
  if (response.status !== 201 || !data) throw new Error(`could not create an order: ${response.status}`);
  return { order: data };
}

t.test(
  'a DELETE that waits for a concurrent change records the order as it was when deleted, not as it was seen first',
  async (t) => {
    const { order } = await createOrder([{ id: 123 }]);
    const other = new pg.Client({ connectionString: target.url });
    await other.connect();
    t.teardown(() => other.end());
    // A change in flight holds the row; the DELETE's statement takes its snapshot, then waits.
    await other.query('BEGIN');
    await other.query(
      `UPDATE orders SET totalfee = 77, version = version + 1, updated_at = now() WHERE id = $1::bigint`,
      [order.id],
    );
    await other.query(`DELETE FROM order_services WHERE order_id = $1::bigint`, [order.id]);
    await other.query(`INSERT INTO order_services (order_id, service_id) VALUES ($1::bigint, 456)`, [order.id]);
    const deleting = client.DELETE('/orders/{orderId}', { params: { path: { orderId: order.id } } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { rows } = await other.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`,
    );
    t.equal(Number(rows[0]!.n), 1, 'the DELETE is waiting for the row');
    const changed = await other.query<{ updated_at: string }>(
      `SELECT to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS updated_at FROM orders WHERE id = $1::bigint`,
      [order.id],
    );
    await other.query('COMMIT');
    t.equal((await deleting).response.status, 204);
    const deleted = (await storedEvents(db)).filter((e) => e.subjectId === order.id && e.type === 'order.deleted');
    t.same(
      deleted.map((e) => e.data),
      [{ ...order, totalfee: 77, services: [{ id: 456, name: 'Analysis' }], updatedAt: changed.rows[0]!.updated_at }],
      'one order.deleted, with the fee and services of the committed change',
    );
  },
);
