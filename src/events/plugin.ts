import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { eventProblem, eventRoutes } from './routes.js';
import { sweepEvents } from './use-cases.js';

const SWEEP_INTERVAL_MS = 15 * 60_000;

export interface EventsOptions {
  /** Events older than this are deleted by the sweep; a feed cursor before them is 410. */
  retentionDays: number;
}

/** The change feed and order histories: their operations, refusals, and the retention sweep. */
async function events(app: FastifyInstance, { retentionDays }: EventsOptions): Promise<void> {
  app.problemMappings.add(eventProblem);
  // A page of events is a list of a union (OrderEvent | ServiceEvent): fast-json-stringify writes a
  // oneOf by validating each item against every branch, several µs per event. The events are built
  // whole, with exactly the contract's members (data by the database, the rest by toEvent), so plain
  // JSON.stringify writes the same bytes for less.
  app.addHook('onRoute', (route) => {
    const operationId = (route.schema as { operationId?: string } | undefined)?.operationId;
    if (operationId === 'listEvents' || operationId === 'getOrderHistory') {
      route.serializerCompiler = () => (data) => JSON.stringify(data);
    }
  });
  app.operationHandlers.add(eventRoutes(app.db, app.cursors, retentionDays));
  let timer: NodeJS.Timeout | undefined;
  app.addHook('onReady', async () => {
    timer = setInterval(() => {
      sweepEvents(app.db, retentionDays).catch((error: unknown) => app.log.warn({ err: error }, 'event sweep failed'));
    }, SWEEP_INTERVAL_MS);
    timer.unref();
  });
  app.addHook('onClose', async () => clearInterval(timer));
}

export default fp(events, { name: 'events', dependencies: ['database', 'problems', 'operation-handlers'] });
