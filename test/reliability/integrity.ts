import { sql } from 'kysely';
import type { Db } from '../../src/db/database.js';

/** What tap's `t` offers that this check uses. */
interface Assertions {
  same(found: unknown, wanted: unknown, message: string): unknown;
}

/** The promise every fault test checks: no order without its services, no link without its order. */
export async function assertNoPartialOrders(t: Assertions, db: Db): Promise<void> {
  const { rows: orphans } = await sql<{ id: string }>`
    SELECT o.id::text AS id FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_services os WHERE os.order_id = o.id)`.execute(
    db,
  );
  t.same(orphans, [], 'no order without its services');
  const { rows: dangling } = await sql<{ order_id: string }>`
    SELECT os.order_id::text AS order_id FROM order_services os LEFT JOIN orders o ON o.id = os.order_id WHERE o.id IS NULL`.execute(
    db,
  );
  t.same(dangling, [], 'no order_services row without its order');
}
