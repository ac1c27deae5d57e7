import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { availabilityProblem, availabilityRoutes } from './routes.js';

/** The availability feature: free windows and nearest free starts under the 3-hour rule. */
async function availability(app: FastifyInstance): Promise<void> {
  app.problemMappings.add(availabilityProblem);
  app.operationHandlers.add(availabilityRoutes(app.db));
}

export default fp(availability, {
  name: 'availability',
  dependencies: ['database', 'problems', 'operation-handlers'],
});
