import fc from 'fast-check';
import t from 'tap';
import {
  anyOffsetInstant,
  millisOf,
  notAnInstant,
  utcInstant,
  utcInstantRoundedUp,
} from '../../../src/http/instant.js';
import { checkProperty } from '../../helpers/property.js';

t.test('an instant in UTC is written as ISO 8601 with milliseconds', async (t) => {
  t.equal(utcInstant('2022-11-01T11:11:11.111Z'), '2022-11-01T11:11:11.111Z');
  t.equal(utcInstant('2022-11-01T11:11:11Z'), '2022-11-01T11:11:11.000Z', 'no fraction: .000');
  t.equal(utcInstant('2022-11-01T11:11:11.1Z'), '2022-11-01T11:11:11.100Z', 'one digit is tenths');
});

t.test('an offset is normalised to UTC', async (t) => {
  t.equal(utcInstant('2023-02-01T12:30:00+05:30'), '2023-02-01T07:00:00.000Z');
  t.equal(utcInstant('2022-11-01T06:11:11.111-05:00'), '2022-11-01T11:11:11.111Z');
  t.equal(utcInstant('2022-11-01T00:30:00+01:00'), '2022-10-31T23:30:00.000Z', 'across midnight into the previous day');
  t.equal(utcInstant('2022-11-01T11:11:11-00:00'), '2022-11-01T11:11:11.000Z');
});

t.test('lower-case t and z are accepted, as RFC 3339 allows', async (t) => {
  t.equal(utcInstant('2022-11-01t11:11:11.111z'), '2022-11-01T11:11:11.111Z');
  t.equal(utcInstant('2022-11-01t12:11:11+01:00'), '2022-11-01T11:11:11.000Z');
});

t.test('digits finer than a millisecond are truncated, never rounded', async (t) => {
  t.equal(utcInstant('2022-11-01T11:11:11.1119Z'), '2022-11-01T11:11:11.111Z');
  t.equal(utcInstant('2022-11-01T11:11:11.999999999Z'), '2022-11-01T11:11:11.999Z', 'not the next second');
});

t.test('utcInstantRoundedUp rounds up to the next millisecond only when a finer digit is not zero', async (t) => {
  t.equal(utcInstantRoundedUp('2022-11-01T11:11:11.1119Z'), '2022-11-01T11:11:11.112Z');
  t.equal(utcInstantRoundedUp('2022-11-01T11:11:11.1111Z'), '2022-11-01T11:11:11.112Z');
  t.equal(
    utcInstantRoundedUp('2022-11-01T11:11:11.1110000Z'),
    '2022-11-01T11:11:11.111Z',
    'zeros below a millisecond are exact',
  );
  t.equal(utcInstantRoundedUp('2022-11-01T11:11:11.111Z'), '2022-11-01T11:11:11.111Z');
  t.equal(utcInstantRoundedUp('2022-11-01T11:11:11Z'), '2022-11-01T11:11:11.000Z');
  t.equal(
    utcInstantRoundedUp('2022-11-01T11:11:11.11Z'),
    '2022-11-01T11:11:11.110Z',
    'fewer than three digits are exact',
  );
});

t.test('rounding up carries into the next second, day and year', async (t) => {
  t.equal(utcInstantRoundedUp('2022-11-01T11:11:11.9991Z'), '2022-11-01T11:11:12.000Z');
  t.equal(utcInstantRoundedUp('2022-12-31T23:59:59.9999Z'), '2023-01-01T00:00:00.000Z');
  t.equal(
    utcInstantRoundedUp('2022-11-01T12:11:11.1111+01:00'),
    '2022-11-01T11:11:11.112Z',
    'after normalising the offset',
  );
  t.equal(utcInstantRoundedUp('2022-11-01t11:11:11.1111z'), '2022-11-01T11:11:11.112Z', 'lower case too');
});

t.test('a leap second (23:59:60) is not an instant the service can store', async (t) => {
  t.equal(utcInstant('2016-12-31T23:59:60Z'), undefined);
  t.equal(utcInstant('2022-11-01T23:59:60Z'), undefined);
  t.equal(utcInstantRoundedUp('2016-12-31T23:59:60.5Z'), undefined);
});

t.test('a month or offset that does not exist is not an instant', async (t) => {
  t.equal(utcInstant('2022-13-01T00:00:00Z'), undefined, 'month 13');
  t.equal(utcInstant('2022-00-01T00:00:00Z'), undefined, 'month 00');
  t.equal(utcInstant('2022-11-01T11:11:11+25:00'), undefined, 'offset beyond 24 hours');
  t.equal(utcInstant('not a datetime'), undefined);
  t.equal(utcInstant(''), undefined);
});

t.test('year 0001 is the first storable year, also after normalising the offset', async (t) => {
  t.equal(utcInstant('0001-01-01T00:00:00Z'), '0001-01-01T00:00:00.000Z');
  t.equal(utcInstant('0001-01-01T00:00:00+00:01'), undefined, 'is 0000-12-31T23:59Z in UTC');
  t.equal(utcInstant('0000-12-31T23:59:59Z'), undefined);
  t.equal(utcInstantRoundedUp('0001-01-01T00:00:00.0001Z'), '0001-01-01T00:00:00.001Z');
});

