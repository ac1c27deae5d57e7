import { Refusal } from '../refusal.js';

/** A response as it was sent, kept to be sent again. */
export interface StoredResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: unknown;
}

/** One caller's Idempotency-Key for one request. */
export interface IdempotencyClaim {
  apiKeyId: string;
  key: string;
  /** What makes two requests the same: operation and normalised input. */
  requestHash: string;
}

/** A write to be done at most once per key, and how each of its outcomes is answered. */
export interface IdempotentRequest<T> {
  claim: IdempotencyClaim;
  /** The response to a success, stored for replay. */
  answer(value: T): StoredResponse;
  /** The response to a refusal (a 4xx), stored for replay; undefined for a fault, which rolls back. */
  answerRefusal(error: unknown): StoredResponse | undefined;
}

export type KeyedOutcome<T> =
  /** Done now; its response is stored. */
  | { kind: 'fresh'; value: T; response: StoredResponse }
  /** Refused now; the refusal's response is stored. */
  | { kind: 'refused'; refusal: unknown }
  /** Answered before: the stored response, to be sent again. */
  | { kind: 'replayed'; response: StoredResponse };

/** The key was used before with a different request. */
export class IdempotencyKeyReusedError extends Refusal {
  constructor() {
    super('this Idempotency-Key was used with a different request');
  }
}
