import fc from 'fast-check';
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { OpenApiDocument } from '../../src/http/contract.js';

// Requests derived from openapi.yaml for a fuzzer: every operation of the document, with valid
// values built from its schemas and mutations that break them, plus requests no operation
// describes (unknown paths, wrong methods, malformed HTTP). Each request is classified by what
// the contract says the server must do with it, from the exact bytes that are sent.

const Ajv2020 = Ajv2020Module.default ?? Ajv2020Module;
const addFormats = addFormatsModule.default ?? addFormatsModule;

/** A JSON Schema node of the document, with every `$ref` inlined: the keywords the fuzzer reads. */
export interface Schema {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  oneOf?: Schema[];
  anyOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  examples?: unknown[];
  [keyword: string]: unknown;
}

/** A node of the document as parsed (operations, parameters, responses); module-internal. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- YAML of any shape, read defensively
type DocumentNode = Record<string, any>;

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: Schema;
  examples: unknown[];
}

export interface ContractOperation {
  operationId: string;
  method: string;
  template: string;
  /** Matches the paths of this template; named groups are its path parameters. */
  pattern: RegExp;
  /** Also matches the template with an empty parameter (`/orders/`), which the router sends to this operation. */
  loosePattern: RegExp;
  parameters: Parameter[];
  body: { required: boolean; mediaType: string; schema: Schema } | undefined;
  /** The scopes a key needs; undefined when the operation needs no key. */
  scopes: string[] | undefined;
  /** Every status the operation declares. */
  statuses: number[];
}

const httpMethods = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'];

/** Every `$ref` replaced by what it points to (siblings of a `$ref` win), recursively. */
function inliner(document: OpenApiDocument): (node: unknown) => unknown {
  const lookup = (ref: string): unknown =>
    ref
      .slice(2)
      .split('/')
      .reduce<unknown>((o, k) => (o as Record<string, unknown>)[k.replace(/~1/g, '/').replace(/~0/g, '~')], document);
  const inline = (node: unknown, depth: number): unknown => {
    if (depth > 64) throw new Error('openapi.yaml: $ref cycle or nesting too deep for the fuzzer');
    if (Array.isArray(node)) return node.map((n) => inline(n, depth + 1));
    if (node === null || typeof node !== 'object') return node;
    const { $ref, ...rest } = node as Record<string, unknown>;
    const own = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, inline(v, depth + 1)]));
    return typeof $ref === 'string' ? { ...(inline(lookup($ref), depth + 1) as object), ...own } : own;
  };
  return (node) => inline(node, 0);
}

/** The operations of the document, walked from its paths (a new operation is fuzzed without a change here). */
export function operationsOf(document: OpenApiDocument): ContractOperation[] {
  const inline = inliner(document);
  const operations: ContractOperation[] = [];
  for (const [template, rawItem] of Object.entries(document.paths)) {
    const item = inline(rawItem) as DocumentNode;
    for (const method of httpMethods) {
      const operation = item[method] as DocumentNode | undefined;
      if (!operation) continue;
      const parameters = new Map<string, Parameter>();
      for (const p of [...(item.parameters ?? []), ...(operation.parameters ?? [])] as DocumentNode[]) {
        const examples = [
          ...Object.values((p.examples ?? {}) as Record<string, { value?: unknown }>).map((e) => e.value),
          ...(p.example === undefined ? [] : [p.example]),
        ];
        parameters.set(`${p.in}:${p.name}`, {
          name: p.name,
          in: p.in,
          required: p.required === true,
          schema: p.schema ?? {},
          examples: examples.filter((e) => e !== undefined),
        });
      }
      const content = (operation.requestBody?.content ?? {}) as Record<string, { schema?: Schema }>;
      const mediaType = Object.keys(content).find((m) => /json/.test(m)) ?? Object.keys(content)[0];
      const security = (operation.security ?? document.security ?? []) as Record<string, string[]>[];
      const needsKey = security.length > 0 && security.every((requirement) => Object.keys(requirement).length > 0);
      const source = template
        .replace(/[.*+?^$()|[\]\\]/g, '\\$&')
        .replace(/\\?\{([^}]+)\\?\}/g, (_m, name: string) => `(?<${name.replace(/[^A-Za-z0-9_]/g, '_')}>[^/]+)`);
      operations.push({
        operationId: operation.operationId ?? `${method} ${template}`,
        method: method.toUpperCase(),
        template,
        pattern: new RegExp(`^${source}$`),
        loosePattern: new RegExp(`^${source.replace(/\[\^\/\]\+/g, '[^/]*')}$`),
        parameters: [...parameters.values()],
        body:
          mediaType === undefined
            ? undefined
            : {
                required: operation.requestBody?.required === true,
                mediaType,
                schema: content[mediaType]!.schema ?? {},
              },
        scopes: needsKey ? (Object.values(security[0]!)[0] ?? []) : undefined,
        statuses: Object.keys(operation.responses ?? {})
          .map(Number)
          .filter(Number.isInteger),
      });
    }
  }
  return operations;
}

/** The schema at `ref` (`#/components/schemas/Problem`), with its `$ref`s inlined. */
export function schemaAt(document: OpenApiDocument, ref: string): Schema {
  return inliner(document)({ $ref: ref }) as Schema;
}

// ---------------------------------------------------------------------------------------------
// The oracle: what the contract accepts, decided from the exact text or bytes that are sent.

const ajv = new Ajv2020({ strict: false, allErrors: false, validateSchema: false });
addFormats(ajv);
// multipleOf as the contract means it, in decimal (0.29 is a multiple of 0.01), where Ajv divides in
// binary (0.29 / 0.01 = 28.999999999999996). Written apart from the server's src/http/decimal.ts,
// so that one cannot vouch for the other: a multiple of 10^-n is a number toFixed(n) gives back.
ajv.removeKeyword('multipleOf');
ajv.addKeyword({
  keyword: 'multipleOf',
  type: 'number',
  schemaType: 'number',
  validate: (step: number, value: number) => {
    const places = Math.round(-Math.log10(step));
    if (!(places >= 0 && Number(`1e-${places}`) === step)) throw new Error(`teach the oracle multipleOf ${step}`);
    return Number(value.toFixed(places)) === value;
  },
});
const compiled = new WeakMap<Schema, (data: unknown) => boolean>();

/** Whether `value` is valid against `schema` (JSON semantics: no coercion). */
export function accepts(schema: Schema, value: unknown): boolean {
  let check = compiled.get(schema);
  if (!check) {
    check = ajv.compile(schema) as (data: unknown) => boolean;
    compiled.set(schema, check);
  }
  return check(value);
}

/**
 * Whether a path, query or header parameter's text is valid. Text is read as the declared type:
 * an integer must be written in decimal digits (the contract's integers are numbers, not `0x10`,
 * `1e2` or ` 5`), anything else is validated as the string it is.
 */
export function acceptsText(schema: Schema, text: string): boolean {
  const type = Array.isArray(schema.type) ? undefined : schema.type;
  if (type === 'integer') return /^-?[0-9]+$/.test(text) && accepts(schema, Number(text));
  if (type === 'number') return text.trim() !== '' && !Number.isNaN(Number(text)) && accepts(schema, Number(text));
  if (type === 'boolean') return (text === 'true' || text === 'false') && accepts(schema, text === 'true');
  return accepts(schema, text);
}

// ---------------------------------------------------------------------------------------------
// Values: valid ones from a schema, and mutations that break them.

/** A JSON token written as is (numbers JSON.stringify cannot produce, broken escapes). */
export class RawJson {
  constructor(readonly text: string) {}
}

