/**
 * An RFC 3339 date-time (already checked against the contract's pattern) as the UTC instant the
 * service stores: ISO 8601 with milliseconds, finer digits truncated. Undefined when it names no
 * real instant (2022-02-30, 23:59:60) or falls outside years 0001 to 9999.
 */
export function utcInstant(text: string): string | undefined {
  const utc = UTC_FORM.exec(text);
  return utc ? fromUtcFields(utc) : anyOffsetInstant(text);
}

/** Already UTC, as most callers send it (`…T11:11:11.111Z`). */
const UTC_FORM = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * The UTC form read field by field: no Date parsed and printed again, a few times cheaper than the
 * general path below and the same answer (a property test holds them together).
 */
function fromUtcFields(fields: RegExpExecArray): string | undefined {
  const year = Number(fields[1]);
  const month = Number(fields[2]);
  const day = Number(fields[3]);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!;
  const valid =
    year >= 1 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth &&
    Number(fields[4]) <= 23 &&
    Number(fields[5]) <= 59 &&
    Number(fields[6]) <= 59;
  return valid ? `${fields.input.slice(0, 19)}.${((fields[7] ?? '') + '000').slice(0, 3)}Z` : undefined;
}

/** The general path: any offset, lower-case t and z; exported for the property test only. */
export function anyOffsetInstant(text: string): string | undefined {
  // Date.parse rolls 2022-02-30 over into March and T24:00 into the next day: refuse them first.
  if (!namesARealLocalTime(text)) return undefined;
  // RFC 3339 allows lower-case t and z; Date.parse does not.
  const time = Date.parse(text.toUpperCase());
  if (Number.isNaN(time)) return undefined;
  const iso = new Date(time).toISOString();
  const year = Number(iso.slice(0, 4));
  return iso.length === 24 && year >= 1 && year <= 9999 ? iso : undefined;
}

/**
 * The same, rounded up to the next millisecond when finer digits are present. For range bounds:
 * stored datetimes are whole milliseconds, so `from=…11.1119Z` must not include `…11.111Z`, and
 * `to=…11.1111Z` must include it.
 */
export function utcInstantRoundedUp(text: string): string | undefined {
  const instant = utcInstant(text);
  // Digits finer than a millisecond need at least 25 characters (19, a point, four digits, Z).
  if (text.length <= 24) return instant;
  const finer = /\.\d{3}(\d*)/.exec(text)?.[1] ?? '';
  if (instant === undefined || !/[1-9]/.test(finer)) return instant;
  return utcInstant(new Date(Date.parse(instant) + 1).toISOString());
}

const LOCAL_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})/;

/** The date and time as written (before the offset applies) exist: a real day of that month, hours below 24. */
function namesARealLocalTime(text: string): boolean {
  const fields = LOCAL_TIME.exec(text);
  if (!fields) return true; // not this form: Date.parse decides
  const [year, month, day, hour, minute, second] = fields.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  // Leap years repeat every 400 years, so a year in 2000-2399 has the same February.
  const daysInMonth = new Date(Date.UTC(2000 + (year % 400), month, 0)).getUTCDate();
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour <= 23 && minute <= 59 && second <= 59;
}

export const notAnInstant = 'is not a real instant between years 0001 and 9999';

/**
 * Milliseconds since 1970 of an instant in the service's form (`2022-11-01T11:11:11.111Z`, years
 * 0001 to 9999): what Date.parse answers, by arithmetic on the digits instead of a call into the
 * runtime's date parser (days from the civil date as in Howard Hinnant's `days_from_civil`).
 */
export function millisOf(instant: string): number {
  const number = (from: number, to: number) => {
    let value = 0;
    for (let i = from; i < to; i++) value = value * 10 + instant.charCodeAt(i) - 48;
    return value;
  };
  const month = number(5, 7);
  const year = number(0, 4) - (month <= 2 ? 1 : 0);
  const era = Math.floor(year / 400);
  const yearOfEra = year - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + number(8, 10) - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  const days = era * 146_097 + dayOfEra - 719_468;
  return ((days * 24 + number(11, 13)) * 60 + number(14, 16)) * 60_000 + number(17, 19) * 1000 + number(20, 23);
}
