/**
 * Database errors by SQLSTATE, which `pg` and PGlite both report as `error.code` (with the
 * violated constraint as `error.constraint`).
 */
export const SqlState = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  exclusionViolation: '23P01',
  /** ON DELETE RESTRICT: Postgres 18 (and so PGlite) reports 23001 where 15 reports 23503. */
  restrictViolation: '23001',
} as const;

/**
 * Concurrent writers on the exclusion constraint can deadlock (40P01: each waits for the other's
 * uncommitted row) or fail serialization (40001). Postgres rolls one back; trying it again is safe
 * and then meets the winner's committed row as an ordinary conflict.
 */
export function isTransientConflict(error: unknown): boolean {
  const code = (error as DriverError | null)?.code;
  return code === '40P01' || code === '40001';
}

interface DriverError {
  code?: unknown;
  constraint?: unknown;
}

export function isConstraintViolation(error: unknown, sqlState: string, constraint: string): boolean {
  const e = error as DriverError | null;
  return typeof e === 'object' && e !== null && e.code === sqlState && e.constraint === constraint;
}

/** SQLSTATE class 22 (data exception): a value the database cannot store or compute with. */
export function isDataException(error: unknown): boolean {
  const code = (error as DriverError | null)?.code;
  return typeof code === 'string' && code.length === 5 && code.startsWith('22');
}

// The server is down, restarting, refusing connections, unreachable or too busy to answer in time
// (57014: statement_timeout): all worth a retry, none the client's fault.
// 40P01/40001 land here only when retries were exhausted: still the server's to sort out, never a 500.
const unavailableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  '40001',
  '40P01',
  '53300',
  '57014',
  '57P01',
  '57P02',
  '57P03',
]);
const unavailableMessages = [
  /Connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /Client has encountered a connection error/i,
  /Query read timeout/i,
];

export function isDatabaseUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code } = error as DriverError;
  if (typeof code === 'string' && (unavailableCodes.has(code) || code.startsWith('08'))) return true;
  const message = (error as Error).message ?? '';
  return unavailableMessages.some((pattern) => pattern.test(message));
}