/** JSON text of a generated value: own `__proto__` keys and RawJson tokens included. */
export function jsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map(jsonText).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .map((k) => `${JSON.stringify(k)}:${jsonText((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function typesOf(schema: Schema): string[] {
  if (Array.isArray(schema.type)) return schema.type;
  if (typeof schema.type === 'string') return [schema.type];
  if (schema.properties || schema.required) return ['object'];
  if (schema.items) return ['array'];
  return [];
}

const fixedDate = (iso: string) => new Date(iso).getTime();

/** An RFC 3339 date-time with Z or an offset, in the assorted forms the contract allows. */
function dateTimeArb(near: number[]): fc.Arbitrary<string> {
  const instant = fc.oneof(
    {
      arbitrary: fc.integer({ min: fixedDate('1990-01-01T00:00:00Z'), max: fixedDate('2099-12-31T00:00:00Z') }),
      weight: 2,
    },
    // Close to the document's examples, so the 3-hour rule is met as often as not.
    ...(near.length
      ? [
          {
            arbitrary: fc
              .tuple(fc.constantFrom(...near), fc.integer({ min: -30 * 24 * 60, max: 30 * 24 * 60 }))
              .map(([t, m]) => t + m * 60_000),
            weight: 3,
          },
        ]
      : []),
  );
  const offsetMinutes = fc.oneof(fc.constant(0), fc.integer({ min: -14 * 60, max: 14 * 60 }));
  return fc
    .record({
      instant,
      offset: offsetMinutes,
      digits: fc.integer({ min: 0, max: 9 }),
      t: fc.constantFrom('T', 't'),
      z: fc.constantFrom('Z', 'z', '+00:00', 'offset'),
    })
    .map(({ instant, offset, digits, t, z }) => {
      const useOffset = z === 'offset';
      const local = new Date(instant + (useOffset ? offset : 0) * 60_000).toISOString();
      const fraction = digits === 0 ? '' : `.${(local.slice(20, 23) + '123456').slice(0, digits)}`;
      const sign = offset < 0 ? '-' : '+';
      const abs = Math.abs(offset);
      const zone = useOffset
        ? `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
        : z;
      return `${local.slice(0, 10)}${t}${local.slice(11, 19)}${fraction}${zone}`;
    });
}

const INT32 = 2 ** 31 - 1;

/** Values valid against `schema` (biased to its bounds and its `examples`). */
export function validArb(schema: Schema, depth = 0): fc.Arbitrary<unknown> {
  if ('const' in schema) return fc.constant(schema.const);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...schema.enum);
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives)
    return fc.oneof(...alternatives.map((s) => validArb(s, depth + 1))).filter((v) => accepts(schema, v));
  const types = typesOf(schema);
  const examples = (schema.examples ?? []).filter((e) => accepts(schema, e));
  const base =
    types.length > 1
      ? fc.oneof(...types.map((type) => validOfType({ ...schema, type }, type, depth)))
      : validOfType(schema, types[0], depth);
  // Examples name things that exist (catalogue ids); whole example objects would all collide.
  const exampleWeight = types[0] === 'object' || types[0] === 'array' ? 1 : 3;
  return examples.length
    ? fc.oneof({ arbitrary: base, weight: 3 }, { arbitrary: fc.constantFrom(...examples), weight: exampleWeight })
    : base;
}

function validOfType(schema: Schema, type: string | undefined, depth: number): fc.Arbitrary<unknown> {
  switch (type) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer': {
      const min = schema.minimum ?? -INT32 - 1;
      const max = schema.maximum ?? INT32;
      return fc.oneof(
        fc.integer({ min, max }),
        fc.constantFrom(min, max),
        fc.integer({ min, max: Math.min(max, min + 1000) }),
      );
    }
    case 'number': {
      const min = schema.minimum ?? -1e9;
      const max = schema.maximum ?? 1e9;
      const cents = fc
        .integer({ min: Math.ceil(min * 100), max: Math.min(Math.floor(max * 100), 1e9) })
        .map((c) => c / 100);
      return fc.oneof(
        { arbitrary: cents, weight: 4 },
        { arbitrary: fc.integer({ min: Math.ceil(min), max: Math.floor(Math.min(max, 1e6)) }), weight: 4 },
        { arbitrary: fc.constantFrom(min, max), weight: 1 },
        // Any double, where the schema asks for no multiple (cents otherwise, as above).
        ...(schema.multipleOf === undefined
          ? [{ arbitrary: fc.double({ min, max, noNaN: true, noDefaultInfinity: true }), weight: 1 }]
          : []),
      );
    }
    case 'string':
      return validString(schema);
    case 'array': {
      const minLength = schema.minItems ?? 0;
      const maxLength = Math.max(minLength, Math.min(schema.maxItems ?? 4, depth > 3 ? minLength : 4));
      const items = validArb(schema.items ?? {}, depth + 1);
      return fc.oneof(
        { arbitrary: fc.array(items, { minLength, maxLength: Math.min(maxLength, minLength + 1) }), weight: 3 },
        { arbitrary: fc.array(items, { minLength, maxLength }), weight: 1 },
      );
    }
    case 'object': {
      const properties = schema.properties ?? {};
      const required = (schema.required ?? []).filter((k) => k in properties);
      const record = fc.record(
        Object.fromEntries(Object.entries(properties).map(([k, s]) => [k, validArb(s, depth + 1)])),
        { requiredKeys: required },
      );
      // Optional properties are the exception rather than the rule.
      return fc.oneof(
        {
          arbitrary: fc.record(Object.fromEntries(required.map((k) => [k, validArb(properties[k]!, depth + 1)]))),
          weight: 3,
        },
        { arbitrary: record, weight: 1 },
      );
    }
    default:
      return fc.constantFrom<unknown>(null, 0, 'x', true, [], {});
  }
}

function validString(schema: Schema): fc.Arbitrary<string> {
  const minLength = schema.minLength ?? 0;
  const maxLength = schema.maxLength ?? 64;
  let base: fc.Arbitrary<string>;
  if (schema.format === 'date-time') {
    const near = (schema.examples ?? [])
      .filter((e): e is string => typeof e === 'string')
      .map((e) => new Date(e).getTime())
      .filter(Number.isFinite);
    base = dateTimeArb(near);
  } else if (typeof schema.pattern === 'string') {
    base = fc
      .stringMatching(new RegExp(schema.pattern, 'u'))
      .map((s) => (s.length > maxLength ? s.slice(0, maxLength) : s));
  } else {
    const bounds = { minLength, maxLength: Math.max(minLength, Math.min(maxLength, 40)) };
    base = fc.oneof(fc.string({ ...bounds, unit: 'grapheme-ascii' }), fc.string({ ...bounds, unit: 'grapheme' }));
  }
  return base.filter((s) => accepts(schema, s));
}

const nastyStrings = [
  '\u0000',
  '\u0001',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u009f',
  '\u00a0',
  '\u2028',
  '\u202e',
  '\ufeff',
  '\ud800',
  '\udfff',
  '💥',
  'é',
  '名前',
  ' ',
  '\t',
  '\n',
  '\r\n',
  '"',
  '\\',
  '/',
  '%',
  '%00',
  '..',
  "'",
  "' OR '1'='1",
  ';',
  '<script>',
  '{',
  '}',
  '?',
  '#',
  '&',
  '=',
  '+',
  '${x}',
  '\u0301',
];

/** Keys that have tripped up JavaScript servers (prototype pollution, look-alikes). */
const hostileKeys = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '$ref',
  '',
  ' ',
  'a\u0000b',
  '名前',
  '💥',
  'x'.repeat(300),
];

