import type { operations } from '../../generated/api.js';
import type { Db } from '../db/database.js';
import type { CursorCodec } from '../http/cursor.js';
import { idempotently } from '../http/idempotency.js';
import { invalidRequest, notFound } from '../http/problem.js';
import type { OperationHandler } from '../http/operations.js';
import { createService, deleteService, findServiceById, listServices, renameService } from './repository.js';

export interface ServiceCatalogueHandlers {
  listServices: OperationHandler<operations['listServices']>;
  createService: OperationHandler<operations['createService']>;
  getService: OperationHandler<operations['getService']>;
  replaceService: OperationHandler<operations['replaceService']>;
  deleteService: OperationHandler<operations['deleteService']>;
}

const noSuchService = (id: number) => notFound(`There is no service ${id}.`);

function serviceIdAfter(cursors: CursorCodec, cursor: string): Promise<number> {
  return cursors.decode(cursor, (key) => {
    const [id, ...rest] = key;
    return rest.length === 0 && Number.isSafeInteger(id) && (id as number) > 0 ? (id as number) : undefined;
  });
}

/** Names are compared and stored without surrounding whitespace. */
function serviceName(name: string): string {
  return name.trim();
}

export function serviceHandlers(db: Db, cursors: CursorCodec): ServiceCatalogueHandlers {
  return {
    async listServices(request) {
      const { limit = 50, cursor } = request.query;
      const afterId = cursor === undefined ? undefined : await serviceIdAfter(cursors, cursor);
      const rows = await listServices(db, { limit: limit + 1, afterId });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { data: page, nextCursor: rows.length > limit && last ? await cursors.encode([last.id]) : null };
    },

    async createService(request, reply) {
      // The contract keeps chosen ids below 1000000, where generated ids start (see the migration).
      const service = { id: request.body.id, name: serviceName(request.body.name) };
      return idempotently(db, request, reply, service, async (executor) => {
        const created = await createService(executor, service);
        return { statusCode: 201, headers: { location: `/services/${created.id}` }, body: created };
      });
    },

    async getService(request) {
      const service = await findServiceById(db, request.params.serviceId);
      if (!service) throw noSuchService(request.params.serviceId);
      return service;
    },

    async replaceService(request) {
      const { serviceId } = request.params;
      const { id, name } = request.body;
      if (id !== undefined && id !== serviceId) {
        throw invalidRequest([{ path: '/body/id', message: `must equal the service id in the path (${serviceId}) or be left out` }]);
      }
      const service = await renameService(db, serviceId, serviceName(name));
      if (!service) throw noSuchService(serviceId);
      return service;
    },

    async deleteService(request, reply) {
      if (!(await deleteService(db, request.params.serviceId))) throw noSuchService(request.params.serviceId);
      reply.code(204);
      return undefined;
    },
  };
}
