import type { operations } from '../../generated/api.js';
import type { OperationHandler } from '../http/operations.js';
import { ProblemError } from '../http/problem.js';
import type { ServiceMetrics } from './metrics.js';

export interface OperationsHandlers {
  getHealth: OperationHandler<operations['getHealth']>;
  getReadiness: OperationHandler<operations['getReadiness']>;
  getMetrics: OperationHandler<operations['getMetrics']>;
}

const READINESS_TIMEOUT_MS = 1_000;

export function operationsHandlers(ping: (timeoutMs: number) => Promise<void>, metrics: ServiceMetrics): OperationsHandlers {
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
        throw new ProblemError('unavailable', 'The database is not answering; this instance is not ready.', {}, { 'retry-after': '5' });
      } finally {
        clearTimeout(timer);
      }
      return { status: 'ready' };
    },

    async getMetrics(_request, reply) {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  };
}