const wrongTypeValues: Record<string, unknown[]> = {
  string: ['', 'x', '123', 'null', 'true'],
  number: [0, -1, 1.5, 1e308, -1e308],
  integer: [0, 7, -1],
  boolean: [true, false],
  null: [null],
  array: [[], [1], ['x'], [null]],
  object: [{}, { a: 1 }],
};

/** Breaks the value at this node itself: another type, out of bounds, wrong text. */
function breakHere(schema: Schema): fc.Arbitrary<{ value: unknown; why: string }> {
  const types = typesOf(schema);
  const candidates: fc.Arbitrary<{ value: unknown; why: string }>[] = [];
  const others = Object.entries(wrongTypeValues).flatMap(([type, values]) =>
    types.includes(type) || (type === 'integer' && types.includes('number')) ? [] : values,
  );
  if (others.length) candidates.push(fc.constantFrom(...others).map((value) => ({ value, why: 'wrong type' })));
  if (types.includes('string')) {
    const maxLength: number | undefined = schema.maxLength;
    const valid = validArb({ ...schema, type: 'string' }) as fc.Arbitrary<string>;
    if (maxLength !== undefined)
      candidates.push(
        fc
          .integer({ min: 1, max: 50 })
          .map((n) => ({ value: 'a'.repeat(maxLength + n), why: 'longer than maxLength' })),
      );
    if ((schema.minLength ?? 0) > 0 || schema.pattern)
      candidates.push(fc.constantFrom('', ' ', '\t').map((value) => ({ value, why: 'empty or blank' })));
    candidates.push(
      fc.tuple(valid, fc.constantFrom(...nastyStrings), fc.nat()).map(([s, nasty, at]) => {
        const i = s.length === 0 ? 0 : at % (s.length + 1);
        return { value: s.slice(0, i) + nasty + s.slice(i), why: `${JSON.stringify(nasty)} inserted` };
      }),
      fc.string({ unit: 'binary', maxLength: 30 }).map((value) => ({ value, why: 'random unicode' })),
    );
    if (schema.format === 'date-time') {
      candidates.push(
        fc
          .constantFrom(
            '2022-11-01T11:11:11',
            '2022-11-01',
            '2022-11-01 11:11:11Z',
            '2022-02-30T00:00:00Z',
            '2022-13-01T00:00:00Z',
            '2022-11-01T24:00:00Z',
            '2022-11-01T11:11:11+24:00',
            '2022-11-01T11:11:11.1234567890Z',
            '0000-00-00T00:00:00Z',
            '+002022-11-01T00:00:00Z',
            '2022-W44-2T00:00:00Z',
            '1667301071',
            'now',
            'Tue, 01 Nov 2022 11:11:11 GMT',
            '2022-11-01T11:11:11Z ',
            '２０２２-11-01T11:11:11Z',
            '9999-12-31T23:59:59.999Z',
            '0001-01-01T00:00:00Z',
            '1969-12-31T23:59:59Z',
            '2016-12-31T23:59:60Z',
            '2022-11-01T11:11:11-00:00',
          )
          .map((value) => ({ value, why: 'not an RFC 3339 instant (or an edge one)' })),
      );
    }
    candidates.push(
      fc
        .integer({ min: 16_000, max: 1_200_000 })
        .map((n) => ({ value: 'x'.repeat(n), why: `huge string (${n} chars)` })),
    );
  }
  if (types.includes('integer') || types.includes('number')) {
    const min: number = schema.minimum ?? -(2 ** 31);
    const max: number = schema.maximum ?? 2 ** 31 - 1;
    const numbers = [
      min - 1,
      min - 0.01,
      max + 1,
      max + 0.01,
      2 ** 31,
      -(2 ** 31) - 1,
      2 ** 53,
      2 ** 53 + 2,
      1e21,
      Number.MAX_VALUE,
      -Number.MAX_VALUE,
      Number.MIN_VALUE,
      -0.000001,
      0.001,
      123.456,
    ];
    if (!types.includes('number')) numbers.push(1.5, min + 0.5);
    candidates.push(
      fc.constantFrom(...numbers).map((value) => ({ value, why: 'number out of bounds or not an integer' })),
    );
    candidates.push(
      fc
        .constantFrom(
          '1e400',
          '-1e400',
          '1E2',
          '1.0',
          '100.00',
          '0.1e1',
          '-0',
          '01',
          'NaN',
          'Infinity',
          '0x10',
          '.5',
          '+1',
          '1.',
          '1e',
          '99999999999999999999999999999',
        )
        .map((text) => ({ value: new RawJson(text), why: `number written as ${text}` })),
    );
  }
  if (types.includes('string')) {
    candidates.push(
      fc
        .constantFrom('"\\ud800"', '"\\u0000"', '"a\u0000b"', '"\\x41"', '"\\u12"', '"unterminated', "'single'")
        .map((text) => ({ value: new RawJson(text), why: `string written as ${text}` })),
    );
  }
  candidates.push(
    fc
      .constantFrom(10_000, 100_000)
      .map((n) => ({ value: new RawJson('['.repeat(n) + ']'.repeat(n)), why: `${n} nested arrays` })),
    fc.constant({ value: new RawJson('{"a":'.repeat(5000) + '1' + '}'.repeat(5000)), why: '5000 nested objects' }),
  );
  return fc.oneof(...candidates);
}

function withOwn(object: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const copy = { ...object };
  // An own property named __proto__, as JSON.parse would make it.
  Object.defineProperty(copy, key, { value, enumerable: true, configurable: true, writable: true });
  return copy;
}

/** A value that breaks `schema` somewhere (at this node or deeper), with what was broken. */
export function mutatedArb(schema: Schema, at: string, depth = 0): fc.Arbitrary<{ value: unknown; why: string }> {
  const here = breakHere(schema).map(({ value, why }) => ({ value, why: `${at || '/'}: ${why}` }));
  const deeper: fc.Arbitrary<{ value: unknown; why: string }>[] = [];
  const types = typesOf(schema);
  if (types.includes('object') && depth < 4) {
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    const valid = validArb({ ...schema, type: 'object' }, depth) as fc.Arbitrary<Record<string, unknown>>;
    for (const [name, property] of Object.entries(properties)) {
      deeper.push(
        fc
          .tuple(valid, mutatedArb(property, `${at}/${name}`, depth + 1))
          .map(([o, m]) => ({ value: withOwn(o, name, m.value), why: m.why })),
      );
    }
    for (const name of (schema.required ?? []) as string[]) {
      deeper.push(
        valid.map((o) => ({
          value: Object.fromEntries(Object.entries(o).filter(([k]) => k !== name)),
          why: `${at}/${name}: missing`,
        })),
      );
    }
    const nearMisses = Object.keys(properties).flatMap((k) => [
      k.toUpperCase(),
      k[0]!.toUpperCase() + k.slice(1),
      `${k} `,
      `${k}s`,
    ]);
    const key = fc.oneof(
      fc.constantFrom(...hostileKeys, ...nearMisses),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
    );
    const extra = fc.oneof(
      validArb({}),
      fc.constant({ prototype: { polluted: true } }),
      fc.constant({ polluted: true }),
    );
    deeper.push(
      fc.tuple(valid, key, extra).map(([o, k, v]) => ({
        value: withOwn(o, k, v),
        why: `${at}: extra property ${JSON.stringify(k.slice(0, 40))}`,
      })),
    );
  }
  if (types.includes('array') && depth < 4) {
    const item = (schema.items ?? {}) as Schema;
    const minItems: number = schema.minItems ?? 0;
    const maxItems: number | undefined = schema.maxItems;
    const validItems = fc.array(validArb(item, depth + 1), { minLength: Math.max(0, minItems - 1), maxLength: 3 });
    deeper.push(
      fc.tuple(validItems, mutatedArb(item, `${at}/*`, depth + 1), fc.nat()).map(([items, m, i]) => {
        const copy = [...items];
        copy.splice(i % (copy.length + 1), 0, m.value);
        return { value: copy, why: m.why };
      }),
    );
    if (minItems > 0) deeper.push(fc.constant({ value: [], why: `${at}: empty array` }));
    if (maxItems !== undefined) {
      deeper.push(
        fc
          .array(validArb(item, depth + 1), { minLength: maxItems + 1, maxLength: maxItems + 3 })
          .map((value) => ({ value, why: `${at}: more than ${maxItems} items` })),
      );
      const filler = fc.sample(validArb(item, depth + 1), { seed: 1, numRuns: 1 })[0];
      deeper.push(
        fc
          .constantFrom(1_000, 100_000)
          .map((n) => ({ value: Array.from({ length: n }, () => filler), why: `${at}: ${n} items` })),
      );
    }
  }
  return deeper.length ? fc.oneof({ arbitrary: here, weight: 1 }, { arbitrary: fc.oneof(...deeper), weight: 2 }) : here;
}

