import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Contract } from '../../http/contract.js';

/** Serves the contract as written (/openapi.yaml), as JSON (/openapi.json) and as a docs page (/docs). */
async function docs(app: FastifyInstance, { contract }: { contract: Contract }): Promise<void> {
  // The page is served by the service it documents, so "Try it out" calls this origin: the relative
  // server entry goes first there (the contract lists the absolute one first, for generated clients).
  const servers = (contract.document.servers ?? []) as Array<{ url: string }>;
  const page = {
    ...contract.document,
    servers: [...servers].sort((a, b) => Number(b.url === '/') - Number(a.url === '/')),
  };
  await app.register(swagger, { mode: 'static', specification: { document: page as never } });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { deepLinking: true, tryItOutEnabled: true, displayOperationId: true },
  });
  const json = JSON.stringify(contract.document);
  app.get('/openapi.json', { logLevel: 'warn' }, (_request, reply) => reply.type('application/json').send(json));
  app.get('/openapi.yaml', { logLevel: 'warn' }, (_request, reply) =>
    reply.type('application/yaml').send(contract.text),
  );
}

export default fp(docs, { name: 'docs' });
