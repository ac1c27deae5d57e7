import type { FastifyError, FastifyInstance, preValidationHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import { invalidRequest } from '../../http/problem.js';
import { hooksOf } from './route-hooks.js';

/** Request bodies are JSON or nothing: any other media type is 415, a missing required body 400. */
async function jsonBodies(app: FastifyInstance): Promise<void> {
  // Fastify's built-in text/plain parser would hand handlers an unvalidated string (glue's body
  // schemas are per media type, so only declared types are validated).
  app.removeContentTypeParser('text/plain');
  // Glue warns about every media type in the contract without a parser; these are only ever
  // sent, so as request bodies they are refused (415) like any other non-JSON type.
  for (const mediaType of ['application/problem+json', 'text/plain']) {
    app.addContentTypeParser(mediaType, (_request, _payload, done) =>
      done(
        Object.assign(new Error('unsupported media type'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }),
        undefined,
      ),
    );
  }
  // A request with no body (and so no media type) skips body validation too: refuse it here, on
  // the routes that take a body (the others then run no preValidation stage at all).
  const requireBody: preValidationHookHandler = (request, _reply, done) => {
    if (request.body === undefined) {
      const missing = invalidRequest([{ path: '/body', message: 'is required' }], 'The request needs a JSON body.');
      return done(missing as unknown as FastifyError);
    }
    done();
  };
  app.addHook('onRoute', (route) => {
    if (!(route.schema as { body?: unknown } | undefined)?.body) return;
    route.preValidation = [...hooksOf(route.preValidation), requireBody] as typeof route.preValidation;
  });
}

export default fp(jsonBodies, { name: 'json-bodies' });
