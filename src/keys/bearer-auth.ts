import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ProblemError } from '../http/problem.js';
import type { Caller } from './model.js';
import type { KeyVerifier } from './verifier.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller; set by the key check (bearerAuth) on every operation that needs a key. */
    caller: Caller | null;
    /** The Authorization header's bearer token once read (null: none); see bearerTokenOf. */
    bearer: string | null | undefined;
  }
}

const REALM = 'Bearer realm="orders-service"';
const BEARER = /^Bearer +([A-Za-z0-9_-]{1,200})$/i;

/** The token of an `Authorization: Bearer <token>` header, if it has that form. */
export function bearerToken(header: string | undefined): string | undefined {
  return header === undefined ? undefined : BEARER.exec(header)?.[1];
}

/** The request's bearer token, read once: the rate limiter and the key check both need it. */
export function bearerTokenOf(request: FastifyRequest): string | undefined {
  let token = request.bearer;
  if (token === undefined) request.bearer = token = bearerToken(request.headers.authorization) ?? null;
  return token ?? undefined;
}

function unauthorized(detail: string, challenge: string): ProblemError {
  return new ProblemError('unauthorized', detail, {}, { 'www-authenticate': challenge });
}

function invalidKey(): ProblemError {
  return unauthorized('The API key is not valid (unknown, revoked or malformed).', `${REALM}, error="invalid_token"`);
}

/**
 * The onRequest hook of an operation that needs a key (`security: [{ apiKey: [scopes] }]` in
 * openapi.yaml): `Authorization: Bearer <key>` with those scopes. 401 without a valid key, 403
 * without the scope. Callback-style: a key this process verified within the cache lifetime is
 * admitted at once, with no promise; only a lookup waits. The key itself is never logged (the
 * request log has no headers).
 */
export function bearerAuth(verifier: KeyVerifier, requiredScopes: readonly string[]) {
  const admit = (request: FastifyRequest, caller: Caller | null): ProblemError | undefined => {
    if (!caller) return invalidKey();
    const missing = requiredScopes.filter((scope) => !caller.scopes.includes(scope));
    if (missing.length > 0) {
      return new ProblemError(
        'forbidden',
        `The API key "${caller.name}" lacks the scope ${missing.join(', ')} this operation needs.`,
        {},
        {
          'www-authenticate': `${REALM}, error="insufficient_scope", scope="${requiredScopes.join(' ')}"`,
        },
      );
    }
    request.caller = caller;
    return undefined;
  };
  return (request: FastifyRequest, _reply: FastifyReply, done: (error?: FastifyError) => void): void => {
    const header = request.headers.authorization;
    if (header === undefined) {
      return done(hookError(unauthorized('Send an API key as Authorization: Bearer <key>.', REALM)));
    }
    const token = bearerTokenOf(request);
    if (token === undefined) return done(hookError(invalidKey()));
    const known = verifier.freshAnswer(token);
    if (known !== undefined) return done(hookError(admit(request, known)));
    verifier.verifyFor(request, token).then(
      (caller) => done(hookError(admit(request, caller ?? null))),
      (error: unknown) => done(error as FastifyError),
    );
  };
}

/** Fastify types a hook's error as its own; the error handler takes any error (a problem here). */
const hookError = (problem: ProblemError | undefined) => problem as unknown as FastifyError | undefined;

/** The methods that never write. */
export const READS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A write looks at its key again just before it runs (a preHandler: the body has arrived and been
 * validated). The key was checked when the headers arrived, but the body may take up to the
 * request timeout to follow; without this second look a key revoked meanwhile could still write
 * that long after. The look goes through the verifier's cache, so it costs nothing while the entry
 * is fresh, and a revocation bites any write that starts running more than the cache lifetime
 * (API_KEY_CACHE_SECONDS) after it.
 */
export function recheckBeforeWrite(verifier: KeyVerifier) {
  return async (request: FastifyRequest): Promise<void> => {
    if (request.caller === null || READS.has(request.method)) return;
    const token = bearerTokenOf(request);
    const caller = token === undefined ? undefined : await verifier.verify(token);
    if (caller?.keyId !== request.caller.keyId) throw invalidKey();
  };
}
