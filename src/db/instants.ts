import pg from 'pg';

/**
 * Instants as the API writes them, straight from Postgres' text: with the session's time zone UTC,
 * Postgres writes a timestamptz as `2022-11-01 11:11:11.111+00` (fraction trimmed, up to
 * microseconds), a few string operations from `2022-11-01T11:11:11.111Z`. No Date is parsed and
 * printed again for every column of every row; finer digits are truncated, as a Date would.
 */
export function isoInstant(text: string): string {
  const fraction = text.length > 22 ? text.slice(20, text.length - 3) : '';
  return `${text.slice(0, 10)}T${text.slice(11, 19)}.${(fraction + '000').slice(0, 3)}Z`;
}

const TIMESTAMPTZ_OID = 1184;

/** pg's parsers, but timestamptz as the API's ISO text (the session's time zone must be UTC). */
export const timestamptzAsIsoText = ((oid: number, format?: 'text' | 'binary') =>
  oid === TIMESTAMPTZ_OID ? isoInstant : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser;
