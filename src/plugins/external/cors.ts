import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/** CORS (@fastify/cors) for the configured origins; none means CORS is off. */
async function crossOrigin(app: FastifyInstance, { origins }: { origins: string[] }): Promise<void> {
  if (origins.length === 0) return;
  await app.register(cors, {
    origin: origins,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type', 'idempotency-key', 'if-match', 'if-none-match', 'x-request-id'],
    exposedHeaders: [
      'etag',
      'location',
      'retry-after',
      'x-request-id',
      'idempotent-replayed',
      'x-ratelimit-limit',
      'x-ratelimit-remaining',
      'x-ratelimit-reset',
    ],
    maxAge: 600,
  });
}

export default fp(crossOrigin, { name: 'cors' });
