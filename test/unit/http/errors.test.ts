import type { FastifyRequest } from 'fastify';
import t from 'tap';
import type { OpenApiDocument } from '../../../src/http/contract.js';
import { ProblemMappings, clientErrorResponse, problemFrom, unmatchedRouteProblem } from '../../../src/http/errors.js';
import { ProblemError, notFound } from '../../../src/http/problem.js';

/** The parts of a raw HTTP/1.1 response: status line, headers by lower-case name, body. */
function parseResponse(raw: string) {
  const [head = '', body = ''] = raw.split('\r\n\r\n');
  const [statusLine, ...headerLines] = head.split('\r\n');
  const headers = Object.fromEntries(
    headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 2)]),
  );
  return { statusLine, headers, body };
}

t.test('headers too large: 431 problem, as a whole well-formed HTTP/1.1 response', async (t) => {
  const body =
    '{"type":"about:blank","title":"Request Header Fields Too Large","status":431,"detail":"The request headers are too large."}';
  t.equal(
    clientErrorResponse({ code: 'HPE_HEADER_OVERFLOW' }),
    'HTTP/1.1 431 Request Header Fields Too Large\r\n' +
      'Content-Type: application/problem+json\r\n' +
      `Content-Length: ${body.length}\r\n` +
      'Connection: close\r\n' +
      '\r\n' +
      body,
  );
});

t.test('a request not received in time: 408 problem', async (t) => {
  const { statusLine, headers, body } = parseResponse(clientErrorResponse({ code: 'ERR_HTTP_REQUEST_TIMEOUT' }));
  t.equal(statusLine, 'HTTP/1.1 408 Request Timeout');
  t.equal(headers['content-type'], 'application/problem+json');
  t.equal(headers.connection, 'close');
  t.strictSame(JSON.parse(body), {
    type: 'about:blank',
    title: 'Request Timeout',
    status: 408,
    detail: 'The request was not received in time.',
  });
});

t.test('any other parse failure: 400 problem', async (t) => {
  for (const error of [{ code: 'HPE_INVALID_METHOD' }, { code: 'HPE_INVALID_HEADER_TOKEN' }, {}]) {
    const { statusLine, body } = parseResponse(clientErrorResponse(error));
    t.equal(statusLine, 'HTTP/1.1 400 Bad Request', JSON.stringify(error));
    t.strictSame(JSON.parse(body), {
      type: 'about:blank',
      title: 'Bad Request',
      status: 400,
      detail: 'The request could not be parsed.',
    });
  }
});

t.test("Content-Length is the body's length in bytes, and the body is all that follows the headers", async (t) => {
  for (const code of ['HPE_HEADER_OVERFLOW', 'ERR_HTTP_REQUEST_TIMEOUT', 'HPE_INVALID_METHOD']) {
    const raw = clientErrorResponse({ code });
    const { headers, body } = parseResponse(raw);
    t.equal(Number(headers['content-length']), Buffer.byteLength(body), code);
    t.ok(raw.endsWith(`\r\n\r\n${body}`), `${code}: nothing after the body`);
  }
});

const contract: OpenApiDocument = {
  openapi: '3.1.0',
  paths: {
    '/orders': { summary: 'Orders', parameters: [], get: {}, post: {} },
    '/orders/{orderId}': { get: {}, put: {}, delete: {} },
    '/services/{serviceId}/usage.csv': { post: {} },
  },
};
const unmatched = unmatchedRouteProblem(contract);
const request = (method: string, url: string) => ({ method, url }) as FastifyRequest;

t.test(
  'a known path with a method it lacks is 405, with Allow listing its methods and HEAD where GET is',
  async (t) => {
    const problem = unmatched(request('PATCH', '/orders/223?x=1'));
    t.equal(problem.status, 405);
    t.strictSame(problem.headers, { allow: 'GET, PUT, DELETE, HEAD' });
    t.strictSame(problem.problem, {
      type: '/problems/method-not-allowed',
      title: 'Method not allowed',
      status: 405,
      detail: 'PATCH is not allowed on /orders/223; allowed: GET, PUT, DELETE, HEAD.',
    });
  },
);

