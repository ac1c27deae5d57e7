import type { Db } from '../db/database.js';
import { isTransientConflict } from '../db/errors.js';
import { withSavepoint } from '../db/savepoint.js';
import type { Executor } from '../db/schema.js';
import type { IdempotentRequest, KeyedOutcome } from '../idempotency/model.js';
import { onceForKey } from '../idempotency/use-cases.js';
import {
  DuplicateServiceError,
  ServiceInUseError,
  ServiceNotFoundError,
  type Service,
  type ServiceDraft,
} from './model.js';
import {
  deleteService as deleteServiceRow,
  duplicatedColumn,
  findServiceById,
  insertService,
  isServiceInUseViolation,
  listServices,
  renameService as renameServiceRow,
} from './queries.js';

/** The catalogue's use cases. Each write is one statement (its event included), so its own transaction. */

/** Up to `query.limit` services after `query.afterId`, by id. */
export function listServicePage(db: Executor, query: { limit: number; afterId?: number }): Promise<Service[]> {
  return listServices(db, query);
}

export async function getService(db: Executor, id: number): Promise<Service> {
  const service = await findServiceById(db, id);
  if (!service) throw new ServiceNotFoundError(id);
  return service;
}

export function createService(db: Db, service: ServiceDraft, actor: string): Promise<Service> {
  return insertNamingDuplicates(db, service, actor);
}

/** The same, at most once per Idempotency-Key: the service and the key's record commit together. */
export function createServiceOnce(
  db: Db,
  service: ServiceDraft,
  actor: string,
  request: IdempotentRequest<Service>,
): Promise<KeyedOutcome<Service>> {
  return onceForKey(db, request, (trx) => insertNamingDuplicates(trx, service, actor));
}

async function insertNamingDuplicates(db: Executor, service: ServiceDraft, actor: string): Promise<Service> {
  try {
    // A savepoint inside a transaction, so a refusal leaves the transaction usable.
    return await withSavepoint(db, () => insertService(db, service, actor));
  } catch (error) {
    throw duplicateFrom(error, service) ?? error;
  }
}

/**
 * A rename locks the service row, then bumps each order that includes it; a replace of one of
 * those orders holds its row, then needs the service row for its links: either can be Postgres'
 * deadlock victim. The rename is one statement, so the victim is simply run again.
 */
const MAX_RENAME_ATTEMPTS = 3;

/** Renames a service; the orders that include it show the new name from now on. */
export async function renameService(db: Db, id: number, name: string, actor: string): Promise<Service> {
  let renamed: Service | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      renamed = await renameServiceRow(db, id, name, actor);
      break;
    } catch (error) {
      if (isTransientConflict(error) && attempt < MAX_RENAME_ATTEMPTS) {
        // Victims that retry in lockstep collide again: a short random pause spreads them.
        await new Promise((resolve) => setTimeout(resolve, attempt * (5 + Math.random() * 20)));
        continue;
      }
      throw duplicateFrom(error, { name }) ?? error;
    }
  }
  if (!renamed) throw new ServiceNotFoundError(id);
  return renamed;
}

/** Removes a service; refused while an order includes it. */
export async function deleteService(db: Db, id: number, actor: string): Promise<void> {
  let deleted: boolean;
  try {
    deleted = await deleteServiceRow(db, id, actor);
  } catch (error) {
    if (isServiceInUseViolation(error)) throw new ServiceInUseError(id);
    throw error;
  }
  if (!deleted) throw new ServiceNotFoundError(id);
}

function duplicateFrom(error: unknown, service: ServiceDraft): DuplicateServiceError | undefined {
  const column = duplicatedColumn(error);
  if (column === 'name') return new DuplicateServiceError('name', service.name);
  if (column === 'id' && service.id !== undefined) return new DuplicateServiceError('id', service.id);
  return undefined;
}
