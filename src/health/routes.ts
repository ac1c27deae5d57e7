import type { Registry } from 'prom-client';
import type { OperationHandlers } from '../http/operation-handler.js';
import { ProblemError } from '../http/problem.js';
import type { ReadinessCheck } from './readiness.js';

export type HealthOperations = OperationHandlers<'getHealth' | 'getReadiness' | 'getMetrics'>;

/** Liveness, readiness (the database answers, checked at most once a second) and the Prometheus metrics. */
export function healthRoutes(readiness: ReadinessCheck, metrics: Registry): HealthOperations {
  return {
    async getHealth() {
      return { status: 'ok' };
    },

    async getReadiness() {
      if (!(await readiness.isReady())) {
        throw new ProblemError(
          'unavailable',
          'The database is not answering; this instance is not ready.',
          {},
          {
            'retry-after': '5',
          },
        );
      }
      return { status: 'ready' };
    },

    async getMetrics(_request, reply) {
      reply.type(metrics.contentType);
      return metrics.metrics();
    },
  };
}
