import t from 'tap';
import { storedScheduleConflict } from '../../helpers/problems.js';
import { ProblemError, bodyIdMismatch, invalidRequest, notFound } from '../../../src/http/problem.js';
import { Refusal } from '../../../src/refusal.js';

t.test('a ProblemError holds the problem body of its kind, with status, title and detail', async (t) => {
  const error = new ProblemError(
    'schedule-conflict',
    'Order 7 is in the way.',
    { conflictingOrderId: '7' },
    { 'retry-after': '1' },
  );
  t.strictSame(error.problem, {
    type: '/problems/schedule-conflict',
    title: 'Schedule conflict',
    status: 409,
    detail: 'Order 7 is in the way.',
    conflictingOrderId: '7',
  });
  t.equal(error.status, 409);
  t.equal(error.message, 'Order 7 is in the way.');
  t.strictSame(error.headers, { 'retry-after': '1' });
});

t.test('a ProblemError is a Refusal: an expected answer, so an Error without a stack of frames', async (t) => {
  const error = new ProblemError('not-found', 'gone');
  t.ok(error instanceof Refusal);
  t.ok(error instanceof Error);
  t.notMatch(error.stack ?? '', /\n\s+at /);
});

t.test('without extensions or headers a ProblemError has only the standard members and no headers', async (t) => {
  const error = new ProblemError('unavailable', 'The database is unavailable; retry shortly.');
  t.strictSame(error.problem, {
    type: '/problems/unavailable',
    title: 'Service unavailable',
    status: 503,
    detail: 'The database is unavailable; retry shortly.',
  });
  t.strictSame(error.headers, {});
});

t.test('each problem kind has its status and title', async (t) => {
  const expected: [ConstructorParameters<typeof ProblemError>[0], number, string][] = [
    ['validation', 400, 'Invalid request'],
    ['unauthorized', 401, 'Unauthorized'],
    ['forbidden', 403, 'Forbidden'],
    ['not-found', 404, 'Not found'],
    ['method-not-allowed', 405, 'Method not allowed'],
    ['schedule-conflict', 409, 'Schedule conflict'],
    ['conflict', 409, 'Conflict'],
    ['precondition-failed', 412, 'Precondition failed'],
    ['payload-too-large', 413, 'Payload too large'],
    ['unsupported-media-type', 415, 'Unsupported media type'],
    ['unknown-service', 422, 'Unknown service'],
    ['idempotency-key-reused', 422, 'Idempotency key reused'],
    ['rate-limited', 429, 'Too many requests'],
    ['internal', 500, 'Internal server error'],
    ['unavailable', 503, 'Service unavailable'],
  ];
  for (const [kind, status, title] of expected) {
    const { problem } = new ProblemError(kind, 'x');
    t.strictSame([problem.type, problem.status, problem.title], [`/problems/${kind}`, status, title], kind);
  }
});

t.test('invalidRequest is a 400 listing the field errors, with a default detail', async (t) => {
  const error = invalidRequest([{ path: '/query/limit', message: 'must be <= 100' }]);
  t.equal(error.status, 400);
  t.strictSame(error.problem, {
    type: '/problems/validation',
    title: 'Invalid request',
    status: 400,
    detail: 'The request does not match the API contract.',
    errors: [{ path: '/query/limit', message: 'must be <= 100' }],
  });
});

t.test('invalidRequest takes its own detail, and may have no field errors', async (t) => {
  t.strictSame(invalidRequest([], 'The request body is empty.').problem, {
    type: '/problems/validation',
    title: 'Invalid request',
    status: 400,
    detail: 'The request body is empty.',
    errors: [],
  });
});

t.test('notFound is a 404 with the given detail', async (t) => {
  t.strictSame(notFound('There is no order 5.').problem, {
    type: '/problems/not-found',
    title: 'Not found',
    status: 404,
    detail: 'There is no order 5.',
  });
});

t.test('bodyIdMismatch names the resource and the path id at /body/id', async (t) => {
  t.strictSame(bodyIdMismatch('order', '223'), {
    path: '/body/id',
    message: 'must equal the order id in the path (223) or be left out',
  });
  t.strictSame(bodyIdMismatch('service', 12), {
    path: '/body/id',
    message: 'must equal the service id in the path (12) or be left out',
  });
});

t.test('ProblemError.replay sends a stored problem again exactly as it was, with its headers', async (t) => {
  const stored = storedScheduleConflict;
  const error = ProblemError.replay(structuredClone(stored), { 'idempotent-replayed': 'true' });
  t.ok(error instanceof ProblemError);
  t.strictSame(error.problem, stored, 'not rebuilt from a kind: instance and extensions stay');
  t.equal(error.status, 409, 'the status is the stored one');
  t.equal(error.message, stored.detail);
  t.strictSame(error.headers, { 'idempotent-replayed': 'true' });
});

t.test('ProblemError.replay keeps a type the kinds do not know', async (t) => {
  const stored = { type: 'about:blank', title: "I'm a teapot", status: 418, detail: 'short and stout' };
  t.strictSame(ProblemError.replay({ ...stored }, {}).problem, stored);
  t.equal(ProblemError.replay({ ...stored }, {}).status, 418);
});
