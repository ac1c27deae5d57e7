import { invalidRequest } from './problem.js';

/**
 * Keyset cursors on the wire: base64url of a JSON array of the last row's sort key. Opaque to
 * clients; anything that does not decode to the exact expected shape is a 400, never a query.
 */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

export function decodeCursor<T>(cursor: string, parse: (key: unknown[]) => T | undefined): T {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  const value = Array.isArray(key) ? parse(key) : undefined;
  // Re-encoding must give back the same text, so no two cursors mean the same position.
  if (value === undefined || encodeCursor(key as (string | number)[]) !== cursor) {
    throw invalidRequest([{ path: '/query/cursor', message: 'is not a cursor returned by this API' }]);
  }
  return value;
}