t.test('Allow lists only HTTP methods of the path item, not its other members', async (t) => {
  t.strictSame(unmatched(request('DELETE', '/orders')).headers, { allow: 'GET, POST, HEAD' });
});

t.test('a path without GET gets no HEAD in Allow', async (t) => {
  t.strictSame(unmatched(request('GET', '/services/7/usage.csv')).headers, { allow: 'POST' });
});

t.test('an unknown path is 404 naming the method and path, without the query', async (t) => {
  const problem = unmatched(request('GET', '/nope?token=x'));
  t.strictSame(problem.headers, {});
  t.strictSame(problem.problem, {
    type: '/problems/not-found',
    title: 'Not found',
    status: 404,
    detail: 'There is no route GET /nope.',
  });
});

t.test('a path parameter matches one whole segment, and literal characters match only themselves', async (t) => {
  t.equal(unmatched(request('PATCH', '/orders/223/extra')).status, 404, 'one segment more');
  t.equal(unmatched(request('PATCH', '/orders/')).status, 404, 'an empty segment');
  t.equal(unmatched(request('PATCH', '/orders/223/')).status, 404, 'a trailing slash');
  t.equal(unmatched(request('GET', '/services/7/usageXcsv')).status, 404, 'a dot in a template is not a wildcard');
  t.equal(unmatched(request('GET', '/prefix/orders')).status, 404, 'anchored at the start');
});

t.test('ProblemMappings asks each mapping in the order added; the first answer wins', async (t) => {
  const asked: string[] = [];
  const mappings = new ProblemMappings();
  mappings.add((error) => {
    asked.push('first');
    return error === 'a' ? notFound('first') : undefined;
  });
  mappings.add((error) => {
    asked.push('second');
    return error === 'a' || error === 'b' ? notFound('second') : undefined;
  });
  mappings.add(() => {
    asked.push('third');
    return notFound('third');
  });
  t.equal(mappings.problemOf('a')?.problem.detail, 'first');
  t.strictSame(asked, ['first'], 'later mappings are not asked');
  asked.length = 0;
  t.equal(mappings.problemOf('b')?.problem.detail, 'second');
  t.strictSame(asked, ['first', 'second']);
});

t.test('ProblemMappings answers undefined when no mapping knows the error', async (t) => {
  const mappings = new ProblemMappings();
  t.equal(mappings.problemOf(new Error('x')), undefined, 'no mappings');
  mappings.add(() => undefined);
  t.equal(mappings.problemOf(new Error('x')), undefined);
});

const fakeRequest = { id: 'req-7', headers: { 'content-type': 'text/plain' } } as unknown as FastifyRequest;
const problemOf = (error: unknown, mappings = new ProblemMappings()) => problemFrom(error, fakeRequest, mappings);

t.test('problemFrom: a ProblemError is answered as it is; a refusal by its mapping', async (t) => {
  const given = new ProblemError('conflict', 'as given');
  t.equal(problemOf(given), given);
  const mappings = new ProblemMappings();
  const mapped = notFound('mapped');
  mappings.add((error) => (error instanceof RangeError ? mapped : undefined));
  t.equal(problemOf(new RangeError('x'), mappings), mapped);
});

t.test('problemFrom: a key check’s refusal is itself; a database failure while verifying is 503', async (t) => {
  const forbidden = new ProblemError('forbidden', 'lacks a scope');
  t.equal(problemOf(forbidden), forbidden);
  t.equal(problemOf({ code: 'ECONNREFUSED' }).status, 503, 'what the key lookup throws when Postgres is down');
});

