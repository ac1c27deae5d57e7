import type { Db } from '../db/database.js';
import type { CursorCodec } from '../http/cursor.js';
import type { OperationHandlers } from '../http/operation-handler.js';
import { pageOf } from '../http/paging.js';
import { ProblemError, bodyIdMismatch, invalidRequest, notFound } from '../http/problem.js';
import { idempotentRequestOf, respond, respondOnce } from '../idempotency/http.js';
import type { StoredResponse } from '../idempotency/model.js';
import { DuplicateServiceError, ServiceInUseError, ServiceNotFoundError, serviceName, type Service } from './model.js';
import * as catalogue from './use-cases.js';

export type CatalogueOperations = OperationHandlers<
  'listServices' | 'createService' | 'getService' | 'replaceService' | 'deleteService'
>;

/** The catalogue's refusals as problems. */
export function catalogueProblem(error: unknown): ProblemError | undefined {
  if (error instanceof ServiceNotFoundError) return notFound(`There is no service ${error.serviceId}.`);
  if (error instanceof DuplicateServiceError) {
    return new ProblemError('conflict', `A service with ${error.field} ${JSON.stringify(error.value)} already exists.`);
  }
  if (error instanceof ServiceInUseError) {
    return new ProblemError(
      'conflict',
      `Service ${error.serviceId} is included in at least one order; remove it from those orders first.`,
    );
  }
  return undefined;
}

/** The API key's name, recorded as the actor of the change's event. */
function actor(request: { caller: { name: string } | null }): string {
  if (!request.caller) throw new Error('the catalogue was written without a verified caller');
  return request.caller.name;
}

function created(service: Service): StoredResponse {
  return { statusCode: 201, headers: { location: `/services/${service.id}` }, body: service };
}

export function catalogueRoutes(db: Db, cursors: CursorCodec): CatalogueOperations {
  return {
    async listServices(request) {
      const { limit = 50, cursor } = request.query;
      const afterId = cursor === undefined ? undefined : await serviceIdAfter(cursors, cursor);
      const rows = await catalogue.listServicePage(db, { limit: limit + 1, afterId });
      return pageOf(
        rows,
        limit,
        cursors,
        (service) => [service.id],
        (service) => service,
      );
    },

    async createService(request, reply) {
      // The contract keeps chosen ids below 1000000, where generated ids start (see the migration).
      const service = { id: request.body.id, name: serviceName(request.body.name) };
      const keyed = idempotentRequestOf(request, service, created, catalogueProblem);
      if (!keyed) return respond(reply, created(await catalogue.createService(db, service, actor(request))));
      return respondOnce(reply, await catalogue.createServiceOnce(db, service, actor(request), keyed));
    },

    async getService(request) {
      return catalogue.getService(db, request.params.serviceId);
    },

    async replaceService(request) {
      const { serviceId } = request.params;
      const { id, name } = request.body;
      if (id !== undefined && id !== serviceId) throw invalidRequest([bodyIdMismatch('service', serviceId)]);
      return catalogue.renameService(db, serviceId, serviceName(name), actor(request));
    },

    async deleteService(request, reply) {
      await catalogue.deleteService(db, request.params.serviceId, actor(request));
      reply.code(204);
      return undefined;
    },
  };
}

/** A list cursor's position: the id of the last service on the page before. */
function serviceIdAfter(cursors: CursorCodec, cursor: string): Promise<number> {
  return cursors.decode(cursor, (key) => {
    const [id, ...rest] = key;
    return rest.length === 0 && Number.isSafeInteger(id) && (id as number) > 0 ? (id as number) : undefined;
  });
}
