import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import openapiGlue from 'fastify-openapi-glue';
import { loadContract } from './contract.js';
import type { Db } from './db/database.js';
import { sharedSecret } from './db/secrets.js';
import { CursorCodec } from './http/cursor.js';
import { registerDocs } from './http/docs.js';
import { clientErrorResponse, frameworkErrorHandler, registerErrorHandling } from './http/errors.js';
import { ProblemError, invalidRequest } from './http/problem.js';
import type { ServiceHandlers } from './http/operations.js';
import { RequestLog, requestIdFor } from './http/request-log.js';
import { validatorCompiler } from './http/validation.js';
import { orderHandlers } from './orders/handlers.js';
import { serviceHandlers } from './services/handlers.js';

export interface AppOptions {
  db: Db;
  logger?: FastifyServerOptions['logger'];
}

const ONE_MIB = 1024 * 1024;

/** The whole HTTP service around a database, without a listening socket (tests use it directly). */
export async function buildApp({ db, logger = false }: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger,
    bodyLimit: ONE_MIB,
    genReqId: requestIdFor,
    logController: new RequestLog(),
    // Slow clients cannot hold a connection for ever; a stuck request is cut off.
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
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
  const contract = loadContract();

  app.setValidatorCompiler(validatorCompiler);
  // Echo the request id so a caller can quote it in a bug report.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (closing) {
      reply.header('connection', 'close');
      throw new ProblemError('unavailable', 'The server is shutting down; retry on another instance.', {}, { 'retry-after': '1' });
    }
  });
  // JSON only: Fastify's built-in text/plain parser would hand handlers an unvalidated string
  // (glue's body schemas are per media type, so only declared types are validated).
  app.removeContentTypeParser('text/plain');
  // Likewise a request with no body (and so no media type) skips body validation: refuse it here.
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined && (request.routeOptions.schema as { body?: unknown } | undefined)?.body) {
      throw invalidRequest([{ path: '/body', message: 'is required' }], 'The request needs a JSON body.');
    }
  });
  // Glue warns about every media type in the contract without a parser; problem+json is only
  // ever sent, so as a request body it is refused like any other non-JSON type.
  app.addContentTypeParser('application/problem+json', (_request, _payload, done) =>
    done(Object.assign(new Error('unsupported media type'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }), undefined),
  );
  registerErrorHandling(app, contract.document);
  await registerDocs(app, contract);

  const cursors = new CursorCodec(() => sharedSecret(db, 'cursor-signing'));
  const handlers: ServiceHandlers = { ...orderHandlers(db, cursors), ...serviceHandlers(db, cursors) };
  await app.register(openapiGlue, { specification: contract.document, serviceHandlers: handlers });
  return app;
}
