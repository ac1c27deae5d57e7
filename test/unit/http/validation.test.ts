import type { ErrorObject } from 'ajv';
import t from 'tap';
import { fieldErrorsFrom, validatorCompiler } from '../../../src/http/validation.js';

type Validate = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

/** The validator Fastify would get for one part of a route. */
function compile(schema: object, httpPart: 'body' | 'querystring' | 'params' | 'headers'): Validate {
  return validatorCompiler({ schema, httpPart, method: 'GET', url: '/test' }) as Validate;
}

/** Validates `data` and returns the field errors of the refusal (fails the test if `data` is valid). */
function refusal(schema: object, httpPart: 'body' | 'querystring' | 'params' | 'headers', data: unknown) {
  const validate = compile(schema, httpPart);
  if (validate(data)) throw new Error(`expected ${JSON.stringify(data)} to be refused`);
  return fieldErrorsFrom(validate.errors ?? [], httpPart);
}

const orderSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['datetime', 'totalfee'],
  properties: {
    datetime: {
      type: 'string',
      format: 'date-time',
      pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$',
      'x-error-message': 'must be an RFC 3339 date-time with Z or an offset',
    },
    totalfee: { type: 'number', minimum: 0 },
    name: { type: 'string', minLength: 3, pattern: '^[a-z]+$', 'x-error-message': 'must be lower-case letters' },
    id: { type: ['string', 'integer'], 'x-error-message': 'must be an id as digits or a number' },
  },
};
const validOrder = { datetime: '2022-11-01T11:11:11Z', totalfee: 1 };

t.test('a missing property is reported at its own path as required', async (t) => {
  t.strictSame(refusal(orderSchema, 'body', { totalfee: 1 }), [{ path: '/body/datetime', message: 'is required' }]);
});

t.test('one entry per field: the first rule it breaks', async (t) => {
  // 'A' is both too short and not lower-case: one entry, the first rule's message.
  t.strictSame(refusal(orderSchema, 'body', { ...validOrder, name: 'A' }), [
    { path: '/body/name', message: 'must NOT have fewer than 3 characters' },
  ]);
});

t.test('every invalid field is reported, each once', async (t) => {
  t.strictSame(refusal(orderSchema, 'body', { datetime: 'soon', totalfee: -1, name: 'ab' }), [
    { path: '/body/datetime', message: 'must be an RFC 3339 date-time with Z or an offset' },
    { path: '/body/totalfee', message: 'must be >= 0' },
    { path: '/body/name', message: 'must NOT have fewer than 3 characters' },
  ]);
});

t.test('at most 20 entries, however many fields are invalid', async (t) => {
  const body = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`extra${i}`, i]));
  const errors = refusal(orderSchema, 'body', { ...validOrder, ...body });
  t.equal(errors.length, 20);
  t.strictSame(errors[0], {
    path: '/body/extra0',
    message: "unknown property 'extra0' (allowed: datetime, totalfee, name, id)",
  });
  t.strictSame(errors[19]?.path, '/body/extra19');
});

t.test('an unknown property that differs only in case gets a "did you mean" hint', async (t) => {
  t.strictSame(refusal(orderSchema, 'body', { datetime: validOrder.datetime, totalFee: 1, totalfee: 1 }), [
    { path: '/body/totalFee', message: "unknown property 'totalFee' (did you mean 'totalfee'?)" },
  ]);
});

t.test('an unknown property without a near name lists the allowed ones; without any, no hint', async (t) => {
  t.strictSame(refusal(orderSchema, 'body', { ...validOrder, colour: 'red' }), [
    { path: '/body/colour', message: "unknown property 'colour' (allowed: datetime, totalfee, name, id)" },
  ]);
  t.strictSame(refusal({ type: 'object', additionalProperties: false }, 'body', { colour: 'red' }), [
    { path: '/body/colour', message: "unknown property 'colour'" },
  ]);
});

t.test('an unknown property name is quoted back clipped to 100 characters', async (t) => {
  const long = 'x'.repeat(150);
  const clipped = `${'x'.repeat(100)}…`;
  t.strictSame(refusal({ type: 'object', additionalProperties: false }, 'body', { [long]: 1 }), [
    { path: `/body/${clipped}`, message: `unknown property '${clipped}'` },
  ]);
  const exact = 'y'.repeat(100);
  t.strictSame(
    refusal({ type: 'object', additionalProperties: false }, 'body', { [exact]: 1 }),
    [{ path: `/body/${exact}`, message: `unknown property '${exact}'` }],
    '100 characters are quoted whole',
  );
});

