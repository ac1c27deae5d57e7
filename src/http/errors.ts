import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isDataException, isDatabaseUnavailable, isTransientConflict } from '../db/errors.js';
import type { OpenApiDocument } from './contract.js';
import { ProblemError, invalidRequest, notFound, type Problem } from './problem.js';
import { pathOf } from './request.js';
import { fieldErrorsFrom } from './validation.js';

/** A feature's own refusals as problems; undefined for an error that is not one of them. */
export type ProblemMapping = (error: unknown) => ProblemError | undefined;

/** The mappings features registered: the error handler asks each in turn. */
export class ProblemMappings {
  private readonly mappings: ProblemMapping[] = [];

  add(mapping: ProblemMapping): void {
    this.mappings.push(mapping);
  }

  problemOf(error: unknown): ProblemError | undefined {
    for (const mapping of this.mappings) {
      const problem = mapping(error);
      if (problem) return problem;
    }
    return undefined;
  }
}

/**
 * The problem an error stands for: a ProblemError as it is, a feature's refusal by its mapping,
 * Fastify's and the database's errors by their codes, anything else a 500 that names nothing but
 * the request id (the stack, SQL and driver text go to the log).
 */
export function problemFrom(error: unknown, request: FastifyRequest, mappings: ProblemMappings): ProblemError {
  if (error instanceof ProblemError) return error;
  const mapped = mappings.problemOf(error);
  if (mapped) return mapped;
  const fastifyError = (error ?? {}) as Partial<FastifyError>;
  if (fastifyError.validation) {
    return invalidRequest(
      fieldErrorsFrom(fastifyError.validation as never, fastifyError.validationContext ?? 'request'),
    );
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ProblemError('payload-too-large', 'The request body is larger than 1 MiB.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ProblemError(
        'unsupported-media-type',
        `Send the body as application/json (got ${request.headers['content-type'] ?? 'no content type'}).`,
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return invalidRequest([{ path: '/body', message: 'is empty' }], 'The request body is empty.');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return invalidRequest([{ path: '/body', message: 'is not valid JSON' }], 'The request body is not valid JSON.');
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Fastify's own client errors (malformed JSON, forbidden __proto__ keys, bad headers): their
    // messages describe the request, never the server.
    const message = String(fastifyError.message);
    if (status === 400) return invalidRequest([{ path: '/body', message }], message);
    return genericProblem(status, message);
  }
  if (isTransientConflict(error)) {
    // Only once the write's own retries are spent: the data is fine, the contention was not.
    return new ProblemError(
      'unavailable',
      'The write kept colliding with concurrent writes and did not complete; retry.',
      {},
      { 'retry-after': '1' },
    );
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

/** The one problem writer: every 4xx and 5xx leaves through here. */
export function sendProblem(reply: FastifyReply, error: ProblemError, request: FastifyRequest): FastifyReply {
  const body: Problem = { ...error.problem, instance: pathOf(request) };
  return reply.code(error.status).headers(error.headers).type('application/problem+json').send(body);
}

/**
 * Errors Fastify raises before routing (a URL that is not valid percent-encoding, a path segment
 * longer than any id): the request is malformed, so 400 like any other bad path value.
 */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const message =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'has a segment longer than any id' : 'is not a valid URL path';
  reply.header('x-request-id', request.id);
  void sendProblem(reply, invalidRequest([{ path: '/path', message }], 'The request path is malformed.'), request);
}

/** The answer to a request whose headers the HTTP parser could not read (too large or malformed). */
export function clientErrorResponse(error: { code?: string }): string {
  // Node reports a client that missed the header or request deadline (slowloris) as a timeout.
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const title = STATUS_CODES[status] ?? 'Bad Request';
  const details: Record<number, string> = {
    431: 'The request headers are too large.',
    408: 'The request was not received in time.',
  };
  const detail = details[status] ?? 'The request could not be parsed.';
  const body = JSON.stringify({ type: 'about:blank', title, status, detail });
  return [
    `HTTP/1.1 ${status} ${title}`,
    'Content-Type: application/problem+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

function genericProblem(status: number, detail: string): ProblemError {
  const error = new ProblemError('validation', detail);
  Object.assign(error.problem, { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status });
  return error;
}

/** The answer to a request no route matched: 405 with Allow where the path exists, else 404. */
export function unmatchedRouteProblem(contract: OpenApiDocument): (request: FastifyRequest) => ProblemError {
  const allowedMethods = methodsByPath(contract);
  return (request) => {
    const path = pathOf(request);
    const allowed = allowedMethods.find((route) => route.pattern.test(path))?.methods;
    if (!allowed) return notFound(`There is no route ${request.method} ${path}.`);
    const list = allowed.join(', ');
    return new ProblemError(
      'method-not-allowed',
      `${request.method} is not allowed on ${path}; allowed: ${list}.`,
      {},
      {
        allow: list,
      },
    );
  };
}

interface PathMethods {
  pattern: RegExp;
  methods: string[];
}

const httpMethods = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'];

/** For 405 + Allow: each contract path as a pattern, with the methods it has (HEAD with GET). */
function methodsByPath(contract: OpenApiDocument): PathMethods[] {
  return Object.entries(contract.paths).map(([template, item]) => {
    const methods = Object.keys(item)
      .filter((m) => httpMethods.includes(m))
      .map((m) => m.toUpperCase());
    if (methods.includes('GET')) methods.push('HEAD');
    const source = template
      .split(/\{[^}]+\}/)
      .map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))
      .join('[^/]+');
    return { pattern: new RegExp(`^${source}$`), methods };
  });
}