/** Texts for a path, query or header parameter that break it (or try to). */
function mutatedTextArb(schema: Schema): fc.Arbitrary<{ text: string; why: string }> {
  const type = Array.isArray(schema.type) ? 'string' : schema.type;
  const maxLength: number = schema.maxLength ?? 64;
  const valid = validArb(schema).map(String);
  const texts: fc.Arbitrary<{ text: string; why: string }>[] = [
    fc
      .constantFrom('', ' ', 'null', 'undefined', 'true', '[]', '{}', '-1', '0', '1.5', 'abc')
      .map((text) => ({ text, why: `${JSON.stringify(text)}` })),
    fc
      .tuple(valid, fc.constantFrom(...nastyStrings.filter((s) => !/[\ud800-\udfff]/.test(s))), fc.nat())
      .map(([s, nasty, at]) => {
        const i = at % (s.length + 1);
        return { text: s.slice(0, i) + nasty + s.slice(i), why: `${JSON.stringify(nasty)} inserted` };
      }),
    fc.integer({ min: 1, max: 40 }).map((n) => ({ text: '1'.repeat(maxLength + n), why: 'longer than maxLength' })),
    fc.constantFrom(2_000, 9_000, 20_000).map((n) => ({ text: '9'.repeat(n), why: `${n} characters` })),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).map((text) => ({ text, why: 'random unicode' })),
  ];
  if (type === 'integer' || type === 'number') {
    const min: number = schema.minimum ?? -(2 ** 31);
    const max: number = schema.maximum ?? 2 ** 31 - 1;
    texts.push(
      fc
        .constantFrom(
          String(min - 1),
          String(max + 1),
          '1e2',
          '0x10',
          ' 5',
          '5 ',
          '+5',
          '1,2',
          '١٢٣',
          'NaN',
          'Infinity',
          '99999999999999999999',
          '-0',
          '00',
          '1_000',
          '0b1',
          '１２３',
        )
        .map((text) => ({ text, why: `integer as ${JSON.stringify(text)}` })),
    );
  }
  if (schema.format === 'date-time') {
    texts.push(
      fc
        .constantFrom(
          '2022-11-01T11:11:11',
          '2022-11-01',
          '2022-02-30T00:00:00Z',
          '2022-11-01 11:11:11Z',
          'now',
          '2022-11-01T11:11:11+01:00 ',
        )
        .map((text) => ({ text, why: `date-time ${JSON.stringify(text)}` })),
    );
  }
  return fc.oneof(...texts);
}

// ---------------------------------------------------------------------------------------------
// Request plans (what to send) and concrete requests (the bytes, resolved against live state).

type ParamPlan = { text: string } | { encoded: string } | { live: number } | { liveEtag: true } | { liveValue: number };

interface BodyPlan {
  /** Sent as JSON text (jsonText), or bytes as they are. */
  value?: unknown;
  bytes?: string | Buffer;
  /** null: no Content-Type header. */
  contentType: string | null;
  why: string;
}

type AuthPlan =
  'key' | 'none' | 'garbage' | 'empty-bearer' | 'basic' | 'no-scheme' | 'lowercase-scheme' | 'read-only' | 'two-tokens';

export interface RequestPlan {
  kind: 'operation' | 'wrong-method' | 'unknown-path' | 'raw';
  operation?: ContractOperation;
  method: string;
  pathParams: Record<string, ParamPlan>;
  /** A literal path (unknown-path plans). */
  path?: string;
  query: [string, ParamPlan][];
  headers: [string, ParamPlan][];
  body?: BodyPlan;
  auth: AuthPlan;
  /** For raw plans: the whole request; `{key}` is replaced by the API key. */
  raw?: { text: string | Buffer; path: string; why: string; parserError: boolean };
  why: string[];
}

const authArb: fc.Arbitrary<AuthPlan> = fc.oneof(
  { arbitrary: fc.constant<AuthPlan>('key'), weight: 85 },
  {
    arbitrary: fc.constantFrom<AuthPlan>('none', 'garbage', 'empty-bearer', 'basic', 'no-scheme', 'two-tokens'),
    weight: 8,
  },
  { arbitrary: fc.constant<AuthPlan>('read-only'), weight: 5 },
  { arbitrary: fc.constant<AuthPlan>('lowercase-scheme'), weight: 2 },
);

/** What an HTTP client can put in a header value. */
const headerSafe = (text: string) => /^[\t\x20-\x7e\x80-\xff]*$/.test(text);

const nonJsonTypes = [
  'text/plain',
  'application/xml',
  'text/html',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'application/problem+json',
  'image/png',
];
const jsonTypes = [
  'application/json',
  'application/json; charset=utf-8',
  'Application/JSON',
  'application/json;charset=UTF-8',
];
const oddTypes = [
  'application/json-patch+json',
  'application/vnd.api+json',
  'text/json',
  'application/json, text/plain',
  'application/jsonx',
  'application/json; charset=utf-16',
  ';',
  'application/',
  '*/*',
  'application/json\u00e9',
];

function paramPlanArb(parameter: Parameter): fc.Arbitrary<ParamPlan> {
  const valid = fc.oneof(
    { arbitrary: validArb(parameter.schema).map((v) => ({ text: String(v) })), weight: 3 },
    ...(parameter.examples.length
      ? [{ arbitrary: fc.constantFrom(...parameter.examples).map((v) => ({ text: String(v) })), weight: 1 }]
      : []),
  );
  if (parameter.in === 'path')
    return fc.oneof({ arbitrary: fc.nat().map((live) => ({ live })), weight: 3 }, { arbitrary: valid, weight: 2 });
  // A value the server handed out under a similar name (a `nextCursor` for `cursor`), from any list.
  if (parameter.in === 'query')
    return fc.oneof(
      { arbitrary: valid, weight: 2 },
      { arbitrary: fc.nat().map((liveValue) => ({ liveValue })), weight: 1 },
    );
  if (parameter.in === 'header') {
    // Whitespace a header cannot carry (CR, LF, VT, FF) becomes a space, which the pattern also allows.
    const header = valid
      .map(({ text }) => ({ text: text.replace(/[\r\n\v\f]/g, ' ') }))
      .filter(({ text }) => headerSafe(text) && acceptsText(parameter.schema, text.trim()));
    if (/^if-(none-)?match$/i.test(parameter.name)) {
      return fc.oneof(
        { arbitrary: fc.constant({ liveEtag: true as const }), weight: 3 },
        { arbitrary: fc.constant({ text: '*' }), weight: 1 },
        { arbitrary: header, weight: 1 },
      );
    }
    // A few values reused over and over, so that keys are replayed and reused with other bodies.
    const reused = fc.sample(header, { seed: 42, numRuns: 3 });
    return fc.oneof({ arbitrary: header, weight: 1 }, { arbitrary: fc.constantFrom(...reused), weight: 2 });
  }
  return valid;
}

