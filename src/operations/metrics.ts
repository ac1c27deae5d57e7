import type { FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

/** Prometheus metrics for one app instance (its own registry, so tests can build many apps). */
export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'operation' | 'status'>;
  private readonly duration: Histogram<'operation'>;
  readonly scheduleConflicts: Counter;

  constructor(poolStats?: () => PoolStats) {
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by operation (operationId, route pattern, or "unmatched") and status code.',
      labelNames: ['operation', 'status'],
      registers: [this.registry],
    });
    this.duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by operation, from the first byte of the request to the last of the response.',
      labelNames: ['operation'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.scheduleConflicts = new Counter({
      name: 'orders_schedule_conflicts_total',
      help: 'Creates and replaces refused by the 3-hour rule.',
      registers: [this.registry],
    });
    if (poolStats) {
      for (const [field, help] of [
        ['total', 'Open connections in the database pool.'],
        ['idle', 'Idle connections in the database pool.'],
        ['waiting', 'Requests waiting for a database connection.'],
      ] as const) {
        new Gauge({
          name: `db_pool_connections_${field}`,
          help,
          registers: [this.registry],
          collect() {
            this.set(poolStats()[field]);
          },
        });
      }
    }
  }

  observe(request: FastifyRequest, reply: FastifyReply): void {
    // The operationId, else the route pattern (docs, spec), else "unmatched": never a raw path,
    // so label cardinality stays bounded.
    const operationId = (request.routeOptions.schema as { operationId?: string } | undefined)?.operationId;
    const operation = operationId ?? request.routeOptions.url ?? 'unmatched';
    this.requests.inc({ operation, status: String(reply.statusCode) });
    this.duration.observe({ operation }, reply.elapsedTime / 1000);
  }
}
