import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { healthRoutes } from './routes.js';

/** Health, readiness and metrics operations, for orchestrators and monitoring. */
async function health(app: FastifyInstance): Promise<void> {
  app.operationHandlers.add(healthRoutes(app.ping, app.metrics.registry));
}

export default fp(health, { name: 'health', dependencies: ['database', 'metrics', 'operation-handlers'] });