t.test('~ and / in a property name are escaped in the path (JSON Pointer)', async (t) => {
  t.strictSame(refusal({ type: 'object', additionalProperties: false }, 'body', { 'a/b~c': 1 }), [
    { path: '/body/a~1b~0c', message: "unknown property 'a/b~c'" },
  ]);
  t.strictSame(refusal({ type: 'object', required: ['x/y~'] }, 'body', {}), [
    { path: '/body/x~1y~0', message: 'is required' },
  ]);
});

t.test("a schema's x-error-message replaces the message of a pattern or format error", async (t) => {
  t.strictSame(
    refusal(orderSchema, 'body', { ...validOrder, datetime: '2022-11-01T11:11:11' }),
    [{ path: '/body/datetime', message: 'must be an RFC 3339 date-time with Z or an offset' }],
    'pattern',
  );
  t.strictSame(
    refusal(orderSchema, 'body', { ...validOrder, datetime: '2022-02-30T00:00:00Z' }),
    [{ path: '/body/datetime', message: 'must be an RFC 3339 date-time with Z or an offset' }],
    'format (matches the pattern, not a real date)',
  );
  t.strictSame(refusal(orderSchema, 'body', { ...validOrder, name: 'abcD' }), [
    { path: '/body/name', message: 'must be lower-case letters' },
  ]);
});

t.test('x-error-message also explains a union type, but never other rules', async (t) => {
  t.strictSame(refusal(orderSchema, 'body', { ...validOrder, id: true }), [
    { path: '/body/id', message: 'must be an id as digits or a number' },
  ]);
  t.strictSame(
    refusal(orderSchema, 'body', { ...validOrder, name: 7 }),
    [{ path: '/body/name', message: 'must be string' }],
    'a single type',
  );
  t.strictSame(
    refusal(orderSchema, 'body', { ...validOrder, name: 'ab' }),
    [{ path: '/body/name', message: 'must NOT have fewer than 3 characters' }],
    'minLength',
  );
});

t.test('paths start with the part of the request: /body, /query, /path, /header', async (t) => {
  const error: ErrorObject = {
    instancePath: '/x',
    schemaPath: '#/properties/x/type',
    keyword: 'type',
    params: { type: 'integer' },
    message: 'must be integer',
  };
  t.strictSame(fieldErrorsFrom([error], 'body'), [{ path: '/body/x', message: 'must be integer' }]);
  t.strictSame(fieldErrorsFrom([error], 'querystring'), [{ path: '/query/x', message: 'must be integer' }]);
  t.strictSame(fieldErrorsFrom([error], 'params'), [{ path: '/path/x', message: 'must be integer' }]);
  t.strictSame(fieldErrorsFrom([error], 'headers'), [{ path: '/header/x', message: 'must be integer' }]);
  t.strictSame(fieldErrorsFrom([error], 'request'), [{ path: '/request/x', message: 'must be integer' }]);
  t.strictSame(
    fieldErrorsFrom([{ ...error, message: undefined }], 'body'),
    [{ path: '/body/x', message: 'is invalid' }],
    'no message',
  );
});

t.test('bodies are not coerced: "100" is not a number and null is not 0', async (t) => {
  t.strictSame(refusal(orderSchema, 'body', { ...validOrder, totalfee: '100' }), [
    { path: '/body/totalfee', message: 'must be number' },
  ]);
  t.strictSame(refusal(orderSchema, 'body', { ...validOrder, totalfee: null }), [
    { path: '/body/totalfee', message: 'must be number' },
  ]);
});

t.test('an oversized body array is refused on its length alone, before any entry is checked', async (t) => {
  const schema = {
    type: 'object',
    properties: { services: { type: 'array', maxItems: 20, items: { type: 'integer' } } },
  };
  const validate = compile(schema, 'body');
  t.equal(validate({ services: Array.from({ length: 100_000 }, () => 'not an integer') }), false);
  t.equal(validate.errors?.length, 1, 'one error, not one per entry');
  t.strictSame(fieldErrorsFrom(validate.errors ?? [], 'body'), [
    { path: '/body/services', message: 'must NOT have more than 20 items' },
  ]);
  t.equal(validate({ services: [1, 2] }), true, 'a bounded array is then validated as usual');
  t.equal(validate({ services: ['a'] }), false);
  t.strictSame(fieldErrorsFrom(validate.errors ?? [], 'body'), [
    { path: '/body/services/0', message: 'must be integer' },
  ]);
});

