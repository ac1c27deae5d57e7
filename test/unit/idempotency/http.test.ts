import type { FastifyReply, FastifyRequest } from 'fastify';
import t from 'tap';
import { problemThrownBy, storedScheduleConflict } from '../../helpers/problems.js';
import { ProblemError, notFound } from '../../../src/http/problem.js';
import { idempotencyProblem, idempotentRequestOf, respond, respondOnce } from '../../../src/idempotency/http.js';
import { IdempotencyKeyReusedError, type StoredResponse } from '../../../src/idempotency/model.js';

interface FakeRequest {
  headers: Record<string, string>;
  caller: { keyId: string; name: string; scopes: string[] } | null;
  method: string;
  url: string;
  routeOptions: { url: string };
}

function keyedRequest(overrides: Partial<FakeRequest> = {}): FastifyRequest {
  const request: FakeRequest = {
    headers: { 'idempotency-key': 'key-1' },
    caller: { keyId: '42', name: 'alice', scopes: ['orders:write'] },
    method: 'POST',
    url: '/orders?trace=1',
    routeOptions: { url: '/orders' },
    ...overrides,
  };
  return request as unknown as FastifyRequest;
}

const answer = (value: { id: string }): StoredResponse => ({
  statusCode: 201,
  headers: { location: `/orders/${value.id}` },
  body: value,
});
const noProblems = () => undefined;
const fingerprint = { datetime: '2022-11-01T11:11:11.111Z', totalfee: '100', serviceIds: [1, 2] };

function hashOf(request: FastifyRequest, print: unknown = fingerprint): string | undefined {
  return idempotentRequestOf(request, print, answer, noProblems)?.claim.requestHash;
}

/** A reply that records what is sent with it. */
function fakeReply() {
  const calls: unknown[][] = [];
  const reply = {
    code(status: number) {
      calls.push(['code', status]);
      return reply;
    },
    headers(headers: Record<string, string>) {
      calls.push(['headers', headers]);
      return reply;
    },
    header(name: string, value: string) {
      calls.push(['header', name, value]);
      return reply;
    },
  };
  return { reply: reply as unknown as FastifyReply, calls };
}

t.test('a request without an Idempotency-Key is not keyed: it simply runs', async (t) => {
  t.equal(idempotentRequestOf(keyedRequest({ headers: {} }), fingerprint, answer, noProblems), undefined);
});

t.test('a request without a verified caller is not keyed (keys are per API key)', async (t) => {
  t.equal(idempotentRequestOf(keyedRequest({ caller: null }), fingerprint, answer, noProblems), undefined);
});

t.test("a keyed request claims the caller's key id, the key and a SHA-256 request hash", async (t) => {
  const keyed = idempotentRequestOf(keyedRequest(), fingerprint, answer, noProblems);
  t.equal(keyed?.claim.apiKeyId, '42');
  t.equal(keyed?.claim.key, 'key-1');
  t.match(keyed?.claim.requestHash, /^[0-9a-f]{64}$/);
  t.equal(keyed?.answer, answer);
});

t.test('the same input with object keys in another order has the same request hash', async (t) => {
  const reordered = { serviceIds: [1, 2], totalfee: '100', datetime: '2022-11-01T11:11:11.111Z' };
  t.equal(hashOf(keyedRequest(), reordered), hashOf(keyedRequest()));
  t.equal(
    hashOf(keyedRequest(), { a: { y: 1, x: [{ q: 1, p: 2 }] } }),
    hashOf(keyedRequest(), { a: { x: [{ p: 2, q: 1 }], y: 1 } }),
    'nested',
  );
});

t.test('the key and the query string are not part of the request hash', async (t) => {
  t.equal(hashOf(keyedRequest({ headers: { 'idempotency-key': 'other' }, url: '/orders' })), hashOf(keyedRequest()));
});

t.test('different input has a different request hash', async (t) => {
  t.not(hashOf(keyedRequest(), { ...fingerprint, totalfee: '101' }), hashOf(keyedRequest()));
  t.not(hashOf(keyedRequest(), { ...fingerprint, serviceIds: [2, 1] }), hashOf(keyedRequest()), 'array order counts');
  t.not(hashOf(keyedRequest(), { ...fingerprint, totalfee: 100 }), hashOf(keyedRequest()), '100 is not "100"');
  t.not(hashOf(keyedRequest(), { ...fingerprint, extra: null }), hashOf(keyedRequest()), 'an extra member');
});

