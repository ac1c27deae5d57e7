import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HttpSettings } from '../config.js';
import { ProblemError } from './problem.js';

/** Paths an orchestrator polls: never rate limited. */
const unlimited = new Set(['/healthz', '/readyz']);

/**
 * The security headers of every response: the same for all of them (API, problem, docs page and
 * assets, 404/405), so written out once instead of being rebuilt per request (helmet re-parsed its
 * options on every request: ~4 % of busy time under load). They are, name for name and byte for
 * byte, what helmet 8 sends with its defaults plus this service's CSP and a same-site CORP (helmet
 * also removed X-Powered-By, which Fastify never sets).
 */
const securityHeaders: ReadonlyArray<readonly [name: string, value: string]> = [
  [
    'Content-Security-Policy',
    [
      // A JSON API plus one docs page (Swagger UI: own scripts, inline styles, data: images).
      "default-src 'self'",
      "base-uri 'self'",
      "font-src 'self' https: data:",
      "form-action 'self'",
      "frame-ancestors 'none'",
      "img-src 'self' data:",
      "object-src 'none'",
      "script-src 'self'",
      "script-src-attr 'none'",
      "style-src 'self' 'unsafe-inline'",
      // No upgrade-insecure-requests: served over plain HTTP on internal networks (TLS ends at the
      // proxy), upgrading the docs page's requests to https would break it.
    ].join(';'),
  ],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-site'],
  ['Origin-Agent-Cluster', '?1'],
  ['Referrer-Policy', 'no-referrer'],
  ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'SAMEORIGIN'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
];

/**
 * For `reply.headers()` in the first onRequest hook (src/app.ts): onto the reply's own headers,
 * which Fastify hands to writeHead in one go, so a route's own reply.header() still takes
 * precedence. (Node's setHeader, as helmet used, checks and stores each header separately: ~4 %
 * of a GET's busy time for these twelve.) Errors Fastify raises before routing (a malformed URL)
 * run no hooks and so get none.
 */
export const securityHeaderValues: Readonly<Record<string, string>> = Object.fromEntries(securityHeaders);

/**
 * Optional CORS and per-caller rate limiting. Registered before the routes so their hooks apply
 * to every operation.
 */
export async function registerProtection(
  app: FastifyInstance,
  settings: HttpSettings,
  /** The id of the valid API key a request presents, if any (verified, so cached for auth too). */
  apiKeyIdOf: (request: FastifyRequest) => Promise<string | undefined>,
): Promise<void> {
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
