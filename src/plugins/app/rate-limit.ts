import type { FastifyError, FastifyInstance, onRequestHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import { rateLimitedClient } from '../../http/client-address.js';
import { ProblemError } from '../../http/problem.js';
import { bearerTokenOf } from '../../keys/bearer-auth.js';
import { hooksOf } from './route-hooks.js';

/** Paths an orchestrator polls: never rate limited. */
const unlimited = new Set(['/healthz', '/readyz']);

const WINDOW_MS = 60_000;
/** Callers remembered at once; past it the one whose window started longest ago is forgotten. */
const MOST_CALLERS = 5_000;

interface Window {
  startedAt: number;
  count: number;
}

/**
 * Fixed one-minute windows per caller, the scheme @fastify/rate-limit uses (the service used it
 * before): a caller's first request opens a window of `limit` requests; the next request after
 * the minute opens a new one. Entries are kept in the order their windows opened, so forgetting
 * the first one forgets the stalest. Memory is bounded by MOST_CALLERS.
 */
export class FixedWindows {
  private readonly windows = new Map<string, Window>();

  constructor(
    readonly limit: number,
    private readonly mostCallers = MOST_CALLERS,
  ) {}

  /** Counts a request of `caller` at `now`: how many it has made in its window, and when that window ends. */
  count(caller: string, now: number): { count: number; resetsInMs: number } {
    let window = this.windows.get(caller);
    if (window === undefined || now - window.startedAt >= WINDOW_MS) {
      if (window !== undefined) this.windows.delete(caller);
      else if (this.windows.size >= this.mostCallers) this.windows.delete(this.windows.keys().next().value!);
      window = { startedAt: now, count: 0 };
      this.windows.set(caller, window);
    }
    window.count += 1;
    return { count: window.count, resetsInMs: window.startedAt + WINDOW_MS - now };
  }
}

/**
 * Per-caller rate limiting, `perMinute` requests a minute; 0 turns it off. Per API key when this
 * process has verified the key before; anything else (no key, an invented, revoked or never
 * verified one) per client address, IPv6 by its /64. So the limiter does no database work, and
 * only requests it lets through reach the key lookup: inventing keys buys neither budget nor
 * queries. A key's first request counts for its address.
 *
 * Every limited response tells the caller its budget (X-RateLimit-Limit, -Remaining, -Reset,
 * declared in openapi.yaml), not only the 429 that ends it (with Retry-After).
 *
 * Its own small hook rather than @fastify/rate-limit (used before, same scheme and headers): that
 * plugin awaits the key, the allow list and its store in an async hook, four promises and turns of
 * the event loop per request, about 9 µs of a free-time request's 80 µs of HTTP work measured
 * (A/B with the limiter off, bench data, handler without database). This one is synchronous.
 * It is a hook of each route, added before authentication's (plugins/app/operations.ts), so
 * refused callers count too.
 */
async function rateLimiting(app: FastifyInstance, { perMinute }: { perMinute: number }): Promise<void> {
  if (perMinute <= 0) return;
  const windows = new FixedWindows(perMinute);
  const limitHeader = String(perMinute);
  const limit: onRequestHookHandler = (request, reply, done) => {
    const token = bearerTokenOf(request);
    const caller = token === undefined ? undefined : app.verifier.knownCaller(token);
    const key = caller === undefined ? `ip:${rateLimitedClient(request.ip)}` : `key:${caller.keyId}`;
    const { count, resetsInMs } = windows.count(key, Date.now());
    const resetSeconds = String(Math.ceil(resetsInMs / 1000));
    reply.header('x-ratelimit-limit', limitHeader);
    reply.header('x-ratelimit-remaining', String(Math.max(0, perMinute - count)));
    reply.header('x-ratelimit-reset', resetSeconds);
    if (count <= perMinute) return done();
    const limited = new ProblemError(
      'rate-limited',
      `Rate limit of ${perMinute} requests per minute exceeded; retry in ${resetSeconds} seconds.`,
      {},
      { 'retry-after': resetSeconds },
    );
    done(limited as unknown as FastifyError);
  };
  app.addHook('onRoute', (route) => {
    if (unlimited.has(route.url)) return;
    route.onRequest = [...hooksOf(route.onRequest), limit] as typeof route.onRequest;
  });
}

export default fp(rateLimiting, { name: 'rate-limit', dependencies: ['auth'] });
