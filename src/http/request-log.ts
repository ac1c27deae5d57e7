import { randomUUID } from 'node:crypto';
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import { operationIdOf } from './request.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Request id: the caller's X-Request-Id when it is sane (to follow a call across services), else new. */
export function requestIdFor(request: { headers: Record<string, string | string[] | undefined> }): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

// A key sent where it does not belong (?access_token=osk_…) must not reach the log either.
const KEY_LIKE = /osk_[A-Za-z0-9_-]*/g;
const SECRET_PARAMETER = /([?&][^=&]*(?:token|key|secret|password|auth)[^=&]*=)[^&]*/gi;

export function withoutSecrets(url: string): string {
  // Most URLs have no query, no parameter-like `&` and no key: skip both regular expressions.
  if (!url.includes('?') && !url.includes('&') && !url.includes('osk_')) return url;
  return url.replace(KEY_LIKE, 'osk_[redacted]').replace(SECRET_PARAMETER, '$1[redacted]');
}

/**
 * One log line per request, at completion, with its id, operation, status and duration; never
 * bodies or headers (so never a credential). Fastify's "incoming request" line is dropped.
 */
export class RequestLog extends LogController {
  override incomingRequest(): void {}

  override routeNotFound(): void {}

  override requestCompleted(error: Error | null, request: FastifyRequest, reply: FastifyReply): void {
    const line = {
      method: request.method,
      url: withoutSecrets(request.url),
      operationId: operationIdOf(request),
      statusCode: reply.statusCode,
      responseTimeMs: Math.round(reply.elapsedTime * 100) / 100,
    };
    if (error) request.log.error({ ...line, err: error }, 'request errored');
    else request.log.info(line, 'request');
  }
}
