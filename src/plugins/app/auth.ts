import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { READS, recheckBeforeWrite } from '../../keys/bearer-auth.js';
import { hooksOf } from './route-hooks.js';
import { KeyVerifier } from '../../keys/verifier.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Verifies API keys, caching each answer for a short while. */
    verifier: KeyVerifier;
  }
}

/**
 * API keys: the verifier every request's key goes through. `request.caller` is set by the key
 * check of each operation that needs a key (plugins/app/operations.ts), and a write's
 * key is looked at again just before the write runs.
 */
async function auth(app: FastifyInstance, { apiKeyCacheSeconds }: { apiKeyCacheSeconds: number }): Promise<void> {
  app.decorateRequest('caller', null);
  app.decorateRequest('bearer', undefined);
  app.decorate(
    'verifier',
    new KeyVerifier(app.db, {
      cacheTtlMs: apiKeyCacheSeconds * 1000,
      onBackgroundError: (error) => app.log.warn({ err: error }, 'could not record an API key’s last use'),
    }),
  );
  // On the routes that write only: a read has nothing to guard, and a route without preHandler
  // hooks skips that stage of Fastify's chain altogether.
  const recheck = recheckBeforeWrite(app.verifier);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.every((method) => READS.has(method))) return;
    route.preHandler = [...hooksOf(route.preHandler), recheck] as typeof route.preHandler;
  });
}

export default fp(auth, { name: 'auth', dependencies: ['database'] });
