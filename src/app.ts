import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { sql } from 'kysely';
import openapiGlue from 'fastify-openapi-glue';
import { bearerAuth, bearerToken } from './auth/security.js';
import { KeyVerifier } from './auth/verifier.js';
import { defaultHttpSettings, type HttpSettings } from './config.js';
import { loadContract } from './contract.js';
import type { Db } from './db/database.js';
import { sharedSecret } from './db/secrets.js';
import { CursorCodec } from './http/cursor.js';
import { registerDocs } from './http/docs.js';
import { clientErrorResponse, frameworkErrorHandler, registerErrorHandling } from './http/errors.js';
import type { ServiceHandlers } from './http/operations.js';
import { ProblemError, invalidRequest } from './http/problem.js';
import { registerProtection, securityHeaderValues } from './http/protection.js';
import { RequestLog, requestIdFor } from './http/request-log.js';
import { validatorCompiler } from './http/validation.js';
import { deleteExpiredIdempotencyKeys } from './idempotency/repository.js';
import { operationsHandlers } from './operations/handlers.js';
import { ServiceMetrics, type PoolStats } from './operations/metrics.js';
import { orderHandlers } from './orders/handlers.js';
import { serviceHandlers } from './services/handlers.js';

export interface AppOptions {
  db: Db;
  /** Readiness probe; by default a plain SELECT 1 through Kysely. */
  ping?: (timeoutMs: number) => Promise<void>;
  logger?: FastifyServerOptions['logger'];
  http?: Partial<HttpSettings>;
  /** Connection pool figures for /metrics (the pg pool; PGlite has none). */
  poolStats?: () => PoolStats;
}

const ONE_MIB = 1024 * 1024;

/** Fastify types a hook callback's error as its own; the error handler takes any error. */
const hookError = (problem: ProblemError) => problem as unknown as FastifyError;
const IDEMPOTENCY_SWEEP_MS = 15 * 60_000;

/** The whole HTTP service around a database, without a listening socket (tests use it directly). */
export async function buildApp({ db, ping = defaultPing(db), logger = false, http = {}, poolStats }: AppOptions): Promise<FastifyInstance> {
  const settings: HttpSettings = { ...defaultHttpSettings, ...http };
  const app = Fastify({
    logger,
    // Behind N load balancers, the client address is the Nth from the right in X-Forwarded-For.
    trustProxy: settings.trustedProxyHops > 0 ? (_address: string, hop: number) => hop < settings.trustedProxyHops : false,
    bodyLimit: ONE_MIB,
    genReqId: requestIdFor,
    logController: new RequestLog(),
    // Slow clients cannot hold a connection for ever: headers and the whole request have deadlines,
    // checked every second (Node's default is every 30 s, too coarse to stop a slowloris).
    // Host is checked by our own hook below, so its absence gets a problem body rather than Node's bare 400.
    http: { headersTimeout: settings.headersTimeoutMs, connectionsCheckingInterval: 1_000, requireHostHeader: false },
    requestTimeout: settings.requestTimeoutMs,
    connectionTimeout: settings.requestTimeoutMs,
    keepAliveTimeout: 5_000,
    // Refused during shutdown by our own hook below, so the answer is a problem like any other.
    return503OnClosing: false,
    // Ids are at most 18 characters; a longer segment is a bad value (400), not a 414.
    routerOptions: { maxParamLength: 500 },
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler: (error, socket) => {
      if (socket.writable) socket.end(clientErrorResponse(error as { code?: string }));
    },
  });
  // Beyond this many open sockets new ones are dropped, so a flood cannot exhaust file descriptors.
  app.server.maxConnections = settings.maxConnections;
  const contract = loadContract();
  const metrics = new ServiceMetrics(poolStats);
  app.decorateRequest('caller', null);
  app.setValidatorCompiler(validatorCompiler);

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // Hooks on every request are callback-style: an async hook costs a promise and a turn of the
  // microtask queue per request, for nothing here.
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(securityHeaderValues);
    // Echo the request id so a caller can quote it in a bug report.
    reply.header('x-request-id', request.id);
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      return done(hookError(invalidRequest([{ path: '/header/host', message: 'is required' }], 'An HTTP/1.1 request must carry a Host header.')));
    }
    // Liveness stays 200 while draining: the process is alive, just not taking new work.
    if (closing && request.routeOptions.url !== '/healthz') {
      reply.header('connection', 'close');
      return done(hookError(new ProblemError('unavailable', 'The server is shutting down; retry on another instance.', {}, { 'retry-after': '1' })));
    }
    done();
  });
  // A response sent while draining closes its connection: an idle keep-alive connection would
  // otherwise hold server.close(), and so the exit, until keepAliveTimeout.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    metrics.observe(request, reply);
    done();
  });
  acceptJsonBodiesOnly(app);
  registerErrorHandling(app, contract.document, metrics);
  const verifier = new KeyVerifier(db, {
    cacheTtlMs: settings.apiKeyCacheSeconds * 1000,
    onBackgroundError: (error) => app.log.warn({ err: error }, 'could not record an API key’s last use'),
  });
  await registerProtection(app, settings, async (request) => {
    const token = bearerToken(request.headers.authorization);
    return token === undefined ? undefined : (await verifier.verifyFor(request, token))?.keyId;
  });
  await registerDocs(app, contract);

  authenticateFirst(app);
  const cursors = new CursorCodec(() => sharedSecret(db, 'cursor-signing'));
  const handlers: ServiceHandlers = { ...orderHandlers(db, cursors), ...serviceHandlers(db, cursors), ...operationsHandlers(ping, metrics) };
  await app.register(openapiGlue, {
    specification: contract.document,
    serviceHandlers: handlers,
    securityHandlers: { apiKey: bearerAuth(verifier) },
  });

  sweepExpiredIdempotencyKeys(app, db);
  return app;
}