function brokenParamArb(parameter: Parameter): fc.Arbitrary<{ plan: ParamPlan; why: string }> {
  const where = `${parameter.in} ${parameter.name}`;
  const texts = mutatedTextArb(parameter.schema).map(({ text, why }) => ({
    plan: { text } as ParamPlan,
    why: `${where}: ${why}`,
  }));
  if (parameter.in !== 'path') return texts;
  const encoded = fc
    .constantFrom(
      '%',
      '%ZZ',
      '%ED%A0%80',
      '%C0%AF',
      '%2F',
      '%252F',
      '.',
      '..',
      '%2E%2E',
      '%00',
      '1%0A',
      '1;x=1',
      'a'.repeat(600),
      '1'.repeat(600),
    )
    .map((e) => ({
      plan: { encoded: e } as ParamPlan,
      why: `${where}: raw segment ${JSON.stringify(e.slice(0, 20))}`,
    }));
  return fc.oneof(texts, encoded);
}

function headerLikeArb(): fc.Arbitrary<[string, ParamPlan]> {
  // Headers no operation declares: ignored, echoed or refused, never a 5xx.
  return fc
    .oneof(
      fc.tuple(
        fc.constant('X-Request-Id'),
        fc.oneof(
          fc.string({ unit: 'grapheme-ascii', maxLength: 80 }),
          fc.constant('x'.repeat(5000)),
          fc.constant('é\u00ff'),
          fc.constant('a b\tc'),
        ),
      ),
      fc.tuple(
        fc.constantFrom(
          'Accept',
          'Accept-Encoding',
          'Accept-Language',
          'Origin',
          'X-Forwarded-For',
          'Forwarded',
          'Cookie',
          'Range',
          'If-Modified-Since',
          'Cache-Control',
          'X-HTTP-Method-Override',
        ),
        fc.constantFrom(
          '',
          '*',
          'text/html',
          'gzip',
          'bytes=0-1',
          'null',
          'https://evil.example',
          '1.2.3.4, 5.6.7.8',
          'DELETE',
          'x'.repeat(3000),
          'identity',
        ),
      ),
    )
    .map(([name, text]) => [name, { text }]);
}

function bodyPlanArb(operation: ContractOperation): fc.Arbitrary<BodyPlan | undefined> {
  if (!operation.body) {
    // A body where none is declared: ignored (GET, HEAD) or refused if it is not JSON, never a 5xx.
    return fc.oneof(
      { arbitrary: fc.constant(undefined), weight: 15 },
      {
        arbitrary: fc
          .tuple(
            fc.constantFrom(...jsonTypes, ...nonJsonTypes, null),
            fc.constantFrom('{}', '{"a":1}', 'hello', '', '['.repeat(10_000)),
          )
          .map(([contentType, bytes]) => ({ bytes, contentType, why: 'a body where none is declared' })),
        weight: 1,
      },
    );
  }
  const schema = operation.body.schema;
  const valid = validArb(schema);
  const rawText = fc.oneof(
    fc
      .constantFrom(
        '',
        ' ',
        'null',
        '0',
        '"text"',
        '[]',
        'true',
        '{',
        '}',
        '{"a":1',
        "{'a':1}",
        '{"a":1,}',
        '{a:1}',
        '/* c */{}',
        'NaN',
        'undefined',
        '{"a":1}{"b":2}',
        '\u0000',
        '\ufeff',
      )
      .map((text) => ({ text, why: `body ${JSON.stringify(text)}` })),
    fc.constantFrom(10_000, 100_000).map((n) => ({ text: '['.repeat(n), why: `${n} unclosed [` })),
    fc.constant({ text: '{"a":'.repeat(10_000), why: '10000 unclosed objects' }),
    fc.tuple(valid, fc.nat()).map(([v, cut]) => {
      const text = jsonText(v);
      return { text: text.slice(0, cut % Math.max(1, text.length)), why: 'truncated JSON' };
    }),
    fc
      .tuple(valid, fc.constantFrom(',', '}', ']', 'x', '\u0000', ' garbage'))
      .map(([v, tail]) => ({ text: jsonText(v) + tail, why: `JSON followed by ${JSON.stringify(tail)}` })),
    valid.map((v) => ({ text: `\ufeff${jsonText(v)}`, why: 'JSON after a byte order mark' })),
    valid.map((v) => ({ text: JSON.stringify(jsonText(v)), why: 'JSON encoded twice' })),
    valid.map((v) => ({
      text: `{"__proto__":{"polluted":true},${jsonText(v).slice(1)}`,
      why: '__proto__ key at the top',
    })),
    valid.map((v) => ({
      text: `{"constructor":{"prototype":{"polluted":true}},${jsonText(v).slice(1)}`,
      why: 'constructor.prototype key at the top',
    })),
    fc
      .integer({ min: 1_048_000, max: 1_100_000 })
      .map((n) => ({ text: `{"a":"${'x'.repeat(n)}"}`, why: `${n}-byte body (limit 1 MiB)` })),
  );
  const rawBytes = fc.oneof(
    valid.map((v) => ({ bytes: Buffer.from(jsonText(v), 'utf16le'), why: 'JSON in UTF-16LE' })),
    valid.map((v) => ({
      bytes: Buffer.concat([Buffer.from(jsonText(v)), Buffer.from([0xff, 0xfe, 0x00])]),
      why: 'JSON then invalid UTF-8',
    })),
    fc.constant({ bytes: Buffer.from([0xc3, 0x28, 0xa0, 0xa1]), why: 'invalid UTF-8 only' }),
  );
  return fc.oneof(
    { arbitrary: valid.map((value) => ({ value, contentType: 'application/json', why: 'valid body' })), weight: 40 },
    {
      arbitrary: mutatedArb(schema, '/body').map(({ value, why }) => ({ value, contentType: 'application/json', why })),
      weight: 35,
    },
    { arbitrary: rawText.map(({ text, why }) => ({ bytes: text, contentType: 'application/json', why })), weight: 10 },
    { arbitrary: rawBytes.map(({ bytes, why }) => ({ bytes, contentType: 'application/json', why })), weight: 2 },
    {
      arbitrary: fc
        .tuple(valid, fc.constantFrom(...nonJsonTypes, ...jsonTypes, ...oddTypes, null))
        .map(([value, contentType]) => ({ value, contentType, why: `Content-Type ${contentType ?? '(none)'}` })),
      weight: 8,
    },
    ...(operation.body.required ? [{ arbitrary: fc.constant(undefined), weight: 2 }] : []),
  );
}

