import type { FastifyReply, FastifyRequest } from 'fastify';
import t from 'tap';
import { problemRejectedBy } from '../../helpers/problems.js';
import { bearerAuth, bearerToken, bearerTokenOf } from '../../../src/keys/bearer-auth.js';
import type { Caller } from '../../../src/keys/model.js';
import type { KeyVerifier } from '../../../src/keys/verifier.js';

t.test('the token of "Bearer <token>"', async (t) => {
  t.equal(bearerToken('Bearer osk_abc-DEF_123'), 'osk_abc-DEF_123');
});

t.test('the scheme is case-insensitive', async (t) => {
  t.equal(bearerToken('bearer abc'), 'abc');
  t.equal(bearerToken('BEARER abc'), 'abc');
  t.equal(bearerToken('bEaReR abc'), 'abc');
});

t.test('extra spaces between scheme and token are allowed', async (t) => {
  t.equal(bearerToken('Bearer    abc'), 'abc');
});

t.test('no header, another scheme or a missing token is no token', async (t) => {
  t.equal(bearerToken(undefined), undefined);
  t.equal(bearerToken(''), undefined);
  t.equal(bearerToken('Basic YWxhZGRpbjpvcGVuc2VzYW1l'), undefined);
  t.equal(bearerToken('Bearer'), undefined);
  t.equal(bearerToken('Bearer '), undefined);
  t.equal(bearerToken('Bearerabc'), undefined, 'no space after the scheme');
  t.equal(bearerToken('abc'), undefined, 'a bare token');
});

t.test('a token with characters outside base64url is no token', async (t) => {
  for (const header of [
    'Bearer a.b',
    'Bearer a+b',
    'Bearer a/b',
    'Bearer a=',
    'Bearer a b',
    'Bearer abc ',
    ' Bearer abc',
    'Bearer\tabc',
    'Bearer ab\u00e9',
  ]) {
    t.equal(bearerToken(header), undefined, JSON.stringify(header));
  }
});

t.test('a token of up to 200 characters is read; a longer one is no token', async (t) => {
  t.equal(bearerToken(`Bearer ${'a'.repeat(200)}`), 'a'.repeat(200));
  t.equal(bearerToken(`Bearer ${'a'.repeat(201)}`), undefined);
});

const alice: Caller = { keyId: '1', name: 'alice', scopes: ['orders:read'] };

/**
 * A verifier that knows some keys, recording the tokens it was asked about. With `cached`, it has
 * verified them recently (freshAnswer answers); without, each takes a lookup (verifyFor).
 */
function verifierFor(known: Record<string, Caller>, { cached = false } = {}) {
  const asked: string[] = [];
  const verifier = {
    freshAnswer: (token: string) => (cached ? (known[token] ?? null) : undefined),
    async verifyFor(_request: FastifyRequest, token: string) {
      asked.push(token);
      return known[token];
    },
  } as unknown as KeyVerifier;
  return { verifier, asked };
}

function requestWith(authorization?: string) {
  return { headers: authorization === undefined ? {} : { authorization }, caller: null } as unknown as FastifyRequest;
}

const reply = {} as FastifyReply;

/** Runs the hook; resolves when it calls done, rejecting with the error it passes. */
function authenticate(hook: ReturnType<typeof bearerAuth>, request: FastifyRequest): Promise<void> & { sync: boolean } {
  let sync = false;
  let calledBack = false;
  const running = new Promise<void>((resolve, reject) => {
    hook(request, reply, (error) => {
      calledBack = true;
      if (error) reject(error);
      else resolve();
    });
    sync = calledBack;
  });
  return Object.assign(running, { sync });
}

t.test('bearerAuth: without an Authorization header, 401 with the Bearer challenge', async (t) => {
  const { verifier, asked } = verifierFor({});
  const error = await problemRejectedBy(authenticate(bearerAuth(verifier, ['orders:read']), requestWith()));
  t.strictSame(error.problem, {
    type: '/problems/unauthorized',
    title: 'Unauthorized',
    status: 401,
    detail: 'Send an API key as Authorization: Bearer <key>.',
  });
  t.strictSame(error.headers, { 'www-authenticate': 'Bearer realm="orders-service"' });
  t.strictSame(asked, []);
});

