import Fastify from 'fastify';
import t from 'tap';
import { withPlainJsonResponses } from '../../../src/http/response-schemas.js';

const order = { type: 'object', properties: { id: { type: 'string' } } };
const problem = { type: 'object', properties: { title: { type: 'string' } } };

t.test('a status answered only in application/json gets its schema as it is', async (t) => {
  const plain = withPlainJsonResponses({ '200': { content: { 'application/json': { schema: order } } } });
  t.equal(plain['200'], order, 'the very schema, so the same serializer is compiled');
});

t.test('a status with another media type, several, none or no schema keeps its entry', async (t) => {
  const problemOnly = { content: { 'application/problem+json': { schema: problem } } };
  const twoTypes = { content: { 'application/json': { schema: order }, 'text/csv': { schema: { type: 'string' } } } };
  const noContent = { description: 'Deleted' };
  const noSchema = { content: { 'application/json': {} } };
  const plain = withPlainJsonResponses({ '404': problemOnly, '200': twoTypes, '204': noContent, '202': noSchema });
  t.same(Object.keys(plain).sort(), ['200', '202', '204', '404']);
  t.equal(plain['404'], problemOnly);
  t.equal(plain['200'], twoTypes);
  t.equal(plain['204'], noContent);
  t.equal(plain['202'], noSchema);
});

t.test('Fastify serializes the plain schema as it did the per-type one: undeclared members dropped', async (t) => {
  const bodies: string[] = [];
  for (const response of [
    { '200': { content: { 'application/json': { schema: order } } } },
    withPlainJsonResponses({ '200': { content: { 'application/json': { schema: order } } } }),
  ]) {
    const app = Fastify();
    app.get('/', { schema: { response } }, async () => ({ id: '7', secret: 'not declared' }));
    const reply = await app.inject('/');
    t.equal(reply.statusCode, 200);
    t.match(reply.headers['content-type'], /^application\/json/);
    bodies.push(reply.body);
    await app.close();
  }
  t.equal(bodies[0], '{"id":"7"}');
  t.equal(bodies[1], bodies[0]);
});
