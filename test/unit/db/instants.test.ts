import t from 'tap';
import { isoInstant } from '../../../src/db/instants.js';

t.test("Postgres' UTC timestamptz text becomes the API's ISO form with milliseconds", async (t) => {
  t.equal(isoInstant('2022-11-01 11:11:11.111+00'), '2022-11-01T11:11:11.111Z');
  t.equal(isoInstant('2022-11-01 11:11:11+00'), '2022-11-01T11:11:11.000Z', 'no fraction: .000');
  t.equal(isoInstant('2022-11-01 11:11:11.5+00'), '2022-11-01T11:11:11.500Z', 'Postgres trims trailing zeros');
  t.equal(isoInstant('2022-11-01 11:11:11.57+00'), '2022-11-01T11:11:11.570Z');
  t.equal(isoInstant('0001-01-01 00:00:00+00'), '0001-01-01T00:00:00.000Z', 'year 1, padded as Postgres pads it');
  t.equal(isoInstant('9999-12-31 23:59:59.999+00'), '9999-12-31T23:59:59.999Z');
});

t.test('microseconds (now()) are truncated to milliseconds, never rounded, as a Date would keep them', async (t) => {
  t.equal(isoInstant('2026-12-04 23:58:01.679999+00'), '2026-12-04T23:58:01.679Z');
  t.equal(isoInstant('2026-12-04 23:58:01.000001+00'), '2026-12-04T23:58:01.000Z');
});

t.test('the same as parsing into a Date and printing it again, for every millisecond form', async (t) => {
  for (const fraction of ['', '.1', '.12', '.123', '.1234', '.123456', '.999999', '.05', '.005']) {
    const text = `2024-02-29 06:07:08${fraction}+00`;
    const viaDate = new Date(`2024-02-29T06:07:08${fraction}Z`).toISOString();
    t.equal(isoInstant(text), viaDate, text);
  }
});

t.test(
  'a session in another time zone still yields the exact UTC instant (a pooler may not pass TimeZone on)',
  async (t) => {
    t.equal(isoInstant('2022-11-01 12:11:11.111+01'), '2022-11-01T11:11:11.111Z');
    t.equal(isoInstant('2022-11-01 05:41:11.5+05:30'), '2022-11-01T00:11:11.500Z', 'half-hour offset, across midnight');
    t.equal(isoInstant('2022-10-31 21:41:11-03:30'), '2022-11-01T01:11:11.000Z', 'negative offset, across a month end');
    t.equal(
      isoInstant('1883-11-18 12:03:58.123456-04:56:02'),
      '1883-11-18T17:00:00.123Z',
      'local mean time: offset in seconds',
    );
    t.equal(isoInstant('0001-01-01 01:00:00+01'), '0001-01-01T00:00:00.000Z', 'year 1 is not read as 1901');
    t.equal(isoInstant('2024-12-31 23:00:00-01'), '2025-01-01T00:00:00.000Z', 'across a year end');
    t.throws(() => isoInstant('2022-11-01 12:11:11 CET'), /unexpected timestamptz text/, 'not a form Postgres writes');
  },
);
