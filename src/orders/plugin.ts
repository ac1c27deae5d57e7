import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter } from 'prom-client';
import { ScheduleConflictError } from './model.js';
import { orderProblem, orderRoutes } from './routes.js';

/** The orders feature: its operations, its refusals as problems, and its own metric. */
async function orders(app: FastifyInstance): Promise<void> {
  const scheduleConflicts = new Counter({
    name: 'orders_schedule_conflicts_total',
    help: 'Creates and replaces refused by the 3-hour rule.',
    registers: [app.metrics.registry],
  });
  // Counted where refusals are answered, so an idempotent replay of a 409 is not counted again.
  app.problemMappings.add((error) => {
    const problem = orderProblem(error);
    if (error instanceof ScheduleConflictError) scheduleConflicts.inc();
    return problem;
  });
  app.operationHandlers.add(orderRoutes(app.db, app.cursors));
}

export default fp(orders, { name: 'orders', dependencies: ['database', 'metrics', 'problems', 'operation-handlers'] });