t.test('year 9999 is the last storable year, also after normalising the offset', async (t) => {
  t.equal(utcInstant('9999-12-31T23:59:59.999Z'), '9999-12-31T23:59:59.999Z');
  t.equal(utcInstant('9999-12-31T23:59:59.9999Z'), '9999-12-31T23:59:59.999Z', 'truncated, so still in range');
  t.equal(utcInstant('9999-12-31T23:59:59.999-00:01'), undefined, 'is year 10000 in UTC');
  t.equal(utcInstant('10000-01-01T00:00:00Z'), undefined);
  t.equal(utcInstant('+010000-01-01T00:00:00.000Z'), undefined, 'an expanded year is outside the range');
});

t.test('the message for a refused instant names the storable range', async (t) => {
  t.equal(notAnInstant, 'is not a real instant between years 0001 and 9999');
});

t.test('a date or time that does not exist is refused, not rolled over into the next month or day', async (t) => {
  for (const text of [
    '2022-02-29T00:00:00Z',
    '2022-02-30T00:00:00Z',
    '2022-04-31T12:00:00Z',
    '2022-13-01T00:00:00Z',
    '2022-11-01T24:00:00Z',
    '2022-11-01T23:60:00Z',
  ]) {
    t.equal(utcInstant(text), undefined, text);
    t.equal(utcInstantRoundedUp(text), undefined, `${text} (rounded up)`);
  }
  t.equal(utcInstant('2024-02-29T00:00:00Z'), '2024-02-29T00:00:00.000Z', 'a leap day exists');
  t.equal(utcInstant('2000-02-29T23:59:59+01:00'), '2000-02-29T22:59:59.000Z', 'leap day in a year divisible by 400');
  t.equal(utcInstant('1900-02-29T00:00:00Z'), undefined, 'no leap day in 1900');
});

t.test('the UTC fast path answers exactly as the general path, valid or not (fast-check)', async (t) => {
  const pad = (n: number, width: number) => String(n).padStart(width, '0');
  const utcText = fc
    .record({
      year: fc.oneof(fc.integer({ min: 0, max: 9999 }), fc.constantFrom(0, 1, 1900, 2000, 2024, 2100, 9999)),
      month: fc.integer({ min: 0, max: 13 }),
      day: fc.integer({ min: 0, max: 32 }),
      hour: fc.integer({ min: 0, max: 25 }),
      minute: fc.integer({ min: 0, max: 60 }),
      second: fc.integer({ min: 0, max: 61 }),
      fraction: fc.option(fc.stringMatching(/^\d{1,9}$/), { nil: undefined }),
    })
    .map(
      (f) =>
        `${pad(f.year, 4)}-${pad(f.month, 2)}-${pad(f.day, 2)}T${pad(f.hour, 2)}:${pad(f.minute, 2)}:${pad(f.second, 2)}` +
        `${f.fraction === undefined ? '' : `.${f.fraction}`}Z`,
    );
  checkProperty(t, utcText, (text) => utcInstant(text) === anyOffsetInstant(text), {
    seed: 20_261_205,
    runs: 20_000,
    held: 'UTC date-times, each the same on both paths',
  });
});

t.test('millisOf reads an instant of the service as Date.parse does', async (t) => {
  for (const instant of [
    '1970-01-01T00:00:00.000Z',
    '1969-12-31T23:59:59.999Z',
    '0001-01-01T00:00:00.000Z',
    '9999-12-31T23:59:59.999Z',
    '2000-02-29T12:00:00.500Z',
    '1900-03-01T00:00:00.000Z',
    '2022-11-01T11:11:11.111Z',
  ]) {
    t.equal(millisOf(instant), Date.parse(instant), instant);
  }
  // Every millisecond of years 0001 to 9999, as utcInstant writes them.
  const instants = fc
    .integer({ min: Date.parse('0001-01-01T00:00:00.000Z'), max: Date.parse('9999-12-31T23:59:59.999Z') })
    .map((ms) => new Date(ms).toISOString());
  checkProperty(t, instants, (instant) => millisOf(instant) === Date.parse(instant), {
    seed: 20_261_206,
    runs: 20_000,
    held: 'instants, each read as Date.parse reads it',
  });
});

t.test('a range bound of at most 24 characters is never rounded', async (t) => {
  t.equal(utcInstantRoundedUp('2022-11-01T11:11:11.111Z'), '2022-11-01T11:11:11.111Z');
  t.equal(utcInstantRoundedUp('2022-11-01T11:11:11.1111Z'), '2022-11-01T11:11:11.112Z', '25 characters: rounded up');
  t.equal(utcInstantRoundedUp('2022-11-01T11:11:11.1110Z'), '2022-11-01T11:11:11.111Z', 'finer digits all zero');
});
