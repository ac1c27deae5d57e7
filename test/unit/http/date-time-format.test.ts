import fc from 'fast-check';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import t from 'tap';
import { dateTimeFormat } from '../../../src/http/date-time-format.js';
import { checkProperty } from '../../helpers/property.js';

const ajvFormatsDateTime = (fullFormats['date-time'] as { validate: (text: string) => boolean }).validate;

t.test('the common UTC forms are read on the fast path, with ajv-formats answers', async (t) => {
  for (const [text, valid] of [
    ['2022-11-01T11:11:11.111Z', true],
    ['2022-11-01T11:11:11Z', true],
    ['2024-02-29T00:00:00.000Z', true],
    ['2023-02-29T00:00:00.000Z', false],
    ['1900-02-29T00:00:00Z', false],
    ['2000-02-29T00:00:00Z', true],
    ['2022-04-31T00:00:00Z', false],
    ['2022-13-01T00:00:00Z', false],
    ['2022-00-01T00:00:00Z', false],
    ['2022-11-00T00:00:00Z', false],
    ['2022-11-01T24:00:00Z', false],
    ['2022-11-01T23:60:00Z', false],
    ['2022-11-01T23:59:60Z', true],
    ['2022-11-01T22:59:60Z', false],
    ['2022-11-01T11:11:1a.111Z', false],
    ['2022-11-01T11:11:11.11aZ', false],
    ['0000-01-01T00:00:00Z', true],
  ] as const) {
    t.equal(dateTimeFormat(text), valid, text);
    t.equal(ajvFormatsDateTime(text), valid, `${text} (ajv-formats)`);
  }
});

t.test('other forms go to ajv-formats', async (t) => {
  for (const text of [
    '2022-11-01t11:11:11z',
    '2022-11-01 11:11:11Z',
    '2022-11-01T11:11:11+01:00',
    '2022-11-01T11:11:11.1Z',
    '2022-11-01T11:11:11.123456Z',
    '2022-11-01T11:11:11',
    '',
  ]) {
    t.equal(dateTimeFormat(text), ajvFormatsDateTime(text), text);
  }
});

// Strings shaped like the fast path's, with any character anywhere: digits out of range, the
// separators moved or replaced, lower case, spaces, offsets.
const characters = fc.constantFrom(...'0123456789-:.TtZz +x'.split(''), '٣');
const twoDigits = fc.integer({ min: 0, max: 99 }).map((n) => String(n).padStart(2, '0'));
const shaped = fc
  .tuple(
    fc.integer({ min: 0, max: 9999 }).map((n) => String(n).padStart(4, '0')),
    twoDigits,
    twoDigits,
    twoDigits,
    twoDigits,
    fc.constantFrom('58', '59', '60', '61', '00'),
    fc.constantFrom('', '.000', '.999', '.5', '.1234'),
  )
  .map(([y, mo, d, h, mi, s, f]) => `${y}-${mo}-${d}T${h}:${mi}:${s}${f}Z`);
const mutated = fc.tuple(shaped, fc.array(fc.tuple(fc.nat(), characters), { maxLength: 3 })).map(([text, edits]) =>
  edits.reduce((s, [at, c]) => {
    const i = at % s.length;
    return s.slice(0, i) + c + s.slice(i + 1);
  }, text),
);

t.test('the same answer as ajv-formats for every string', async (t) => {
  checkProperty(
    t,
    fc.oneof(shaped, mutated, fc.string({ maxLength: 26 })),
    (text) => dateTimeFormat(text) === ajvFormatsDateTime(text),
    { seed: 20_261_206, runs: 50_000, held: 'strings, each with the same answer' },
  );
});