t.test('bearerAuth: a malformed header is 401 invalid_token without asking the verifier', async (t) => {
  const { verifier, asked } = verifierFor({ abc: alice });
  const error = await problemRejectedBy(authenticate(bearerAuth(verifier, []), requestWith('Basic abc')));
  t.equal(error.status, 401);
  t.equal(error.problem.detail, 'The API key is not valid (unknown, revoked or malformed).');
  t.strictSame(error.headers, { 'www-authenticate': 'Bearer realm="orders-service", error="invalid_token"' });
  t.strictSame(asked, []);
});

t.test('bearerAuth: an unknown key is 401 invalid_token', async (t) => {
  const { verifier, asked } = verifierFor({ abc: alice });
  const error = await problemRejectedBy(authenticate(bearerAuth(verifier, []), requestWith('Bearer nope')));
  t.equal(error.status, 401);
  t.strictSame(error.headers, { 'www-authenticate': 'Bearer realm="orders-service", error="invalid_token"' });
  t.strictSame(asked, ['nope']);
});

t.test('bearerAuth: a key without a required scope is 403 insufficient_scope naming it', async (t) => {
  const { verifier } = verifierFor({ abc: alice });
  const error = await problemRejectedBy(
    authenticate(bearerAuth(verifier, ['orders:read', 'orders:write']), requestWith('Bearer abc')),
  );
  t.strictSame(error.problem, {
    type: '/problems/forbidden',
    title: 'Forbidden',
    status: 403,
    detail: 'The API key "alice" lacks the scope orders:write this operation needs.',
  });
  t.strictSame(error.headers, {
    'www-authenticate': 'Bearer realm="orders-service", error="insufficient_scope", scope="orders:read orders:write"',
  });
});

t.test('bearerAuth: a key with every required scope sets the caller', async (t) => {
  const { verifier } = verifierFor({ abc: alice });
  const request = requestWith('bearer  abc');
  await authenticate(bearerAuth(verifier, ['orders:read']), request);
  t.equal(request.caller, alice);
});

t.test('bearerAuth: a lookup that fails (database down) hands its error on, not a 401', async (t) => {
  const down = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  const verifier = {
    freshAnswer: () => undefined,
    verifyFor: () => Promise.reject(down),
  } as unknown as KeyVerifier;
  await t.rejects(authenticate(bearerAuth(verifier, []), requestWith('Bearer abc')), down);
});

t.test('bearerAuth: a key verified within the cache lifetime is judged at once, without a lookup', async (t) => {
  const { verifier, asked } = verifierFor({ abc: alice }, { cached: true });
  const request = requestWith('Bearer abc');
  const admitted = authenticate(bearerAuth(verifier, ['orders:read']), request);
  t.ok(admitted.sync, 'done was called before the hook returned');
  await admitted;
  t.equal(request.caller, alice);
  const refused = authenticate(bearerAuth(verifier, ['orders:read']), requestWith('Bearer nope'));
  t.ok(refused.sync, 'a known-invalid key too');
  t.equal((await problemRejectedBy(refused)).status, 401);
  const forbidden = authenticate(bearerAuth(verifier, ['orders:write']), requestWith('Bearer abc'));
  t.equal((await problemRejectedBy(forbidden)).status, 403);
  t.strictSame(asked, [], 'the verifier was never asked to look a key up');
});

t.test("a request's bearer token is read from its header once", async (t) => {
  let reads = 0;
  const requestWith = (authorization: string | undefined) =>
    ({
      bearer: undefined,
      get headers() {
        reads += 1;
        return { authorization };
      },
    }) as unknown as FastifyRequest;
  const request = requestWith('Bearer osk_abc');
  t.equal(bearerTokenOf(request), 'osk_abc');
  t.equal(bearerTokenOf(request), 'osk_abc');
  t.equal(reads, 1, 'the rate limiter and the key check share one reading');
  reads = 0;
  const none = requestWith('Basic YWxhZGRpbg==');
  t.equal(bearerTokenOf(none), undefined);
  t.equal(bearerTokenOf(none), undefined);
  t.equal(reads, 1, 'no token is remembered too');
});