function operationPlanArb(operation: ContractOperation): fc.Arbitrary<RequestPlan> {
  const byIn = (where: Parameter['in']) => operation.parameters.filter((p) => p.in === where);
  const valid = fc.record({
    pathParams: fc.record(Object.fromEntries(byIn('path').map((p) => [p.name, paramPlanArb(p)]))),
    query: fc.tuple(
      ...byIn('query').map((p) =>
        fc
          .option(paramPlanArb(p), { freq: 2 })
          .map((plan) =>
            plan === null && !p.required ? undefined : ([p.name, plan ?? { text: '' }] as [string, ParamPlan]),
          ),
      ),
    ),
    headers: fc.tuple(
      ...byIn('header').map((p) =>
        fc
          .option(paramPlanArb(p), { freq: 2 })
          .map((plan) =>
            plan === null && !p.required ? undefined : ([p.name, plan ?? { text: '' }] as [string, ParamPlan]),
          ),
      ),
    ),
    extraHeaders: fc.oneof(
      { arbitrary: fc.constant([] as [string, ParamPlan][]), weight: 8 },
      { arbitrary: fc.array(headerLikeArb(), { minLength: 1, maxLength: 3 }), weight: 1 },
    ),
    body: bodyPlanArb(operation),
    auth: authArb,
  });
  const parameters = operation.parameters;
  type Breakage =
    | { where: 'param'; parameter: Parameter; plan: ParamPlan; why: string }
    | { where: 'query'; entries: [string, ParamPlan][]; why: string }
    | { where: 'none' };
  const breakages: fc.Arbitrary<Breakage>[] = [fc.constant({ where: 'none' })];
  for (const parameter of parameters) {
    breakages.push(brokenParamArb(parameter).map(({ plan, why }) => ({ where: 'param', parameter, plan, why })));
  }
  const queryParams = byIn('query');
  const unknownName = fc.oneof(
    fc.constantFrom(
      '__proto__',
      'constructor',
      'foo',
      ...queryParams.map((p) => p.name.toUpperCase()),
      ...queryParams.map((p) => `${p.name}[]`),
    ),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }),
  );
  breakages.push(
    fc.tuple(unknownName, fc.string({ maxLength: 5 })).map(([name, text]) => ({
      where: 'query',
      entries: [[name, { text }]],
      why: `query: unknown parameter ${JSON.stringify(name)}`,
    })),
  );
  for (const p of queryParams) {
    breakages.push(
      fc.tuple(paramPlanArb(p), paramPlanArb(p)).map(([a, b]) => ({
        where: 'query',
        entries: [
          [p.name, a],
          [p.name, b],
        ],
        why: `query: ${p.name} twice`,
      })),
    );
  }
  const breakage = fc.oneof(
    { arbitrary: breakages[0]!, weight: 3 },
    { arbitrary: fc.oneof(...breakages.slice(1)), weight: 1 },
  );
  return fc.tuple(valid, breakage).map(([v, b]) => {
    const plan: RequestPlan = {
      kind: 'operation',
      operation,
      method: operation.method,
      pathParams: v.pathParams as Record<string, ParamPlan>,
      query: v.query.filter((e): e is [string, ParamPlan] => e !== undefined),
      headers: [...v.headers.filter((e): e is [string, ParamPlan] => e !== undefined), ...v.extraHeaders],
      body: v.body,
      auth: v.auth,
      why: [],
    };
    if (v.body) plan.why.push(v.body.why);
    if (b.where === 'param') {
      const { parameter } = b;
      if (parameter.in === 'path') plan.pathParams[parameter.name] = b.plan;
      else {
        const list = parameter.in === 'query' ? plan.query : plan.headers;
        const i = list.findIndex(([name]) => name === parameter.name);
        if (i >= 0) list[i] = [parameter.name, b.plan];
        else list.push([parameter.name, b.plan]);
      }
      plan.why.push(b.why);
    } else if (b.where === 'query') {
      const names = new Set(b.entries.map(([n]) => n));
      plan.query = [...plan.query.filter(([n]) => !names.has(n)), ...b.entries];
      plan.why.push(b.why);
    }
    if (v.auth !== 'key') plan.why.push(`auth: ${v.auth}`);
    return plan;
  });
}

/** Requests at the operation's path with a method it does not have, and paths the contract does not have. */
function strayPlanArb(operations: ContractOperation[]): fc.Arbitrary<RequestPlan> {
  const templates = [...new Set(operations.map((o) => o.template))];
  const wrongMethod = fc
    .tuple(
      fc.constantFrom(...templates),
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'HEAD'),
      authArb,
    )
    .filter(
      ([template, method]) =>
        !operations.some(
          (o) => o.template === template && (o.method === method || (method === 'HEAD' && o.method === 'GET')),
        ),
    )
    .map(([template, method, auth]): RequestPlan => ({
      kind: 'wrong-method',
      method,
      path: template.replace(/\{[^}]+\}/g, '1'),
      pathParams: {},
      query: [],
      headers: [],
      auth,
      why: [`${method} not declared on ${template}`],
    }));
  const head = fc
    .tuple(fc.constantFrom(...operations.filter((o) => o.method === 'GET')), authArb)
    .chain(([operation, auth]) =>
      operationPlanArb(operation).map((plan): RequestPlan => ({
        ...plan,
        method: 'HEAD',
        auth,
        body: undefined,
        why: [...plan.why, 'HEAD'],
      })),
    );
  const segment = fc.oneof(
    fc.stringMatching(/^[a-z0-9._~-]{1,12}$/),
    fc.constantFrom(
      'orders',
      'services',
      'ORDERS',
      'Orders',
      '%20',
      '%00',
      '%ZZ',
      '..',
      '.',
      '1',
      'healthz',
      'metrics',
      '',
      '%2F',
      '%C3%A9',
    ),
  );
  const unknownPath = fc
    .oneof(
      fc.array(segment, { minLength: 0, maxLength: 4 }).map((segments) => `/${segments.join('/')}`),
      fc
        .tuple(
          fc.constantFrom(...templates),
          fc.constantFrom('/', '/x', '//', '/1/2', '.json', '%20', ';x', '/..', '/%2e%2e'),
        )
        .map(([t, tail]) => t.replace(/\{[^}]+\}/g, '1') + tail),
      fc.constantFrom(...templates).map((t) => `/${t.replace(/\{[^}]+\}/g, '1')}`),
    )
    .filter(
      (path) =>
        !operations.some((o) => o.loosePattern.test(path)) &&
        !/^\/(docs|openapi\.(yaml|json))(\/|$)/.test(path) &&
        path !== '/',
    )
    .chain((path) =>
      fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), authArb).map(([method, auth]): RequestPlan => ({
        kind: 'unknown-path',
        method,
        path,
        pathParams: {},
        query: [],
        headers: [],
        auth,
        why: [`unknown path ${path}`],
      })),
    );
  return fc.oneof(wrongMethod, head, unknownPath);
}

