import type { FastifyRequest } from 'fastify';
import t from 'tap';
import { noteRoute, operationIdOf, pathOf } from '../../../src/http/request.js';

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

t.test('noteRoute reads the route once: later reads take the noted operationId', async (t) => {
  let reads = 0;
  const request = {
    operationId: undefined,
    get routeOptions() {
      reads += 1;
      return { url: '/orders/:id', schema: { operationId: 'getOrder' } };
    },
  } as unknown as FastifyRequest;
  t.equal(noteRoute(request), '/orders/:id', 'the route pattern');
  t.equal(request.operationId, 'getOrder');
  t.equal(operationIdOf(request), 'getOrder');
  t.equal(operationIdOf(request), 'getOrder');
  t.equal(reads, 1, 'routeOptions built once');

  const docs = {
    operationId: undefined,
    routeOptions: { url: '/docs', schema: undefined },
  } as unknown as FastifyRequest;
  t.equal(noteRoute(docs), '/docs');
  t.equal(docs.operationId, null, 'noted as none');
  t.equal(operationIdOf(docs), undefined);
});
