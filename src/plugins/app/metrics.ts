import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { operationIdOf } from '../../http/request.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's Prometheus metrics; features register their own in `metrics.registry`. */
    metrics: HttpMetrics;
  }
}

export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

/** Prometheus metrics for one app instance (its own registry, so tests can build many apps). */
export class HttpMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'operation' | 'status'>;
  private readonly duration: Histogram<'operation'>;

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
    const operation = operationIdOf(request) ?? request.routeOptions.url ?? 'unmatched';
    this.requests.inc({ operation, status: String(reply.statusCode) });
    this.duration.observe({ operation }, reply.elapsedTime / 1000);
  }
}

/** Counts and times every response. */
async function metrics(app: FastifyInstance, options: { poolStats?: () => PoolStats }): Promise<void> {
  const httpMetrics = new HttpMetrics(options.poolStats);
  app.decorate('metrics', httpMetrics);
  app.addHook('onResponse', (request, reply, done) => {
    httpMetrics.observe(request, reply);
    done();
  });
}

export default fp(metrics, { name: 'metrics' });
