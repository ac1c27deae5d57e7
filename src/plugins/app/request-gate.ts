import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ProblemError, invalidRequest } from '../../http/problem.js';
import { noteRoute } from '../../http/request.js';
import { apiSecurityHeaders, documentSecurityHeaders, isDocumentRoute } from '../../http/security-headers.js';

/** Fastify types a hook callback's error as its own; the error handler takes any error. */
const hookError = (problem: ProblemError) => problem as unknown as FastifyError;

/**
 * What every request meets first: the security headers, its id echoed back, a Host check, and a
 * refusal while the process drains for shutdown. One callback-style hook: an async hook costs a
 * promise and a turn of the microtask queue per request, for nothing here.
 */
async function requestGate(app: FastifyInstance): Promise<void> {
  let draining = false;
  app.addHook('preClose', async () => {
    draining = true;
  });

  app.decorateRequest('operationId', undefined);
  app.addHook('onRequest', (request, reply, done) => {
    const route = noteRoute(request);
    reply.headers(isDocumentRoute(route) ? documentSecurityHeaders : apiSecurityHeaders);
    // Echo the request id so a caller can quote it in a bug report.
    reply.header('x-request-id', request.id);
    // Node's own check would answer a bare 400 (requireHostHeader is off): this one is a problem.
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      const missing = invalidRequest(
        [{ path: '/header/host', message: 'is required' }],
        'An HTTP/1.1 request must carry a Host header.',
      );
      return done(hookError(missing));
    }
    // Liveness stays 200 while draining: the process is alive, just not taking new work.
    if (draining && route !== '/healthz') {
      reply.header('connection', 'close');
      const unavailable = new ProblemError(
        'unavailable',
        'The server is shutting down; retry on another instance.',
        {},
        {
          'retry-after': '1',
        },
      );
      return done(hookError(unavailable));
    }
    done();
  });

  // A response sent while draining closes its connection: an idle keep-alive connection would
  // otherwise hold server.close(), and so the exit, until keepAliveTimeout.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (draining) reply.header('connection', 'close');
    done(null, payload);
  });
}

export default fp(requestGate, { name: 'request-gate' });