t.test('a different operation (method or route) has a different request hash for the same input', async (t) => {
  t.not(hashOf(keyedRequest({ method: 'PUT' })), hashOf(keyedRequest()));
  t.not(hashOf(keyedRequest({ routeOptions: { url: '/services' } })), hashOf(keyedRequest()));
});

t.test('answerRefusal stores a 4xx ProblemError with instance set to the path', async (t) => {
  const keyed = idempotentRequestOf(keyedRequest(), fingerprint, answer, noProblems)!;
  const refusal = new ProblemError('precondition-failed', 'changed', {}, { etag: '"1-2"' });
  t.strictSame(keyed.answerRefusal(refusal), {
    statusCode: 412,
    headers: { etag: '"1-2"' },
    body: {
      type: '/problems/precondition-failed',
      title: 'Precondition failed',
      status: 412,
      detail: 'changed',
      instance: '/orders',
    },
  });
  t.equal(refusal.problem.instance, undefined, 'the error itself is left as it was');
});

t.test("answerRefusal stores a feature's refusal through its problem mapping", async (t) => {
  class Gone extends Error {}
  const keyed = idempotentRequestOf(keyedRequest(), fingerprint, answer, (error) =>
    error instanceof Gone ? notFound('gone') : undefined,
  )!;
  t.strictSame(keyed.answerRefusal(new Gone()), {
    statusCode: 404,
    headers: {},
    body: { type: '/problems/not-found', title: 'Not found', status: 404, detail: 'gone', instance: '/orders' },
  });
});

t.test('answerRefusal stores nothing for a 5xx or an unknown error (a fault rolls back)', async (t) => {
  const keyed = idempotentRequestOf(keyedRequest(), fingerprint, answer, noProblems)!;
  t.equal(keyed.answerRefusal(new ProblemError('unavailable', 'down')), undefined);
  t.equal(keyed.answerRefusal(new ProblemError('internal', 'bug')), undefined);
  t.equal(keyed.answerRefusal(new Error('boom')), undefined);
  t.equal(keyed.answerRefusal({ code: '23P01' }), undefined);
});

t.test('respond sends the status and headers and returns the body', async (t) => {
  const { reply, calls } = fakeReply();
  const body = { id: '7' };
  t.equal(respond(reply, { statusCode: 201, headers: { location: '/orders/7' }, body }), body);
  t.strictSame(calls, [
    ['code', 201],
    ['headers', { location: '/orders/7' }],
  ]);
});

t.test('respondOnce: a fresh outcome is sent as its response', async (t) => {
  const { reply, calls } = fakeReply();
  const response = answer({ id: '7' });
  t.equal(respondOnce(reply, { kind: 'fresh', value: { id: '7' }, response }), response.body);
  t.strictSame(calls, [
    ['code', 201],
    ['headers', { location: '/orders/7' }],
  ]);
});

t.test('respondOnce: a refused outcome throws the refusal as it was', async (t) => {
  const { reply, calls } = fakeReply();
  const refusal = notFound('no');
  t.throws(() => respondOnce(reply, { kind: 'refused', refusal }), refusal);
  t.strictSame(calls, []);
});

t.test('respondOnce: a replayed success is sent again, marked idempotent-replayed', async (t) => {
  const { reply, calls } = fakeReply();
  const response = answer({ id: '7' });
  t.equal(respondOnce(reply, { kind: 'replayed', response }), response.body);
  t.strictSame(calls, [
    ['header', 'idempotent-replayed', 'true'],
    ['code', 201],
    ['headers', { location: '/orders/7' }],
  ]);
});

t.test('respondOnce: a replayed 4xx throws a ProblemError with the stored body and the replay header', async (t) => {
  const { reply } = fakeReply();
  const stored = storedScheduleConflict;
  const error = problemThrownBy(() =>
    respondOnce(reply, {
      kind: 'replayed',
      response: { statusCode: 409, headers: { 'retry-after': '1' }, body: structuredClone(stored) },
    }),
  );
  t.equal(error.status, 409);
  t.strictSame(error.problem, stored);
  t.strictSame(error.headers, { 'retry-after': '1', 'idempotent-replayed': 'true' });
});

t.test('a reused key with a different request is a 422', async (t) => {
  t.strictSame(idempotencyProblem(new IdempotencyKeyReusedError())?.problem, {
    type: '/problems/idempotency-key-reused',
    title: 'Idempotency key reused',
    status: 422,
    detail: 'This Idempotency-Key was used with a different request; use a new key for a new request.',
  });
  t.equal(idempotencyProblem(new Error('x')), undefined);
});
