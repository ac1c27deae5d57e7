import type { FastifyRequest } from 'fastify';
import t from 'tap';
import { operationIdOf, pathOf } from '../../../src/http/request.js';

t.test("a request's path is its URL without the query", async (t) => {
  t.equal(pathOf({ url: '/orders?limit=5&cursor=abc' }), '/orders');
  t.equal(pathOf({ url: '/orders/223' }), '/orders/223', 'no query: the URL as it is');
  t.equal(pathOf({ url: '/orders?' }), '/orders', 'an empty query');
  t.equal(pathOf({ url: '/orders?a=1?b=2' }), '/orders', 'from the first ?');
  t.equal(pathOf({ url: '/orders/%32%32%33?x' }), '/orders/%32%32%33', 'percent-encoding is kept as sent');
});

t.test('operationIdOf names the contract operation a request matched', async (t) => {
  const matched = { routeOptions: { schema: { operationId: 'getOrder' } } } as unknown as FastifyRequest;
  t.equal(operationIdOf(matched), 'getOrder');
  t.equal(operationIdOf({ routeOptions: {} } as unknown as FastifyRequest), undefined, 'a route without a schema');
  t.equal(
    operationIdOf({ routeOptions: { schema: {} } } as unknown as FastifyRequest),
    undefined,
    'a schema without an operation',
  );
});
