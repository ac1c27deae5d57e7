import { sql } from 'kysely';
import { SqlState, isConstraintViolation } from '../db/errors.js';
import { appendEvents, type EventType } from '../db/outbox.js';
import type { Executor } from '../db/schema.js';
import type { Service, ServiceDraft } from './model.js';

/** Every SQL statement of the catalogue. Each accepts the database or an open transaction. */

const SERVICE_REFERENCE = 'order_services_service_id_fkey';

/** Which unique column a violation is about, if it is one of the catalogue's. */
export function duplicatedColumn(error: unknown): 'id' | 'name' | undefined {
  if (isConstraintViolation(error, SqlState.uniqueViolation, 'services_name_key')) return 'name';
  if (isConstraintViolation(error, SqlState.uniqueViolation, 'services_pkey')) return 'id';
  return undefined;
}

/** A delete refused because an order still links to the service. */
export function isServiceInUseViolation(error: unknown): boolean {
  return [SqlState.foreignKeyViolation, SqlState.restrictViolation].some((state) =>
    isConstraintViolation(error, state, SERVICE_REFERENCE),
  );
}

export async function listServices(db: Executor, query: { limit: number; afterId?: number }): Promise<Service[]> {
  let q = db.selectFrom('services').select(['id', 'name']).orderBy('id').limit(query.limit);
  if (query.afterId !== undefined) q = q.where('id', '>', query.afterId);
  return q.execute();
}

export async function findServiceById(db: Executor, id: number): Promise<Service | undefined> {
  return db.selectFrom('services').select(['id', 'name']).where('id', '=', id).executeTakeFirst();
}

/** The one event of a catalogue write, from the CTE `row` of the service written (id, name). */
function serviceEvent(type: EventType, row: string, actor: string) {
  const ref = sql.ref(row);
  return appendEvents(ref, {
    type,
    actor,
    subjectType: 'service',
    subjectId: sql`${ref}.id::text`,
    data: sql`jsonb_build_object('id', ${ref}.id, 'name', ${ref}.name)`,
  });
}

/** Adds a service and records its event, in one statement. */
export async function insertService(db: Executor, service: ServiceDraft, actor: string): Promise<Service> {
  const columns =
    service.id === undefined
      ? sql`(name) VALUES (${service.name})`
      : sql`(id, name) VALUES (${service.id}, ${service.name})`;
  const { rows } = await sql<Service>`
    WITH created AS (
      INSERT INTO services ${columns}
      RETURNING id, name
    ), recorded AS (${serviceEvent('service.created', 'created', actor)})
    SELECT id, name FROM created`.execute(db);
  return rows[0]!;
}

/**
 * Renames a service; undefined when there is no such service. Orders that include it show the new
 * name, so their versions (and ETags) move on too, in the same statement. One event, for the
 * service: the orders' events describe changes made to orders.
 */
export async function renameService(
  db: Executor,
  id: number,
  name: string,
  actor: string,
): Promise<Service | undefined> {
  const { rows } = await sql<Service>`
    WITH renamed AS (
      UPDATE services SET name = ${name}, updated_at = now() WHERE id = ${id} RETURNING id, name
    ), bumped AS (
      UPDATE orders SET version = version + 1
      WHERE id IN (SELECT order_id FROM order_services WHERE service_id IN (SELECT id FROM renamed))
    ), recorded AS (${serviceEvent('service.replaced', 'renamed', actor)})
    SELECT id, name FROM renamed`.execute(db);
  return rows[0];
}

/** Removes a service and records its event; false when there was none. */
export async function deleteService(db: Executor, id: number, actor: string): Promise<boolean> {
  const { rows } = await sql<{ id: number }>`
    WITH deleted AS (DELETE FROM services WHERE id = ${id} RETURNING id, name),
    recorded AS (${serviceEvent('service.deleted', 'deleted', actor)})
    SELECT id FROM deleted`.execute(db);
  return rows.length > 0;
}
