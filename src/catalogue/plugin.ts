import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { catalogueProblem, catalogueRoutes } from './routes.js';

/** The service catalogue: its operations and its refusals as problems. */
async function catalogue(app: FastifyInstance): Promise<void> {
  app.problemMappings.add(catalogueProblem);
  app.operationHandlers.add(catalogueRoutes(app.db, app.cursors));
}

export default fp(catalogue, { name: 'catalogue', dependencies: ['database', 'problems', 'operation-handlers'] });
