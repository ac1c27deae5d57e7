import type { Registry } from 'prom-client';
import type { OperationHandlers } from '../http/operation-handler.js';
import { ProblemError } from '../http/problem.js';

export type HealthOperations = OperationHandlers<'getHealth' | 'getReadiness' | 'getMetrics'>;

const READINESS_TIMEOUT_MS = 1_000;

/** Liveness, readiness (the database answers) and the Prometheus metrics. */
export function healthRoutes(ping: (timeoutMs: number) => Promise<void>, metrics: Registry): HealthOperations {
  return {
    async getHealth() {
      return { status: 'ok' };
    },

    async getReadiness() {
      let timer: NodeJS.Timeout | undefined;
      // The ping has its own timeout; this one also bounds waiting for a free connection.
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('readiness check timed out')), READINESS_TIMEOUT_MS);
      });
      try {
        await Promise.race([ping(READINESS_TIMEOUT_MS), timeout]);
      } catch {
        throw new ProblemError(
          'unavailable',
          'The database is not answering; this instance is not ready.',
          {},
          {
            'retry-after': '5',
          },
        );
      } finally {
        clearTimeout(timer);
      }
      return { status: 'ready' };
    },

    async getMetrics(_request, reply) {
      reply.type(metrics.contentType);
      return metrics.metrics();
    },
  };
}