/** Requests the HTTP parser must refuse (or read in an unusual but legal form). */
function rawPlanArb(): fc.Arbitrary<RequestPlan> {
  const auth = 'Authorization: Bearer {key}\r\n';
  const refused: [string, string | Buffer][] = [
    ['NUL in a header value', `GET /orders HTTP/1.1\r\nHost: x\r\n${auth}X-A: a\u0000b\r\nConnection: close\r\n\r\n`],
    ['space before the colon', `GET /orders HTTP/1.1\r\nHost : x\r\n${auth}Connection: close\r\n\r\n`],
    ['header without a colon', `GET /orders HTTP/1.1\r\nHost: x\r\nNoColon\r\n${auth}Connection: close\r\n\r\n`],
    ['unknown method token', `G@T /orders HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`],
    ['lower-case method', `get /orders HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ['unknown HTTP version', `GET /orders HTTP/9.9\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`],
    [
      'Content-Length with Transfer-Encoding',
      `POST /services HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`,
    ],
    [
      'two different Content-Lengths',
      `POST /services HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{}`,
    ],
    [
      'negative Content-Length',
      `POST /services HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: -1\r\nConnection: close\r\n\r\n`,
    ],
    [
      'bad chunk size',
      `POST /services HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n`,
    ],
    ['raw space in the target', `GET /orders/1 2 HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`],
    ['NUL in the target', `GET /orders/1\u0000 HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`],
    [
      'raw UTF-8 in the target',
      Buffer.from(`GET /orders/名前 HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`),
    ],
    [
      '20 KB header',
      `GET /orders HTTP/1.1\r\nHost: x\r\n${auth}X-Big: ${'x'.repeat(20_000)}\r\nConnection: close\r\n\r\n`,
    ],
    [
      'obsolete line folding',
      `GET /orders HTTP/1.1\r\nHost: x\r\n${auth}X-Folded: a\r\n b\r\nConnection: close\r\n\r\n`,
    ],
    ['HTTP/1.1 without Host', `GET /orders HTTP/1.1\r\n${auth}Connection: close\r\n\r\n`],
  ];
  const legal: [string, string, string | Buffer][] = [
    [
      'dot segments in the path',
      '/services/../orders',
      `GET /services/../orders HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`,
    ],
    ['absolute-form target', '/healthz', 'GET http://x/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
    ['HTTP/1.0 without Host', '/healthz', 'GET /healthz HTTP/1.0\r\n\r\n'],
    [
      'chunked JSON body',
      '/services',
      `POST /services HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{"nam\r\n4\r\ne":1\r\n1\r\n}\r\n0\r\n\r\n`,
    ],
    ['asterisk-form OPTIONS', '*', 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
  ];
  return fc.oneof(
    fc.constantFrom(...refused).map(([why, text]): RequestPlan => ({
      kind: 'raw',
      method: 'RAW',
      pathParams: {},
      query: [],
      headers: [],
      auth: 'key',
      raw: { text, path: '/', why, parserError: true },
      why: [why],
    })),
    fc.constantFrom(...legal).map(([why, path, text]): RequestPlan => ({
      kind: 'raw',
      method: String(text).split(' ')[0]!,
      pathParams: {},
      query: [],
      headers: [],
      auth: 'key',
      raw: { text, path, why, parserError: false },
      why: [why],
    })),
  );
}

/** Requests for every operation of the document (most of them), stray paths and methods, and raw HTTP. */
export function requestPlanArb(operations: ContractOperation[]): fc.Arbitrary<RequestPlan> {
  return fc.oneof(
    { arbitrary: fc.oneof(...operations.map(operationPlanArb)), weight: 88 },
    { arbitrary: strayPlanArb(operations), weight: 7 },
    { arbitrary: rawPlanArb(), weight: 5 },
  );
}

// ---------------------------------------------------------------------------------------------

/** What the server must answer, by the contract. */
export type Expectation =
  /** Any status the operation declares. */
  | { kind: 'declared' }
  /** A 4xx the operation declares: the request is invalid. */
  | { kind: 'client-error' }
  /** Exactly one of these statuses. */
  | { kind: 'status'; statuses: number[] }
  /** Refused by the HTTP parser: 400 or 431, as a problem. */
  | { kind: 'parser' }
  /** Maybe refused by the HTTP parser (near the header size limit, odd bytes in a header), or else as `otherwise`. */
  | { kind: 'parser-or'; otherwise: Expectation };

export interface ConcreteRequest {
  kind: RequestPlan['kind'];
  operation: ContractOperation | undefined;
  method: string;
  /** The request target as sent (path and query, percent-encoded). */
  target: string;
  /** The path to look the operation up by in the contract. */
  contractPath: string;
  headers: [string, string][];
  body: Buffer | undefined;
  /** The whole request, for requests no HTTP client would send. */
  raw: Buffer | undefined;
  expect: Expectation;
  why: string;
}

/** What the fuzzer knows of the server's data, to aim requests at things that exist. */
export interface LiveState {
  /** Paths of resources that exist (from Location headers), newest last. */
  paths(): string[];
  /** Strings answers carried in a top-level property whose name ends with `name` (any case). */
  values(name: string): string[];
  etag(path: string): string | undefined;
}

export interface Credentials {
  key: string;
  readOnlyKey: string;
  readOnlyScopes: string[];
}

function encodeText(text: string): string {
  // Lone surrogates cannot be percent-encoded as UTF-8; they go as the replacement character.
  return encodeURIComponent(
    text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'),
  );
}

/** The request a plan stands for, given what exists right now, and what the contract says of it. */
export function materialize(plan: RequestPlan, live: LiveState, credentials: Credentials): ConcreteRequest {
  if (plan.kind === 'raw') {
    const raw = plan.raw!;
    const bytes = Buffer.isBuffer(raw.text)
      ? Buffer.from(raw.text.toString('latin1').replace('{key}', credentials.key), 'latin1')
      : Buffer.from(raw.text.replace('{key}', credentials.key), 'latin1');
    return {
      kind: 'raw',
      operation: undefined,
      method: plan.method,
      target: raw.path,
      contractPath: raw.path,
      headers: [],
      body: undefined,
      raw: bytes,
      expect: raw.parserError ? { kind: 'parser' } : { kind: 'declared' },
      why: raw.why,
    };
  }
  const operation = plan.operation;
  const why = [...plan.why];
  let invalid = false; // the contract refuses it: a 4xx
  let routerLevel = false; // refused before authentication (bad URL, oversized segment or head)
  let uncertain = false; // the contract does not say (odd media types): any declared status

  // Path
  let path = plan.path ?? operation!.template;
  if (operation) {
    const livePaths = live.paths().filter((p) => operation.pattern.test(p));
    for (const parameter of operation.parameters.filter((p) => p.in === 'path')) {
      const p = plan.pathParams[parameter.name] ?? { text: '1' };
      let segment: string;
      if ('live' in p) {
        const match = livePaths.length ? operation.pattern.exec(livePaths[p.live % livePaths.length]!) : null;
        const value = match?.groups?.[parameter.name.replace(/[^A-Za-z0-9_]/g, '_')];
        segment = value ?? encodeText(String(parameter.examples[0] ?? '1'));
      } else if ('encoded' in p) {
        segment = p.encoded;
        let decoded: string | undefined;
        try {
          decoded = decodeURIComponent(p.encoded);
        } catch {
          routerLevel = invalid = true;
        }
        if (decoded !== undefined && (decoded.includes('/') || !acceptsText(parameter.schema, decoded))) invalid = true;
        if (p.encoded.length > 400) routerLevel = invalid = true;
      } else {
        const text = 'text' in p ? p.text : '';
        segment = encodeText(text);
        if (!acceptsText(parameter.schema, text)) invalid = true;
        if (segment.length > 400 || text === '') routerLevel = true;
      }
      path = path.replace(`{${parameter.name}}`, segment);
    }
  }

  // Query
  const queryEntries: [string, string][] = [];
  for (const [name, p] of plan.query) {
    if ('liveValue' in p) {
      // Nothing handed out under that name yet: the parameter is left out.
      const seen = live.values(name);
      if (seen.length) queryEntries.push([name, seen[p.liveValue % seen.length]!]);
    } else queryEntries.push([name, 'text' in p ? p.text : '']);
  }
  if (operation) {
    const declared = operation.parameters.filter((p) => p.in === 'query');
    for (const parameter of declared) {
      const values = queryEntries.filter(([n]) => n === parameter.name).map(([, v]) => v);
      if (values.length > 1) invalid = true;
      else if (values.length === 0 && parameter.required) invalid = true;
      else if (values.length === 1 && !acceptsText(parameter.schema, values[0]!)) invalid = true;
    }
    // An unknown query parameter is refused where the operation takes any (a misspelt filter).
    if (declared.length > 0 && queryEntries.some(([n]) => !declared.some((p) => p.name === n))) invalid = true;
  }
  const query = queryEntries.map(([n, v]) => `${encodeText(n)}=${encodeText(v)}`).join('&');
  const target = query ? `${path}?${query}` : path;

  // Headers
  const headers: [string, string][] = [];
  const auth = authHeader(plan.auth, credentials);
  if (auth !== undefined) headers.push(['Authorization', auth]);
  for (const [name, p] of plan.headers) {
    let value = 'liveEtag' in p ? (live.etag(path) ?? '"1-1"') : 'text' in p ? p.text : '';
    // Header bytes are read as Latin-1: send UTF-8 bytes, and judge what the server will read.
    value = value.replace(/[\r\n]/g, '');
    // eslint-disable-next-line no-control-regex -- the range starts at NUL on purpose: any byte outside Latin-1
    if (/[^\x00-\xff]/.test(value)) value = Buffer.from(value, 'utf8').toString('latin1');
    headers.push([name, value]);
  }
  if (operation) {
    for (const parameter of operation.parameters.filter((p) => p.in === 'header')) {
      const sent = headers.filter(([n]) => n.toLowerCase() === parameter.name.toLowerCase());
      // What the server reads: the value without surrounding whitespace.
      const seen = sent.map(([, v]) => v.replace(/^[ \t]+|[ \t]+$/g, ''));
      if (seen.length === 0 ? parameter.required : !acceptsText(parameter.schema, seen[0]!)) invalid = true;
    }
  }

  // Body
  let body: Buffer | undefined;
  if (plan.body) {
    body = plan.body.value !== undefined ? Buffer.from(jsonText(plan.body.value)) : Buffer.from(plan.body.bytes ?? '');
    if (plan.body.contentType !== null) headers.push(['Content-Type', plan.body.contentType]);
  }
  if (operation?.body && plan.method === operation.method) {
    const verdict = bodyVerdict(operation.body.schema, plan.body?.contentType ?? null, body);
    if (verdict === 'invalid') invalid = true;
    if (verdict === 'uncertain') uncertain = true;
  }
  // Node reads at most 16 KiB of request line and headers, and answers 431 beyond that; a control
  // character in a header is refused by its parser (400). Neither reaches a route.
  const headBytes = target.length + headers.reduce((n, [k, v]) => n + k.length + v.length + 4, 0) + 100;
  const parserLevel = headBytes > 14_000 || headers.some(([, value]) => !headerSafe(value));
  let method = plan.method;
  if (method === 'HEAD' && parserLevel) {
    // The parser's refusal carries a body, which a HEAD client cannot frame (reported).
    method = 'GET';
    why.push('sent as GET (the parser refuses a HEAD with a body)');
  }

  let normal: Expectation;
  if (plan.kind === 'wrong-method') normal = { kind: 'status', statuses: [405] };
  else if (plan.kind === 'unknown-path') normal = { kind: 'status', statuses: [400, 404, 405] };
  else if (operation?.scopes && !routerLevel && plan.auth !== 'key' && plan.auth !== 'lowercase-scheme') {
    const scoped = plan.auth === 'read-only' && operation.scopes.every((s) => credentials.readOnlyScopes.includes(s));
    normal = scoped
      ? expectationFrom(invalid, uncertain)
      : { kind: 'status', statuses: [plan.auth === 'read-only' ? 403 : 401] };
  } else normal = expectationFrom(invalid, uncertain);
  const expect: Expectation =
    headBytes > 18_000 ? { kind: 'parser' } : parserLevel ? { kind: 'parser-or', otherwise: normal } : normal;
  const contractPath = plan.kind === 'operation' && operation ? path : (plan.path ?? path);
  return {
    kind: plan.kind,
    operation,
    method,
    target,
    contractPath,
    headers,
    body,
    raw: undefined,
    expect,
    why: why.join('; ') || 'valid',
  };
}

function expectationFrom(invalid: boolean, uncertain: boolean): Expectation {
  if (uncertain) return { kind: 'declared' };
  return invalid ? { kind: 'client-error' } : { kind: 'declared' };
}

function authHeader(auth: AuthPlan, { key, readOnlyKey }: Credentials): string | undefined {
  switch (auth) {
    case 'key':
      return `Bearer ${key}`;
    case 'read-only':
      return `Bearer ${readOnlyKey}`;
    case 'none':
      return undefined;
    case 'garbage':
      return `Bearer osk_${'A'.repeat(43)}`;
    case 'empty-bearer':
      return 'Bearer ';
    case 'basic':
      return `Basic ${Buffer.from('admin:admin').toString('base64')}`;
    case 'no-scheme':
      return key;
    case 'lowercase-scheme':
      return `bearer ${key}`;
    case 'two-tokens':
      return `Bearer ${key} ${key}`;
  }
}

/**
 * Whether a request body is acceptable to the contract: `invalid` when it must be refused (not
 * JSON, not the declared media type, over 1 MiB, forbidden prototype keys, or against the schema),
 * `uncertain` for media types the contract does not decide.
 */
function bodyVerdict(
  schema: Schema,
  contentType: string | null,
  body: Buffer | undefined,
): 'valid' | 'invalid' | 'uncertain' {
  if (body === undefined || contentType === null) return 'invalid';
  const mediaType = contentType.split(';')[0]!.trim().toLowerCase();
  if (oddTypes.includes(contentType)) return 'uncertain';
  if (mediaType !== 'application/json') return 'invalid';
  if (body.length > 1024 * 1024 || body.length === 0) return 'invalid';
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8').replace(/^\ufeff/, ''));
  } catch {
    return 'invalid';
  }
  if (hasForbiddenKeys(value)) return 'invalid';
  return accepts(schema, value) ? 'valid' : 'invalid';
}

/** Fastify refuses `__proto__` keys, and `constructor` keys holding a `prototype`, anywhere in a body. */
function hasForbiddenKeys(value: unknown): boolean {
  const stack = [value];
  while (stack.length) {
    const node = stack.pop();
    if (node === null || typeof node !== 'object') continue;
    if (Object.prototype.hasOwnProperty.call(node, '__proto__')) return true;
    const ctor = Object.prototype.hasOwnProperty.call(node, 'constructor')
      ? (node as Record<string, unknown>).constructor
      : undefined;
    if (ctor !== null && typeof ctor === 'object' && Object.prototype.hasOwnProperty.call(ctor, 'prototype'))
      return true;
    for (const child of Object.values(node)) stack.push(child);
  }
  return false;
}

/** A short, replayable description of a request (the API key elided). */
export function describeRequest(request: ConcreteRequest, credentials: Credentials): string {
  const redact = (s: string) =>
    s.split(credentials.key).join('<key>').split(credentials.readOnlyKey).join('<read-only key>');
  const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s);
  if (request.raw) return `raw: ${JSON.stringify(clip(redact(request.raw.toString('latin1')), 400))}`;
  const headers = request.headers.map(([k, v]) => `${k}: ${JSON.stringify(clip(redact(v), 80))}`).join(', ');
  const body = request.body === undefined ? '' : ` body ${JSON.stringify(clip(request.body.toString('utf8'), 300))}`;
  return `${request.method} ${clip(request.target, 300)} [${headers}]${body}`;
}
