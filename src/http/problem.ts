import type { components } from '../../generated/api.js';
import { Refusal } from '../refusal.js';

export type Problem = components['schemas']['Problem'];
export type FieldError = NonNullable<Problem['errors']>[number];

/** Problem kinds and their titles; the `type` URI is the stable identifier clients match on. */
const kinds = {
  validation: { status: 400, title: 'Invalid request' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  forbidden: { status: 403, title: 'Forbidden' },
  'not-found': { status: 404, title: 'Not found' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'schedule-conflict': { status: 409, title: 'Schedule conflict' },
  conflict: { status: 409, title: 'Conflict' },
  'cursor-expired': { status: 410, title: 'Cursor expired' },
  'precondition-failed': { status: 412, title: 'Precondition failed' },
  'payload-too-large': { status: 413, title: 'Payload too large' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  'unknown-service': { status: 422, title: 'Unknown service' },
  'idempotency-key-reused': { status: 422, title: 'Idempotency key reused' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  internal: { status: 500, title: 'Internal server error' },
  unavailable: { status: 503, title: 'Service unavailable' },
} as const;

export type ProblemKind = keyof typeof kinds;

type Extensions = Omit<Problem, 'type' | 'title' | 'status' | 'detail' | 'instance'>;

/** An error that is answered as an `application/problem+json` response. */
export class ProblemError extends Refusal {
  readonly problem: Problem;
  readonly headers: Record<string, string>;

  constructor(kind: ProblemKind, detail: string, extensions: Extensions = {}, headers: Record<string, string> = {}) {
    super(detail);
    const { status, title } = kinds[kind];
    this.problem = { type: `/problems/${kind}`, title, status, detail, ...extensions };
    this.headers = headers;
  }

  get status(): number {
    return this.problem.status;
  }

  /** A problem answered before (an idempotent replay), sent again exactly as it was. */
  static replay(problem: Problem, headers: Record<string, string>): ProblemError {
    const error = new ProblemError('validation', problem.detail, {}, headers);
    (error as { problem: Problem }).problem = problem;
    return error;
  }
}

export function invalidRequest(
  errors: FieldError[],
  detail = 'The request does not match the API contract.',
): ProblemError {
  return new ProblemError('validation', detail, { errors });
}

export function notFound(detail: string): ProblemError {
  return new ProblemError('not-found', detail);
}

/** A body `id` that contradicts the id in the path (a body may also leave it out). */
export function bodyIdMismatch(resource: string, pathId: string | number): FieldError {
  return { path: '/body/id', message: `must equal the ${resource} id in the path (${pathId}) or be left out` };
}
