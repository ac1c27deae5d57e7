import type { Duplex } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import availability from './availability/plugin.js';
import type { AvailabilityOperations } from './availability/routes.js';
import catalogue from './catalogue/plugin.js';
import type { CatalogueOperations } from './catalogue/routes.js';
import { defaultEventRetentionDays, defaultHttpSettings, type HttpSettings } from './config.js';
import type { Db } from './db/database.js';
import events from './events/plugin.js';
import type { EventOperations } from './events/routes.js';
import health from './health/plugin.js';
import type { HealthOperations } from './health/routes.js';
import { loadContract } from './http/contract.js';
import { clientErrorResponse, frameworkErrorHandler } from './http/errors.js';
import type { OperationId } from './http/operation-handler.js';
import { RequestLog, requestIdFor, requestLoggerFor } from './http/request-log.js';
import idempotency from './idempotency/plugin.js';
import orders from './orders/plugin.js';
import type { OrderOperations } from './orders/routes.js';
import auth from './plugins/app/auth.js';
import database from './plugins/app/database.js';
import jsonBodies from './plugins/app/json-bodies.js';
import metrics, { type PoolStats } from './plugins/app/metrics.js';
import { openapiRoutesPlugin, operationHandlersPlugin } from './plugins/app/operations.js';
import problems from './plugins/app/problems.js';
import rateLimit from './plugins/app/rate-limit.js';
import requestGate from './plugins/app/request-gate.js';
import cors from './plugins/external/cors.js';
import docs from './plugins/external/docs.js';

export interface AppOptions {
  db: Db;
  /** Readiness probe; by default a plain SELECT 1 through Kysely. */
  ping?: (timeoutMs: number) => Promise<void>;
  logger?: FastifyServerOptions['logger'];
  http?: Partial<HttpSettings>;
  /** Connection pool figures for /metrics (the pg pool; PGlite has none). */
  poolStats?: () => PoolStats;
  /** How long events are kept (EVENT_RETENTION_DAYS). */
  eventRetentionDays?: number;
}

// Every operation of openapi.yaml has a handler in one of the features: tsc fails here otherwise.
type HandledOperations = keyof (OrderOperations &
  AvailabilityOperations &
  CatalogueOperations &
  HealthOperations &
  EventOperations);
const everyOperationHandled: [OperationId] extends [HandledOperations] ? true : never = true;
void everyOperationHandled;

/**
 * The whole HTTP service around a database, without a listening socket (tests use it directly).
 * Built from named plugins; each declares the plugins it needs, and Fastify refuses to start when
 * one is registered before what it depends on.
 */
export async function buildApp({
  db,
  ping,
  logger = false,
  http = {},
  poolStats,
  eventRetentionDays = defaultEventRetentionDays,
}: AppOptions): Promise<FastifyInstance> {
  const settings: HttpSettings = { ...defaultHttpSettings, ...http };
  const contract = loadContract();
  const app = Fastify(serverOptions(settings, logger));
  // Beyond this many open sockets new ones are dropped, so a flood cannot exhaust file descriptors.
  app.server.maxConnections = settings.maxConnections;

  // App-wide: what every request meets, whichever route it takes.
  await app.register(requestGate);
  await app.register(database, { db, ...(ping ? { ping } : {}) });
  await app.register(metrics, { ...(poolStats ? { poolStats } : {}) });
  await app.register(problems, { contract });
  await app.register(jsonBodies);
  await app.register(auth, { apiKeyCacheSeconds: settings.apiKeyCacheSeconds });

  // External: well-kept Fastify plugins, configured; the rate limit between them, as before: it
  // limits the routes registered after it (the docs and the contract's), not CORS preflights.
  await app.register(cors, { origins: settings.corsOrigins });
  await app.register(rateLimit, { perMinute: settings.rateLimitPerMinute });
  await app.register(docs, { contract });

  // Features: each hands in its operations and its refusals' problems.
  await app.register(operationHandlersPlugin);
  await app.register(orders);
  await app.register(availability);
  await app.register(catalogue);
  await app.register(health);
  await app.register(idempotency);
  await app.register(events, { retentionDays: eventRetentionDays });

  // The contract's routes, once every feature has handed in its handlers.
  await app.register(openapiRoutesPlugin, { contract });
  return app;
}

function serverOptions(settings: HttpSettings, logger: AppOptions['logger']) {
  return {
    logger,
    // Behind N load balancers, the client address is the Nth from the right in X-Forwarded-For.
    trustProxy:
      settings.trustedProxyHops > 0 ? (_address: string, hop: number) => hop < settings.trustedProxyHops : false,
    bodyLimit: 1024 * 1024,
    genReqId: requestIdFor,
    logController: new RequestLog(),
    childLoggerFactory: requestLoggerFor,
    // Slow clients cannot hold a connection for ever: headers and the whole request have deadlines,
    // checked every second (Node's default is every 30 s, too coarse to stop a slowloris).
    // Host is checked by the request gate, so its absence gets a problem body rather than Node's bare 400.
    http: { headersTimeout: settings.headersTimeoutMs, connectionsCheckingInterval: 1_000, requireHostHeader: false },
    requestTimeout: settings.requestTimeoutMs,
    connectionTimeout: settings.requestTimeoutMs,
    keepAliveTimeout: 5_000,
    // Refused during shutdown by the request gate, so the answer is a problem like any other.
    return503OnClosing: false,
    // Ids are at most 18 characters; a longer segment is a bad value (400), not a 414.
    routerOptions: { maxParamLength: 500 },
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler: (error: Error, socket: Duplex) => {
      if (socket.writable) socket.end(clientErrorResponse(error as { code?: string }));
    },
  };
}
