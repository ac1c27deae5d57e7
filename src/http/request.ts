import type { FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The operationId of the route the request matched, noted once by the request gate (null: not
     * one of the contract's); undefined where the gate did not run (an error before routing).
     */
    operationId: string | null | undefined;
  }
}

/** The request's path, without its query: what a problem's `instance` and a 404 name. */
export function pathOf(request: { url: string }): string {
  const query = request.url.indexOf('?');
  return query === -1 ? request.url : request.url.slice(0, query);
}

const operationIdIn = (schema: unknown) => (schema as { operationId?: string } | undefined)?.operationId;

/**
 * Notes the matched route's operationId on the request and answers its URL pattern. Fastify builds
 * `request.routeOptions` afresh, an object of twelve members, on every read: the gate reads it
 * once, and the request log and the metrics take the operationId noted here.
 */
export function noteRoute(request: FastifyRequest): string | undefined {
  const { url, schema } = request.routeOptions;
  request.operationId = operationIdIn(schema) ?? null;
  return url;
}

/** The contract's operationId of the route a request matched, if it matched one of the contract's. */
export function operationIdOf(request: FastifyRequest): string | undefined {
  const noted = request.operationId;
  if (noted !== undefined) return noted ?? undefined;
  return operationIdIn(request.routeOptions.schema);
}
