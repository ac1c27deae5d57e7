import type { FastifyReply, FastifyRequest } from 'fastify';
import t from 'tap';
import { HttpMetrics } from '../../../../src/plugins/app/metrics.js';

const request = (operationId: string) =>
  ({ routeOptions: { schema: { operationId }, url: '/x' } }) as unknown as FastifyRequest;
const reply = (statusCode: number, elapsedTime: number) => ({ statusCode, elapsedTime }) as FastifyReply;

t.test('a response is counted by operation and status, and timed into its bucket (bounds inclusive)', async (t) => {
  const metrics = new HttpMetrics();
  metrics.observe(request('getOrder'), reply(200, 1)); // 1 ms: the 0.001 bucket
  metrics.observe(request('getOrder'), reply(404, 1.5));
  metrics.observe(request('getOrder'), reply(200, 3000)); // beyond 2.5 s: +Inf only
  const text = await metrics.registry.metrics();
  t.match(text, /^http_requests_total\{operation="getOrder",status="200"\} 2$/m);
  t.match(text, /^http_requests_total\{operation="getOrder",status="404"\} 1$/m);
  t.match(text, /^http_request_duration_seconds_bucket\{le="0.001",operation="getOrder"\} 1$/m);
  t.match(text, /^http_request_duration_seconds_bucket\{le="0.0025",operation="getOrder"\} 2$/m);
  t.match(text, /^http_request_duration_seconds_bucket\{le="2.5",operation="getOrder"\} 2$/m);
  t.match(text, /^http_request_duration_seconds_bucket\{le="\+Inf",operation="getOrder"\} 3$/m);
  t.match(text, /^http_request_duration_seconds_sum\{operation="getOrder"\} 3\.0025$/m);
  t.match(text, /^http_request_duration_seconds_count\{operation="getOrder"\} 3$/m);
});
