import { ProblemError } from '../../src/http/problem.js';

/** The ProblemError `run` throws; any other outcome (no error, another error) fails the test. */
export function problemThrownBy(run: () => unknown): ProblemError {
  try {
    run();
  } catch (error) {
    if (error instanceof ProblemError) return error;
    throw new Error(`expected a ProblemError, got ${String(error)}`, { cause: error });
  }
  throw new Error('expected a ProblemError, nothing was thrown');
}

/** The ProblemError `running` rejects with; any other outcome fails the test. */
export async function problemRejectedBy(running: Promise<unknown>): Promise<ProblemError> {
  try {
    await running;
  } catch (error) {
    if (error instanceof ProblemError) return error;
    throw new Error(`expected a ProblemError, got ${String(error)}`, { cause: error });
  }
  throw new Error('expected a ProblemError, the promise resolved');
}

/** A 409 as an idempotency record stores it, for the tests of replaying one. */
export const storedScheduleConflict = {
  type: '/problems/schedule-conflict',
  title: 'Schedule conflict',
  status: 409,
  detail: 'Order 7 is scheduled at 2022-11-01T11:11:11.111Z.',
  instance: '/orders',
  conflictingOrderId: '7',
};