const listQuery = {
  type: 'object',
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 100, default: 50 },
    serviceId: { type: 'integer', minimum: 1 },
    cursor: { type: 'string' },
  },
};

t.test('a query parameter the operation does not have is refused, not ignored', async (t) => {
  t.strictSame(refusal(listQuery, 'querystring', { serviceid: '1' }), [
    { path: '/query/serviceid', message: "unknown property 'serviceid' (did you mean 'serviceId'?)" },
  ]);
  t.strictSame(refusal(listQuery, 'querystring', { page: '2' }), [
    { path: '/query/page', message: "unknown property 'page' (allowed: limit, serviceId, cursor)" },
  ]);
});

t.test('integer query parameters must be plain decimal digits: "0x10", "1e2", " 5" are refused', async (t) => {
  for (const text of ['0x10', '1e2', ' 5', '5 ', '+5', '1.0', '', '٥']) {
    t.strictSame(
      refusal(listQuery, 'querystring', { limit: text }),
      [{ path: '/query/limit', message: 'must be an integer in decimal digits' }],
      JSON.stringify(text),
    );
  }
});

t.test('every integer parameter that is not decimal digits is reported', async (t) => {
  t.strictSame(refusal(listQuery, 'querystring', { limit: '0x10', serviceId: '1e2' }), [
    { path: '/query/limit', message: 'must be an integer in decimal digits' },
    { path: '/query/serviceId', message: 'must be an integer in decimal digits' },
  ]);
});

t.test('decimal digits are coerced to numbers and still checked against the schema', async (t) => {
  const validate = compile(listQuery, 'querystring');
  const query: Record<string, unknown> = { limit: '16', serviceId: '007' };
  t.equal(validate(query), true);
  t.strictSame(query, { limit: 16, serviceId: 7 });
  t.strictSame(refusal(listQuery, 'querystring', { limit: '101' }), [
    { path: '/query/limit', message: 'must be <= 100' },
  ]);
  t.strictSame(refusal(listQuery, 'querystring', { limit: '-1' }), [{ path: '/query/limit', message: 'must be >= 1' }]);
});

t.test('query defaults are applied', async (t) => {
  const validate = compile(listQuery, 'querystring');
  const query: Record<string, unknown> = {};
  t.equal(validate(query), true);
  t.strictSame(query, { limit: 50 });
});

t.test('header rules apply to the lower-case names Node gives headers', async (t) => {
  const schema = {
    type: 'object',
    required: ['Idempotency-Key'],
    properties: { 'Idempotency-Key': { type: 'string', maxLength: 5 } },
  };
  t.strictSame(refusal(schema, 'headers', {}), [{ path: '/header/idempotency-key', message: 'is required' }]);
  t.strictSame(refusal(schema, 'headers', { 'idempotency-key': 'toolong' }), [
    { path: '/header/idempotency-key', message: 'must NOT have more than 5 characters' },
  ]);
  t.equal(
    compile(schema, 'headers')({ 'idempotency-key': 'abc', 'user-agent': 'x' }),
    true,
    'other headers are allowed',
  );
});

t.test('path parameters are coerced from text', async (t) => {
  const schema = { type: 'object', properties: { serviceId: { type: 'integer', minimum: 1 } } };
  const params: Record<string, unknown> = { serviceId: '12' };
  t.equal(compile(schema, 'params')(params), true);
  t.strictSame(params, { serviceId: 12 });
  t.strictSame(refusal(schema, 'params', { serviceId: '0x1' }), [
    { path: '/path/serviceId', message: 'must be an integer in decimal digits' },
  ]);
});

t.test('multipleOf is decided in decimal: 0.29 is a multiple of 0.01, 0.0001 and 57 × 0.01 are not', async (t) => {
  const schema = { type: 'object', properties: { fee: { type: 'number', multipleOf: 0.01 } } };
  for (const fee of [0.29, 0.57, 999999999999.99, 938742181714.44]) t.ok(compile(schema, 'body')({ fee }), `${fee}`);
  for (const fee of [0.0001, 57 * 0.01, 1.005]) {
    t.strictSame(refusal(schema, 'body', { fee }), [
      { path: '/body/fee', message: 'must have at most 2 decimal places' },
    ]);
  }
  const fives = { type: 'object', properties: { n: { type: 'number', multipleOf: 0.05 } } };
  t.strictSame(refusal(fives, 'body', { n: 0.16 }), [{ path: '/body/n', message: 'must be a multiple of 0.05' }]);
  t.ok(compile(fives, 'body')({ n: 0.15 }));
});
