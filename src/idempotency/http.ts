import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ProblemError, type Problem } from '../http/problem.js';
import { pathOf } from '../http/request.js';
import { IdempotencyKeyReusedError, type IdempotentRequest, type KeyedOutcome, type StoredResponse } from './model.js';

/**
 * The HTTP side of Idempotency-Key: which requests carry one, what makes two requests the same,
 * and how a stored answer is sent again.
 */

/**
 * The keyed form of a POST, or undefined when it carries no Idempotency-Key (it then simply runs).
 * `fingerprint` is the normalised input, so `"123"` and `123` are the same request; `problemOf`
 * is the feature's own mapping of its refusals.
 */
export function idempotentRequestOf<T>(
  request: FastifyRequest,
  fingerprint: unknown,
  answer: (value: T) => StoredResponse,
  problemOf: (error: unknown) => ProblemError | undefined,
): IdempotentRequest<T> | undefined {
  const key = request.headers['idempotency-key'];
  if (typeof key !== 'string' || !request.caller) return undefined;
  const instance = pathOf(request);
  return {
    claim: { apiKeyId: request.caller.keyId, key, requestHash: requestHash(request, fingerprint) },
    answer,
    answerRefusal(error) {
      const problem = error instanceof ProblemError ? error : problemOf(error);
      if (!problem || problem.status >= 500) return undefined;
      return { statusCode: problem.status, headers: problem.headers, body: { ...problem.problem, instance } };
    },
  };
}

/** Sends a response, returning the body for Fastify's serializer. */
export function respond<B>(reply: FastifyReply, response: StoredResponse): B {
  reply.code(response.statusCode).headers(response.headers);
  return response.body as B;
}

/** Sends what a keyed write came to: its fresh answer, its refusal, or the earlier answer again. */
export function respondOnce<T, B>(reply: FastifyReply, outcome: KeyedOutcome<T>): B {
  switch (outcome.kind) {
    case 'fresh':
      return respond(reply, outcome.response);
    case 'refused':
      // Thrown as it was, so the error handler answers (and counts) it like any refusal.
      throw outcome.refusal;
    case 'replayed': {
      const { response } = outcome;
      reply.header('idempotent-replayed', 'true');
      if (response.statusCode >= 400) {
        throw ProblemError.replay(response.body as Problem, { ...response.headers, 'idempotent-replayed': 'true' });
      }
      return respond(reply, response);
    }
  }
}

/** The problem for this feature's own refusal. */
export function idempotencyProblem(error: unknown): ProblemError | undefined {
  if (!(error instanceof IdempotencyKeyReusedError)) return undefined;
  return new ProblemError(
    'idempotency-key-reused',
    'This Idempotency-Key was used with a different request; use a new key for a new request.',
  );
}

/** The same operation with the same normalised input (key order aside) hashes the same. */
function requestHash(request: FastifyRequest, fingerprint: unknown): string {
  const operation = `${request.method} ${request.routeOptions.url ?? ''}`;
  return createHash('sha256').update(operation).update('\n').update(canonicalJson(fingerprint)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
