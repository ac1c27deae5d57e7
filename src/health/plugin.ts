import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ReadinessCheck } from './readiness.js';
import { healthRoutes } from './routes.js';

/** A readiness check may take a second, and its answer serves every probe of the next second. */
const READINESS = { timeoutMs: 1_000, reuseMs: 1_000 };

/** Health, readiness and metrics operations, for orchestrators and monitoring. */
async function health(app: FastifyInstance): Promise<void> {
  app.operationHandlers.add(healthRoutes(new ReadinessCheck(app.ping, READINESS), app.metrics.registry));
}

export default fp(health, { name: 'health', dependencies: ['database', 'metrics', 'operation-handlers'] });
