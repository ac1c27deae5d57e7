import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import openapiGlue from 'fastify-openapi-glue';
import type { Contract } from '../../http/contract.js';
import type { OperationHandlers, OperationId } from '../../http/operation-handler.js';
import { validatorCompiler } from '../../http/validation.js';
import { bearerAuth } from '../../keys/bearer-auth.js';

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
 * validation, its security handler and the handler a feature provided.
 */
async function openapiRoutes(app: FastifyInstance, { contract }: { contract: Contract }): Promise<void> {
  app.setValidatorCompiler(validatorCompiler);
  authenticateFirst(app);
  await app.register(openapiGlue, {
    specification: contract.document,
    serviceHandlers: app.operationHandlers.complete(contract),
    securityHandlers: { apiKey: bearerAuth(app.verifier) },
  });
}

/**
 * fastify-openapi-glue runs an operation's security handler as a preHandler, after the body is
 * parsed and validated, so a caller without a key would be told what is wrong with its body. It
 * runs as an onRequest hook instead: no valid key, nothing else is looked at. It goes after the
 * route's other onRequest hooks (the rate limit), so refused callers still count.
 */
function authenticateFirst(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const operationId = (route.schema as { operationId?: string } | undefined)?.operationId;
    if (operationId === undefined || typeof route.preHandler !== 'function') return;
    const existing =
      route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [...existing, route.preHandler] as typeof route.onRequest;
    route.preHandler = undefined;
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
