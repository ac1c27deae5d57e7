import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { rateLimitedClient } from '../../http/client-address.js';
import { ProblemError } from '../../http/problem.js';
import { pathOf } from '../../http/request.js';
import { bearerToken } from '../../keys/bearer-auth.js';

/** Paths an orchestrator polls: never rate limited. */
const unlimited = new Set(['/healthz', '/readyz']);

/**
 * Per-caller rate limiting (@fastify/rate-limit), `perMinute` requests a minute; 0 turns it off.
 * Its per-route hook runs before authentication (see plugins/app/operations.ts), so refused
 * callers count too.
 */
async function rateLimiting(app: FastifyInstance, { perMinute }: { perMinute: number }): Promise<void> {
  if (perMinute <= 0) return;
  await app.register(rateLimit, {
    global: true,
    max: perMinute,
    timeWindow: 60_000,
    // Per API key when this process has verified the key before; anything else (no key, an
    // invented, revoked or never verified one) per client address, IPv6 by its /64. So the
    // limiter does no database work, and only requests it lets through reach the key lookup:
    // inventing keys buys neither budget nor queries. A key's first request counts for its address.
    keyGenerator: (request) => {
      const token = bearerToken(request.headers.authorization);
      const caller = token === undefined ? undefined : app.verifier.knownCaller(token);
      return caller === undefined ? `ip:${rateLimitedClient(request.ip)}` : `key:${caller.keyId}`;
    },
    allowList: (request) => unlimited.has(pathOf(request)),
    // Every limited response tells the caller its budget (X-RateLimit-Limit, -Remaining, -Reset: the
    // plugin's defaults, declared in openapi.yaml), not only the 429 that ends it.
    errorResponseBuilder: (_request, context) =>
      new ProblemError(
        'rate-limited',
        `Rate limit of ${context.max} requests per minute exceeded; retry in ${Math.ceil(context.ttl / 1000)} seconds.`,
      ),
  });
}

export default fp(rateLimiting, { name: 'rate-limit', dependencies: ['auth'] });