/**
 * fastify-openapi-glue runs an operation's security handler as a preHandler, after the body is
 * parsed and validated, so a caller without a key would be told what is wrong with its body. It
 * runs as an onRequest hook instead: no valid key, nothing else is looked at.
 */
function authenticateFirst(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const operationId = (route.schema as { operationId?: string } | undefined)?.operationId;
    if (operationId === undefined || typeof route.preHandler !== 'function') return;
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    // After the route's other onRequest hooks (the rate limit), so refused callers still count.
    route.onRequest = [...existing, route.preHandler] as typeof route.onRequest;
    route.preHandler = undefined;
  });
}

function defaultPing(db: Db): (timeoutMs: number) => Promise<void> {
  return async () => void (await sql`SELECT 1`.execute(db));
}

function acceptJsonBodiesOnly(app: FastifyInstance): void {
  // Fastify's built-in text/plain parser would hand handlers an unvalidated string (glue's body
  // schemas are per media type, so only declared types are validated).
  app.removeContentTypeParser('text/plain');
  // Glue warns about every media type in the contract without a parser; these are only ever
  // sent, so as request bodies they are refused (415) like any other non-JSON type.
  for (const mediaType of ['application/problem+json', 'text/plain']) {
    app.addContentTypeParser(mediaType, (_request, _payload, done) =>
      done(Object.assign(new Error('unsupported media type'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }), undefined),
    );
  }
  // A request with no body (and so no media type) skips body validation too: refuse it here.
  app.addHook('preValidation', (request, _reply, done) => {
    if (request.body === undefined && (request.routeOptions.schema as { body?: unknown } | undefined)?.body) {
      return done(hookError(invalidRequest([{ path: '/body', message: 'is required' }], 'The request needs a JSON body.')));
    }
    done();
  });
}

/** Idempotency keys are kept 24 hours; expired ones are swept in the background. */
function sweepExpiredIdempotencyKeys(app: FastifyInstance, db: Db): void {
  let timer: NodeJS.Timeout | undefined;
  app.addHook('onReady', async () => {
    timer = setInterval(() => {
      deleteExpiredIdempotencyKeys(db).catch((error: unknown) => app.log.warn({ err: error }, 'idempotency key sweep failed'));
    }, IDEMPOTENCY_SWEEP_MS);
    timer.unref();
  });
  app.addHook('onClose', async () => clearInterval(timer));
}
