import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { idempotencyProblem } from './http.js';
import { deleteExpiredIdempotencyKeys } from './queries.js';

const SWEEP_INTERVAL_MS = 15 * 60_000;

/**
 * Idempotency-Key records: their refusal's problem, and a background sweep of expired ones (they
 * are kept 24 hours).
 */
async function idempotency(app: FastifyInstance): Promise<void> {
  app.problemMappings.add(idempotencyProblem);
  let timer: NodeJS.Timeout | undefined;
  app.addHook('onReady', async () => {
    timer = setInterval(() => {
      deleteExpiredIdempotencyKeys(app.db).catch((error: unknown) =>
        app.log.warn({ err: error }, 'idempotency key sweep failed'),
      );
    }, SWEEP_INTERVAL_MS);
    timer.unref();
  });
  app.addHook('onClose', async () => clearInterval(timer));
}

export default fp(idempotency, { name: 'idempotency', dependencies: ['database', 'problems'] });
