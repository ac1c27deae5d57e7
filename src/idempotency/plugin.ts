import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { idempotencyProblem } from './http.js';
import { sweepExpiredIdempotencyKeys } from './use-cases.js';

const SWEEP_INTERVAL_MS = 15 * 60_000;
/** Entries deleted per statement: small enough to be quick under the 5 s statement timeout. */
const SWEEP_BATCH_SIZE = 2_000;

/**
 * Idempotency-Key records: their refusal's problem, and a sweep of expired ones (they are kept 24
 * hours) once at start and then every 15 minutes, one sweep at a time in this process.
 */
async function idempotency(app: FastifyInstance): Promise<void> {
  app.problemMappings.add(idempotencyProblem);
  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | undefined;
  let closing = false;

  const sweep = (): void => {
    if (sweeping || closing) return;
    sweeping = sweepExpiredIdempotencyKeys(app.db, { batchSize: SWEEP_BATCH_SIZE, shouldStop: () => closing })
      .then(
        (outcome) => {
          if (outcome.deleted > 0) app.log.info(outcome, 'expired idempotency keys swept');
        },
        (error: unknown) => app.log.warn({ err: error }, 'idempotency key sweep failed'),
      )
      .finally(() => {
        sweeping = undefined;
      });
  };

  app.addHook('onReady', async () => {
    sweep();
    timer = setInterval(sweep, SWEEP_INTERVAL_MS);
    timer.unref();
  });
  // preClose, not onClose: the sweep must end before whoever opened the database closes it.
  app.addHook('preClose', async () => {
    closing = true;
    clearInterval(timer);
    await sweeping;
  });
}

export default fp(idempotency, { name: 'idempotency', dependencies: ['database', 'problems'] });
