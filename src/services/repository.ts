import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { SqlState, isConstraintViolation } from '../db/errors.js';
import { guardedWrite } from '../db/savepoint.js';
import { Refusal } from '../refusal.js';

type Executor = Kysely<Database> | Transaction<Database>;

export interface ServiceRecord {
  id: number;
  name: string;
}

export class DuplicateServiceError extends Refusal {
  constructor(
    readonly field: 'id' | 'name',
    readonly value: string | number,
  ) {
    super(`a service with ${field} ${JSON.stringify(value)} already exists`);
  }
}

export class ServiceInUseError extends Refusal {
  constructor(readonly serviceId: number) {
    super(`service ${serviceId} is used by at least one order`);
  }
}

function duplicateFrom(error: unknown, service: { id?: number; name: string }): DuplicateServiceError | undefined {
  if (isConstraintViolation(error, SqlState.uniqueViolation, 'services_name_key')) {
    return new DuplicateServiceError('name', service.name);
  }
  if (isConstraintViolation(error, SqlState.uniqueViolation, 'services_pkey') && service.id !== undefined) {
    return new DuplicateServiceError('id', service.id);
  }
  return undefined;
}

export async function listServices(db: Executor, query: { limit: number; afterId?: number }): Promise<ServiceRecord[]> {
  let q = db.selectFrom('services').select(['id', 'name']).orderBy('id').limit(query.limit);
  if (query.afterId !== undefined) q = q.where('id', '>', query.afterId);
  return q.execute();
}

export async function findServiceById(db: Executor, id: number): Promise<ServiceRecord | undefined> {
  return db.selectFrom('services').select(['id', 'name']).where('id', '=', id).executeTakeFirst();
}

/** Adds a service, with the caller's id or a generated one. */
export async function createService(db: Executor, service: { id?: number; name: string }): Promise<ServiceRecord> {
  try {
    return await guardedWrite(db, () =>
      db
        .insertInto('services')
        .values(service.id === undefined ? { name: service.name } : { id: service.id, name: service.name })
        .returning(['id', 'name'])
        .executeTakeFirstOrThrow(),
    );
  } catch (error) {
    throw duplicateFrom(error, service) ?? error;
  }
}

/**
 * Renames a service; undefined when there is no such service. Orders that include it show the new
 * name, so their versions (and ETags) move on too, in the same statement.
 */
export async function renameService(db: Executor, id: number, name: string): Promise<ServiceRecord | undefined> {
  try {
    const { rows } = await sql<ServiceRecord>`
      WITH renamed AS (
        UPDATE services SET name = ${name}, updated_at = now() WHERE id = ${id} RETURNING id, name
      ), bumped AS (
        UPDATE orders SET version = version + 1
        WHERE id IN (SELECT order_id FROM order_services WHERE service_id IN (SELECT id FROM renamed))
      )
      SELECT id, name FROM renamed`.execute(db);
    return rows[0];
  } catch (error) {
    throw duplicateFrom(error, { name }) ?? error;
  }
}

/** Removes a service; false when there was none. Refused while an order includes it. */
export async function deleteService(db: Executor, id: number): Promise<boolean> {
  try {
    const deleted = await db.deleteFrom('services').where('id', '=', id).returning('id').executeTakeFirst();
    return deleted !== undefined;
  } catch (error) {
    const restricted = [SqlState.foreignKeyViolation, SqlState.restrictViolation].some((state) =>
      isConstraintViolation(error, state, 'order_services_service_id_fkey'),
    );
    if (restricted) {
      throw new ServiceInUseError(id);
    }
    throw error;
  }
}
