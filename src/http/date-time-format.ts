import { fullFormats } from 'ajv-formats/dist/formats.js';

/** ajv-formats' own check of the `date-time` format (RFC 3339, time zone required). */
const rfc3339DateTime = (fullFormats['date-time'] as { validate: (text: string) => boolean }).validate;

const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The digit at `index`, or -1 when it is not one. */
function digit(text: string, index: number): number {
  const code = text.charCodeAt(index) - 48;
  return code >= 0 && code <= 9 ? code : -1;
}

function twoDigits(text: string, index: number): number {
  const tens = digit(text, index);
  const ones = digit(text, index + 1);
  return tens < 0 || ones < 0 ? -1 : tens * 10 + ones;
}

/**
 * The `date-time` format, as ajv-formats checks it, with a fast path for the form nearly every
 * caller sends, `2022-11-01T11:11:11Z` or `2022-11-01T11:11:11.111Z`: read by character codes
 * instead of a split and two regular expressions with their captures (about 0.6 µs an instant, on
 * every free-time and list request). Anything else, and a seconds field of 60 (a leap second, which
 * ajv-formats allows only at 23:59 UTC), goes to ajv-formats' own check; a property test holds the
 * two to the same answer for every string.
 */
export function dateTimeFormat(text: string): boolean {
  const length = text.length;
  const utcWithMillis = length === 24 && text.charCodeAt(19) === 46; /* . */
  if (!(length === 20 || utcWithMillis) || text.charCodeAt(length - 1) !== 90 /* Z */) return rfc3339DateTime(text);
  if (
    text.charCodeAt(4) !== 45 /* - */ ||
    text.charCodeAt(7) !== 45 ||
    text.charCodeAt(10) !== 84 /* T */ ||
    text.charCodeAt(13) !== 58 /* : */ ||
    text.charCodeAt(16) !== 58
  ) {
    return rfc3339DateTime(text);
  }
  const century = twoDigits(text, 0);
  const yearInCentury = twoDigits(text, 2);
  const month = twoDigits(text, 5);
  const day = twoDigits(text, 8);
  const hour = twoDigits(text, 11);
  const minute = twoDigits(text, 14);
  const second = twoDigits(text, 17);
  if (century < 0 || yearInCentury < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) {
    return false;
  }
  if (utcWithMillis && (digit(text, 20) < 0 || digit(text, 21) < 0 || digit(text, 22) < 0)) return false;
  if (second >= 60) return rfc3339DateTime(text);
  const year = century * 100 + yearInCentury;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = month === 2 && leap ? 29 : DAYS_IN_MONTH[month];
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth! && hour <= 23 && minute <= 59;
}
