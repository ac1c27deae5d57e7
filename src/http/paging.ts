import type { CursorCodec } from './cursor.js';

/** One page of a keyset-paged list, as every list answers it. */
export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/**
 * The page from `rows`, fetched with one row more than `limit` (that extra row tells whether
 * another page exists, without a count query); the cursor encodes the last row's sort key.
 */
export async function pageOf<Row, T>(
  rows: Row[],
  limit: number,
  cursors: CursorCodec,
  sortKeyOf: (row: Row) => readonly (string | number)[],
  present: (row: Row) => T,
): Promise<Page<T>> {
  const page = rows.length > limit ? rows.slice(0, limit) : rows;
  const last = page[page.length - 1];
  const nextCursor = rows.length > limit && last !== undefined ? await cursors.encode(sortKeyOf(last)) : null;
  return { data: page.map(present), nextCursor };
}
