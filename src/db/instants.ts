import pg from 'pg';

/**
 * Instants as the API writes them, straight from Postgres' text. With the session's time zone UTC
 * (set at connect; a pooler may not pass it on), Postgres writes a timestamptz as
 * `2022-11-01 11:11:11.111+00` (fraction trimmed, up to microseconds), a few string operations from
 * `2022-11-01T11:11:11.111Z`: no Date is parsed and printed again for every column of every row.
 * Any other offset (`+01`, `+05:30`, `-03:30:45`) is converted exactly, so a session in another
 * time zone never gets a wrong instant, only a slower one. Finer digits are truncated, as a Date would.
 */
export function isoInstant(text: string): string {
  if (text.endsWith('+00')) {
    const fraction = text.length > 22 ? text.slice(20, text.length - 3) : '';
    return `${text.slice(0, 10)}T${text.slice(11, 19)}.${millisecondDigits(fraction)}Z`;
  }
  return shiftedToUtc(text);
}

const WITH_OFFSET = /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?$/;

/** `2022-11-01 12:11:11.111+01` → `2022-11-01T11:11:11.111Z`, through epoch milliseconds. */
function shiftedToUtc(text: string): string {
  const f = WITH_OFFSET.exec(text);
  if (!f) throw new Error(`unexpected timestamptz text from the database: ${text}`);
  const local = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0–99 onto 1900–1999.
  local.setUTCFullYear(Number(f[1]), Number(f[2]) - 1, Number(f[3]));
  local.setUTCHours(Number(f[4]), Number(f[5]), Number(f[6]), Number(millisecondDigits(f[7] ?? '')));
  const offsetSeconds = (f[8] === '-' ? -1 : 1) * (Number(f[9]) * 3600 + Number(f[10] ?? 0) * 60 + Number(f[11] ?? 0));
  return new Date(local.getTime() - offsetSeconds * 1000).toISOString();
}

/** The first three digits of a fraction, padded: '5' → '500', '123456' → '123'. */
function millisecondDigits(fraction: string): string {
  return (fraction + '000').slice(0, 3);
}

const TIMESTAMPTZ_OID = 1184;

/** pg's parsers, but timestamptz as the API's ISO text. */
export const timestamptzAsIsoText = ((oid: number, format?: 'text' | 'binary') =>
  oid === TIMESTAMPTZ_OID ? isoInstant : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser;
