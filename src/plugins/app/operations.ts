import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import openapiGlue from 'fastify-openapi-glue';
import type { Contract } from '../../http/contract.js';
import type { OperationHandlers, OperationId } from '../../http/operation-handler.js';
import { withPlainJsonResponses } from '../../http/response-schemas.js';
import { validatorCompiler } from '../../http/validation.js';
import { bearerAuth } from '../../keys/bearer-auth.js';
import { hooksOf } from './route-hooks.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Where each feature hands in the handlers of its operations. */
    operationHandlers: OperationHandlerRegistry;
  }
}

/** The handlers features provide, one per operationId of openapi.yaml. */
export class OperationHandlerRegistry {
  private readonly handlers: Partial<OperationHandlers> = {};

  add(handlers: Partial<OperationHandlers>): void {
    for (const id of Object.keys(handlers) as OperationId[]) {
      if (this.handlers[id]) throw new Error(`two features handle the operation ${id}`);
    }
    Object.assign(this.handlers, handlers);
  }

  /** All of them; fails at start-up, naming the operations, when openapi.yaml has one without a handler. */
  complete(contract: Contract): OperationHandlers {
    const missing = operationIdsOf(contract).filter((id) => !(id in this.handlers));
    if (missing.length > 0) throw new Error(`operations without a handler: ${missing.join(', ')}`);
    return this.handlers as OperationHandlers;
  }
}

function operationIdsOf(contract: Contract): string[] {
  return Object.values(contract.document.paths).flatMap((item) =>
    Object.values(item).flatMap((operation) => {
      const id = (operation as { operationId?: unknown } | null)?.operationId;
      return typeof id === 'string' ? [id] : [];
    }),
  );
}

/** The registry features fill while they register. */
async function operationHandlers(app: FastifyInstance): Promise<void> {
  app.decorate('operationHandlers', new OperationHandlerRegistry());
}

export const operationHandlersPlugin = fp(operationHandlers, { name: 'operation-handlers' });

/**
 * The contract's routes (fastify-openapi-glue): each operation of openapi.yaml with its
 * validation, its authentication and the handler a feature provided.
 */
async function openapiRoutes(app: FastifyInstance, { contract }: { contract: Contract }): Promise<void> {
  app.setValidatorCompiler(validatorCompiler);
  authenticateFirst(app, requiredScopesOf(contract));
  app.addHook('onRoute', (route) => {
    if (route.schema?.response)
      route.schema.response = withPlainJsonResponses(route.schema.response as Record<string, unknown>);
  });
  await app.register(openapiGlue, {
    specification: contract.document,
    serviceHandlers: app.operationHandlers.complete(contract),
  });
}

/**
 * Each operation's security requirement in openapi.yaml: the scopes its key needs, or null for a
 * public operation (`security: []`). Only what this service implements is accepted (one API key
 * with scopes, or nothing); anything else stops the start, naming the operation.
 */
function requiredScopesOf(contract: Contract): Map<string, readonly string[] | null> {
  const scopes = new Map<string, readonly string[] | null>();
  for (const item of Object.values(contract.document.paths)) {
    for (const operation of Object.values(item) as Array<{ operationId?: unknown; security?: unknown } | null>) {
      if (typeof operation?.operationId !== 'string') continue;
      const security = operation.security as Array<Record<string, string[]>> | undefined;
      if (Array.isArray(security) && security.length === 0) scopes.set(operation.operationId, null);
      else if (security?.length === 1 && Object.keys(security[0]!).join() === 'apiKey') {
        scopes.set(operation.operationId, security[0]!.apiKey!);
      } else {
        throw new Error(`${operation.operationId}: security must be [] or [{ apiKey: [scopes] }] (openapi.yaml)`);
      }
    }
  }
  return scopes;
}

/**
 * Authentication is an onRequest hook of each operation that needs a key: no valid key, nothing
 * else is looked at (fastify-openapi-glue's own security handlers run as a preHandler, after the
 * body is parsed and validated, so a caller without a key would be told what is wrong with its
 * body; and they await each scheme in turn, a promise per request). It goes after the route's
 * other onRequest hooks (the rate limit), so refused callers still count.
 */
function authenticateFirst(app: FastifyInstance, scopes: Map<string, readonly string[] | null>): void {
  app.addHook('onRoute', (route) => {
    const operationId = (route.schema as { operationId?: string } | undefined)?.operationId;
    if (operationId === undefined) return; // not the contract's (the docs page)
    const required = scopes.get(operationId);
    // Closed by default: an operation this map does not know stops the start rather than go unguarded.
    if (required === undefined) throw new Error(`${operationId}: no security requirement read from openapi.yaml`);
    if (required === null) return; // security: [] (liveness, readiness)
    route.onRequest = [...hooksOf(route.onRequest), bearerAuth(app.verifier, required)] as typeof route.onRequest;
  });
}

export const openapiRoutesPlugin = fp(openapiRoutes, {
  name: 'openapi-routes',
  // Every feature has handed in its handlers; the hooks every route needs exist before the routes.
  dependencies: [
    'operation-handlers',
    'orders',
    'availability',
    'catalogue',
    'health',
    'events',
    'auth',
    'rate-limit',
    'json-bodies',
    'problems',
  ],
});
