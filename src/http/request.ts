import type { FastifyRequest } from 'fastify';

/** The request's path, without its query: what a problem's `instance` and a 404 name. */
export function pathOf(request: { url: string }): string {
  const query = request.url.indexOf('?');
  return query === -1 ? request.url : request.url.slice(0, query);
}

/** The contract's operationId of the route a request matched, if it matched one of the contract's. */
export function operationIdOf(request: FastifyRequest): string | undefined {
  return (request.routeOptions.schema as { operationId?: string } | undefined)?.operationId;
}
