import { sql } from 'kysely';
import type { Db } from './database.js';
import type { Executor } from './schema.js';
import { isoInstantSql } from './outbox.js';

/** The brief's sample catalogue. */
export const sampleServices = [
  { id: 123, name: 'Inspection' },
  { id: 789, name: 'Testing' },
  { id: 456, name: 'Analysis' },
] as const;

/**
 * The brief's sample orders. The brief gives all three the same datetime, which the 3-hour rule
 * forbids, so they are spread 3 hours apart.
 */
export const sampleOrders = [
  { id: '223', datetime: '2022-11-01T11:11:11.111Z', totalfee: '100', serviceId: 123 },
  { id: '224', datetime: '2022-11-01T14:11:11.111Z', totalfee: '100', serviceId: 789 },
  { id: '225', datetime: '2022-11-01T17:11:11.111Z', totalfee: '100', serviceId: 456 },
] as const;

/**
 * Loads the sample data. Idempotent: rows that exist (or whose slot is taken) are left alone.
 * Ids are below the identity sequences' start (1000), so later orders never collide with them.
 */
export async function seedSampleData(db: Db): Promise<{ services: number; orders: number }> {
  return db.transaction().execute(async (trx) => {
    const services = await trx
      .insertInto('services')
      .values(sampleServices.map((s) => ({ id: s.id, name: s.name })))
      .onConflict((oc) => oc.doNothing())
      .returning('id')
      .execute();
    // Seeded data is written like any other: each row with its creation event (no actor).
    await sql`
      INSERT INTO events (type, actor, subject_type, subject_id, data)
      SELECT 'service.created', NULL, 'service', s.id::text, jsonb_build_object('id', s.id, 'name', s.name)
      FROM services s WHERE s.id = ANY(${services.map((s) => s.id)}::integer[]) ORDER BY s.id`.execute(trx);
    let orders = 0;
    for (const order of sampleOrders) {
      // ON CONFLICT DO NOTHING without a target also yields to the exclusion constraint, so a
      // database that already has an order in the sample's slot keeps it.
      const inserted = await sql<{ id: string }>`
        WITH inserted AS (
          INSERT INTO orders (id, datetime, totalfee)
          SELECT ${order.id}::bigint, ${order.datetime}::timestamptz, ${order.totalfee}::numeric
          -- never an order without its service (the catalogue may lack it if a name was taken)
          WHERE EXISTS (SELECT 1 FROM services WHERE id = ${order.serviceId}::integer)
          ON CONFLICT DO NOTHING
          RETURNING id
        ), linked AS (
          INSERT INTO order_services (order_id, service_id)
          SELECT inserted.id, ${order.serviceId}::integer FROM inserted
          RETURNING order_id
        )
        SELECT order_id::text AS id FROM linked`.execute(trx);
      if (inserted.rows.length > 0) await recordSeededOrder(trx, order.id);
      orders += inserted.rows.length;
    }
    return { services: services.length, orders };
  });
}

/** The creation event of a seeded order (no actor), with the order as the API shows it. */
async function recordSeededOrder(trx: Executor, id: string): Promise<void> {
  await sql`
    INSERT INTO events (type, actor, subject_type, subject_id, data)
    SELECT 'order.created', NULL, 'order', o.id::text, jsonb_build_object(
      'id', o.id::text, 'datetime', ${isoInstantSql(sql`o.datetime`)}, 'totalfee', o.totalfee,
      'services', (
        SELECT coalesce(jsonb_agg(jsonb_build_object('id', s.id, 'name', s.name) ORDER BY s.id), '[]')
        FROM order_services os JOIN services s ON s.id = os.service_id WHERE os.order_id = o.id
      ),
      'createdAt', ${isoInstantSql(sql`o.created_at`)}, 'updatedAt', ${isoInstantSql(sql`o.updated_at`)},
      'createdBy', o.created_by, 'updatedBy', o.updated_by)
    FROM orders o WHERE o.id = ${id}::bigint`.execute(trx);
}
