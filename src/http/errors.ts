import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OpenApiDocument } from '../contract.js';
import { isDataException, isDatabaseUnavailable, isTransientConflict } from '../db/errors.js';
import type { ServiceMetrics } from '../operations/metrics.js';
import { ScheduleConflictError, UnknownServicesError } from '../orders/repository.js';
import { DuplicateServiceError, ServiceInUseError } from '../services/repository.js';
import { ProblemError, invalidRequest, notFound, type Problem } from './problem.js';
import { fieldErrorsFrom } from './validation.js';

/**
 * The one place errors become responses: every 4xx and 5xx is an RFC 9457 problem, and a 5xx
 * never carries a stack, SQL or driver text (those go to the log with the request id).
 */
export function registerErrorHandling(app: FastifyInstance, contract: OpenApiDocument, metrics: ServiceMetrics): void {
  app.setErrorHandler((error, request, reply) => {
    const problem = problemFrom(error, request);
    if (error instanceof ScheduleConflictError) metrics.scheduleConflicts.inc();
    // Unavailability (database down, shutting down) is an operating condition, one short line
    // each; anything else at 5xx is a bug worth its stack.
    if (problem.status === 503) {
      request.log.warn({ problem: problem.problem.type, reason: (error as Error).message }, 'request refused: unavailable');
    } else if (problem.status >= 500) {
      request.log.error({ err: error, problem: problem.problem.type }, 'request failed');
    }
    return sendProblem(reply, problem, request);
  });

  const allowedMethods = methodsByPath(contract);
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?', 1)[0] ?? '/';
    const allowed = allowedMethods.find((route) => route.pattern.test(path))?.methods;
    if (allowed) {
      const problem = new ProblemError('method-not-allowed', `${request.method} is not allowed on ${path}; allowed: ${allowed.join(', ')}.`, {}, { allow: allowed.join(', ') });
      return sendProblem(reply, problem, request);
    }
    return sendProblem(reply, notFound(`There is no route ${request.method} ${path}.`), request);
  });
}

/**
 * Errors Fastify raises before routing (a URL that is not valid percent-encoding, a path segment
 * longer than any id): the request is malformed, so 400 like any other bad path value.
 */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const message = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'has a segment longer than any id' : 'is not a valid URL path';
  reply.header('x-request-id', request.id);
  void sendProblem(reply, invalidRequest([{ path: '/path', message }], 'The request path is malformed.'), request);
}

