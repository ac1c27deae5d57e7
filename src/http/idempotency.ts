import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { claimIdempotencyKey, saveIdempotentResponse, type IdempotencyClaim, type StoredResponse } from '../idempotency/repository.js';
import { clientProblemFrom } from './errors.js';
import { ProblemError } from './problem.js';

export type Executor = Kysely<Database> | Transaction<Database>;

/** What an operation wants sent: the same shape is stored for replay. */
export interface OperationResponse<B> {
  statusCode: number;
  headers: Record<string, string>;
  body: B;
}

/**
 * Runs a POST so that it is safe to retry with an `Idempotency-Key`: the work and the record of
 * its response commit together, in one transaction, so a retry after any outcome (success, 4xx,
 * or a response lost on the way) either replays that response or, if the work rolled back (5xx),
 * does it afresh. Without the header the work simply runs.
 */
export async function idempotently<B>(
  db: Kysely<Database>,
  request: FastifyRequest,
  reply: FastifyReply,
  /** What makes two requests the same: the normalised input, so `"123"` and `123` match. */
  fingerprint: unknown,
  work: (executor: Executor) => Promise<OperationResponse<B>>,
): Promise<B> {
  const key = request.headers['idempotency-key'];
  const caller = request.caller;
  if (typeof key !== 'string' || !caller) return send(reply, await work(db));

  const claim: IdempotencyClaim = { apiKeyId: caller.keyId, key, requestHash: requestHash(request, fingerprint) };
  const outcome = await db.transaction().execute(async (trx) => {
    const earlier = await claimIdempotencyKey(trx, claim);
    if (earlier) return { earlier };
    let response: OperationResponse<unknown>;
    let refusal: unknown;
    try {
      response = await work(trx);
    } catch (error) {
      // A refusal (4xx) is the answer to this request and is replayed like a success; anything
      // else rolls the transaction back, releasing the key for a retry.
      const problem = clientProblemFrom(error);
      if (!problem) throw error;
      refusal = error; // rethrown as is after commit, so the error handler sees (and counts) it
      response = { statusCode: problem.status, headers: problem.headers, body: { ...problem.problem, instance: request.url.split('?', 1)[0] } };
    }
    await saveIdempotentResponse(trx, claim, response as StoredResponse);
    return { response: response as OperationResponse<B>, refusal };
  });

  if ('earlier' in outcome && outcome.earlier) {
    const { requestHash: earlierHash, response } = outcome.earlier;
    if (earlierHash !== claim.requestHash) {
      throw new ProblemError('idempotency-key-reused', 'This Idempotency-Key was used with a different request; use a new key for a new request.');
    }
    reply.header('idempotent-replayed', 'true');
    if (response.statusCode >= 400) throw ProblemError.replay(response.body as ProblemError['problem'], { ...response.headers, 'idempotent-replayed': 'true' });
    return send(reply, response as OperationResponse<B>);
  }
  if (outcome.refusal !== undefined) throw outcome.refusal;
  return send(reply, outcome.response!);
}

function send<B>(reply: FastifyReply, response: OperationResponse<B>): B {
  reply.code(response.statusCode).headers(response.headers);
  return response.body;
}

/** The same operation with the same normalised input (key order aside) hashes the same. */
function requestHash(request: FastifyRequest, fingerprint: unknown): string {
  const operation = `${request.method} ${request.routeOptions.url ?? ''}`;
  return createHash('sha256').update(operation).update('\n').update(canonicalJson(fingerprint)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