t.test('problemFrom: a Fastify validation error becomes a 400 with field errors', async (t) => {
  const validation = [
    {
      instancePath: '/limit',
      schemaPath: '#/properties/limit/maximum',
      keyword: 'maximum',
      params: {},
      message: 'must be <= 100',
    },
  ];
  t.strictSame(problemOf({ validation, validationContext: 'querystring' }).problem.errors, [
    { path: '/query/limit', message: 'must be <= 100' },
  ]);
});

t.test("problemFrom: Fastify's body errors have their own problems", async (t) => {
  t.strictSame(problemOf({ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }).problem, {
    type: '/problems/payload-too-large',
    title: 'Payload too large',
    status: 413,
    detail: 'The request body is larger than 1 MiB.',
  });
  t.strictSame(problemOf({ code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }).problem, {
    type: '/problems/unsupported-media-type',
    title: 'Unsupported media type',
    status: 415,
    detail: 'Send the body as application/json (got text/plain).',
  });
  t.strictSame(problemOf({ code: 'FST_ERR_CTP_EMPTY_JSON_BODY', statusCode: 400 }).problem, {
    type: '/problems/validation',
    title: 'Invalid request',
    status: 400,
    detail: 'The request body is empty.',
    errors: [{ path: '/body', message: 'is empty' }],
  });
  t.strictSame(problemOf({ code: 'FST_ERR_CTP_INVALID_JSON_BODY', statusCode: 400 }).problem.errors, [
    { path: '/body', message: 'is not valid JSON' },
  ]);
});

t.test("problemFrom: Fastify's other client errors keep their status and message", async (t) => {
  t.strictSame(problemOf({ statusCode: 400, message: 'Body contains a forbidden prototype property' }).problem, {
    type: '/problems/validation',
    title: 'Invalid request',
    status: 400,
    detail: 'Body contains a forbidden prototype property',
    errors: [{ path: '/body', message: 'Body contains a forbidden prototype property' }],
  });
  t.strictSame(problemOf({ statusCode: 406, message: 'not acceptable' }).problem, {
    type: 'about:blank',
    title: 'Not Acceptable',
    status: 406,
    detail: 'not acceptable',
  });
});

t.test('problemFrom: database conditions are 503 with Retry-After, bad stored values 400', async (t) => {
  const deadlock = problemOf({ code: '40P01' });
  t.equal(deadlock.status, 503);
  t.strictSame(deadlock.headers, { 'retry-after': '1' });
  t.equal(deadlock.problem.detail, 'The write kept colliding with concurrent writes and did not complete; retry.');
  const down = problemOf(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
  t.equal(down.status, 503);
  t.strictSame(down.headers, { 'retry-after': '5' });
  t.equal(down.problem.detail, 'The database is unavailable; retry shortly.');
  t.strictSame(problemOf({ code: '22003', message: 'numeric field overflow' }).problem, {
    type: '/problems/validation',
    title: 'Invalid request',
    status: 400,
    detail: 'A value in the request is out of the range the service can store.',
    errors: [],
  });
});

t.test('problemFrom: anything else is a 500 that names only the request id, never the error', async (t) => {
  const expected = {
    type: '/problems/internal',
    title: 'Internal server error',
    status: 500,
    detail: 'An unexpected error occurred. Reference: req-7.',
  };
  t.strictSame(problemOf(new Error('relation "orders" does not exist')).problem, expected);
  t.strictSame(
    problemOf({ statusCode: 502, message: 'upstream said no' }).problem,
    expected,
    'a 5xx status is not trusted',
  );
  t.strictSame(problemOf('a thrown string').problem, expected);
});

t.test(
  'problemFrom: a thrown null or undefined is a 500 naming the request id, not a crash of the handler',
  async (t) => {
    for (const thrown of [null, undefined]) {
      const problem = problemOf(thrown);
      t.equal(problem.status, 500, String(thrown));
      t.equal(problem.problem.detail, 'An unexpected error occurred. Reference: req-7.');
    }
  },
);
