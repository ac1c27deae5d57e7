import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HttpSettings } from '../config.js';
import { ProblemError } from './problem.js';

/** Paths an orchestrator polls: never rate limited. */
const unlimited = new Set(['/healthz', '/readyz']);

/**
 * Security headers, optional CORS and per-caller rate limiting. Registered before the routes so
 * their hooks apply to every operation.
 */
export async function registerProtection(
  app: FastifyInstance,
  settings: HttpSettings,
  /** The id of the valid API key a request presents, if any (verified, so cached for auth too). */
  apiKeyIdOf: (request: FastifyRequest) => Promise<string | undefined>,
): Promise<void> {
  await app.register(helmet, {
    // A JSON API plus one docs page (Swagger UI: own scripts, inline styles, data: images).
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        frameAncestors: ["'none'"],
        formAction: ["'self'"],
        // Served over plain HTTP on internal networks (TLS ends at the proxy): upgrading the docs
        // page's requests to https would break it.
        upgradeInsecureRequests: null,
      },
    },
    crossOriginResourcePolicy: { policy: 'same-site' },
  });

  if (settings.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: settings.corsOrigins,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'idempotency-key', 'if-match', 'if-none-match', 'x-request-id'],
      exposedHeaders: ['etag', 'location', 'retry-after', 'x-request-id', 'idempotent-replayed', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'],
      maxAge: 600,
    });
  }

  if (settings.rateLimitPerMinute > 0) {
    await app.register(rateLimit, {
      global: true,
      max: settings.rateLimitPerMinute,
      timeWindow: 60_000,
      // Per valid API key; anything else (no key, an invented or revoked one) per client
      // address, so inventing keys buys no extra budget. Verifying here costs nothing extra: the
      // result is cached and the security handler reuses it.
      keyGenerator: async (request) => {
        const keyId = await apiKeyIdOf(request).catch(() => undefined);
        return keyId === undefined ? `ip:${request.ip}` : `key:${keyId}`;
      },
      allowList: (request) => unlimited.has(request.url.split('?', 1)[0] ?? ''),
      // Only a 429 carries the limit headers (as declared in openapi.yaml).
      addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
      errorResponseBuilder: (_request, context) =>
        new ProblemError('rate-limited', `Rate limit of ${context.max} requests per minute exceeded; retry in ${Math.ceil(context.ttl / 1000)} seconds.`),
    });
  }
}