/** The answer to a request whose headers the HTTP parser could not read (too large or malformed). */
export function clientErrorResponse(error: { code?: string }): string {
  // Node reports a client that missed the header or request deadline (slowloris) as a timeout.
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const title = STATUS_CODES[status] ?? 'Bad Request';
  const detail = { 431: 'The request headers are too large.', 408: 'The request was not received in time.' }[status as 431 | 408] ?? 'The request could not be parsed.';
  const body = JSON.stringify({ type: 'about:blank', title, status, detail });
  return `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

function sendProblem(reply: FastifyReply, error: ProblemError, request: FastifyRequest): FastifyReply {
  const body: Problem = { ...error.problem, instance: request.url.split('?', 1)[0] };
  return reply.code(error.status).headers(error.headers).type('application/problem+json').send(body);
}

/** The refusal an error stands for, when it is the client's to fix (a 4xx); else undefined. */
export function clientProblemFrom(error: unknown): ProblemError | undefined {
  const problem = error instanceof ProblemError ? error : domainProblem(error);
  return problem && problem.status < 500 ? problem : undefined;
}

function problemFrom(error: unknown, request: FastifyRequest): ProblemError {
  if (error instanceof ProblemError) return error;
  const domain = domainProblem(error);
  if (domain) return domain;
  // fastify-openapi-glue wraps whatever a security handler throws (a 401/403 problem, or a
  // database failure while verifying the key) in a 401 SecurityError: judge what it wraps.
  const wrapped = (error as { name?: string; errors?: unknown[] } | null)?.errors?.[0];
  if ((error as { name?: string }).name === 'Unauthorized' && wrapped !== undefined) return problemFrom(wrapped, request);

  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.validation) {
    return invalidRequest(fieldErrorsFrom(fastifyError.validation as never, fastifyError.validationContext ?? 'request'));
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ProblemError('payload-too-large', 'The request body is larger than 1 MiB.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ProblemError('unsupported-media-type', `Send the body as application/json (got ${request.headers['content-type'] ?? 'no content type'}).`);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return invalidRequest([{ path: '/body', message: 'is empty' }], 'The request body is empty.');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return invalidRequest([{ path: '/body', message: 'is not valid JSON' }], 'The request body is not valid JSON.');
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Fastify's own client errors (malformed JSON, forbidden __proto__ keys, bad headers): their
    // messages describe the request, never the server.
    if (status === 400) return invalidRequest([{ path: '/body', message: String(fastifyError.message) }], String(fastifyError.message));
    return genericProblem(status, String(fastifyError.message));
  }
  if (isTransientConflict(error)) {
    // Only once the write's own retries are spent: the data is fine, the contention was not.
    return new ProblemError('unavailable', 'The write kept colliding with concurrent writes and did not complete; retry.', {}, { 'retry-after': '1' });
  }
  if (isDatabaseUnavailable(error)) {
    return new ProblemError('unavailable', 'The database is unavailable; retry shortly.', {}, { 'retry-after': '5' });
  }
  if (isDataException(error)) {
    // Input the schema allowed but the database cannot store (a last line of defence).
    return invalidRequest([], 'A value in the request is out of the range the service can store.');
  }
  return new ProblemError('internal', `An unexpected error occurred. Reference: ${request.id}.`);
}

function domainProblem(error: unknown): ProblemError | undefined {
  if (error instanceof ScheduleConflictError) {
    const { conflicting, requested } = error;
    if (!conflicting) return new ProblemError('schedule-conflict', `Another order is scheduled less than 3 hours from ${requested}.`);
    const at = conflicting.datetime.toISOString();
    return new ProblemError(
      'schedule-conflict',
      `Order ${conflicting.id} is scheduled at ${at}, less than 3 hours from ${requested}. Orders must be at least 3 hours apart.`,
      { conflictingOrderId: conflicting.id, conflictingDatetime: at },
    );
  }
  if (error instanceof UnknownServicesError) {
    const ids = error.serviceIds;
    const detail = ids.length === 1 ? `Service ${ids[0]} is not in the catalogue.` : `Services ${ids.join(', ')} are not in the catalogue.`;
    return new ProblemError('unknown-service', detail, { unknownServiceIds: ids });
  }
  if (error instanceof DuplicateServiceError) {
    return new ProblemError('conflict', `A service with ${error.field} ${JSON.stringify(error.value)} already exists.`);
  }
  if (error instanceof ServiceInUseError) {
    return new ProblemError('conflict', `Service ${error.serviceId} is included in at least one order; remove it from those orders first.`);
  }
  return undefined;
}

function genericProblem(status: number, detail: string): ProblemError {
  const error = new ProblemError('validation', detail);
  Object.assign(error.problem, { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status });
  return error;
}

interface PathMethods {
  pattern: RegExp;
  methods: string[];
}

const httpMethods = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'];

/** For 405 + Allow: each contract path as a pattern, with the methods it has (HEAD with GET). */
function methodsByPath(contract: OpenApiDocument): PathMethods[] {
  return Object.entries(contract.paths).map(([template, item]) => {
    const methods = Object.keys(item).filter((m) => httpMethods.includes(m)).map((m) => m.toUpperCase());
    if (methods.includes('GET')) methods.push('HEAD');
    const source = template.split(/\{[^}]+\}/).map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')).join('[^/]+');
    return { pattern: new RegExp(`^${source}$`), methods };
  });
}
