/**
 * An error that is an expected answer (a 409, 404, 422…), not a fault: it is built without a
 * stack trace. Capturing one costs microseconds on every refusal, and nothing reads it: a refusal
 * is answered, never logged with its stack.
 */
export class Refusal extends Error {
  constructor(message: string) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(message);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }
}
