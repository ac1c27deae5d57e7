import fc from 'fast-check';
import { accepts, acceptsText, type ContractOperation, type Parameter, type Schema } from './requests-from-contract.js';

// The positive mode's requests: for every operation of openapi.yaml, inputs built from its schemas
// alone over the whole range they allow (years 0000 to 9999, any offset, the largest fee, every
// character a pattern lets through), as valid as a client that validates against openapi.yaml
// would judge them. The contract must then hold the server to them: a 2xx or a documented domain
// refusal, never a 400. The few rules a JSON Schema cannot state (one field against another, a
// cursor the server must have issued) are listed once, in `documentedRules`: the generator keeps
// them in most requests and breaks them in the rest, where the answer must be exactly that 400.

// ---------------------------------------------------------------------------------------------
// Values from a schema: every keyword the document uses on its inputs, over its whole range.

/** Large ranges are drawn on a log scale too, so small values are as likely as huge ones. */
function bigIntArb(min: bigint, max: bigint): fc.Arbitrary<bigint> {
  const span = max - min;
  const digits = span.toString().length;
  return fc.oneof(
    fc.bigInt({ min, max }),
    fc
      .integer({ min: 0, max: digits })
      .chain((d) => fc.bigInt({ min: 0n, max: 10n ** BigInt(d) }))
      .map((offset) => (offset > span ? max : min + offset)),
    fc.constantFrom(min, max),
  );
}

const decimalPlaces = (step: number): number | undefined => {
  const places = Math.round(-Math.log10(step));
  return places > 0 && Number(`1e-${places}`) === step ? places : undefined;
};

function numberArb(schema: Schema, integer: boolean): fc.Arbitrary<number> {
  const min = schema.minimum ?? (schema.format === 'int32' ? -(2 ** 31) : -Number.MAX_SAFE_INTEGER);
  const max = schema.maximum ?? (schema.format === 'int32' ? 2 ** 31 - 1 : Number.MAX_SAFE_INTEGER);
  if (integer) return bigIntArb(BigInt(Math.ceil(min)), BigInt(Math.floor(max))).map(Number);
  const step = schema.multipleOf as number | undefined;
  if (step !== undefined) {
    // A multiple of 10^-n is written with at most n decimals, as a client sends it (123.45, never
    // 123.45000000000002): k × 10^-n read from its decimal text.
    const places = decimalPlaces(step);
    if (places === undefined) throw new Error(`teach the generator multipleOf ${step}`);
    const low = BigInt(Math.ceil(Number((min * 10 ** places).toFixed(6))));
    const high = BigInt(Math.floor(Number((max * 10 ** places).toFixed(6))));
    return bigIntArb(low, high).map((k) => Number(`${k}e-${places}`));
  }
  return fc.oneof(
    fc.double({ min, max, noNaN: true, noDefaultInfinity: true }),
    fc.integer({ min: Math.ceil(Math.max(min, -1e9)), max: Math.floor(Math.min(max, 1e9)) }),
    fc.constantFrom(min, max),
  );
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * RFC 3339 date-times over everything the format allows: years 0000 to 9999 (their edges most of
 * all), any day of any month, a leap second, 0 to 9 fraction digits, `T` or `t`, `Z`, `z` or an
 * offset up to ±23:59. Which of them a schema accepts is its pattern's and format's business.
 */
const dateTimeTextArb: fc.Arbitrary<string> = fc
  .record({
    year: fc.oneof(
      fc.integer({ min: 0, max: 9999 }),
      fc.integer({ min: 1900, max: 2100 }),
      fc.constantFrom(0, 1, 2, 9998, 9999),
    ),
    month: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.constantFrom(1, 2, 12)),
    day: fc.oneof(fc.integer({ min: 1, max: 31 }), fc.constantFrom(1, 28, 29, 30, 31)),
    hour: fc.oneof(fc.integer({ min: 0, max: 23 }), fc.constantFrom(0, 23)),
    minute: fc.oneof(fc.integer({ min: 0, max: 59 }), fc.constantFrom(0, 59)),
    second: fc.oneof(fc.integer({ min: 0, max: 59 }), fc.constantFrom(0, 59, 60)),
    fraction: fc.oneof(fc.constant(''), fc.stringMatching(/^[0-9]{1,9}$/), fc.constantFrom('999', '9999', '0001')),
    t: fc.constantFrom('T', 't'),
    zone: fc.oneof(
      fc.constantFrom('Z', 'z', '+00:00', '-00:00'),
      fc
        .tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
        .map(([sign, h, m]) => `${sign}${pad(h)}:${pad(m)}`),
      fc.constantFrom('+23:59', '-23:59', '+01:00', '-01:00'),
    ),
    edge: fc.constantFrom(undefined, undefined, undefined, '0001-01-01', '9999-12-31', '0000-12-31'),
  })
  .map((p) => {
    const date = p.edge ?? `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}`;
    const time = p.edge && p.second === 60 ? '23:59:60' : `${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
    return `${date}${p.t}${time}${p.fraction ? `.${p.fraction}` : ''}${p.zone}`;
  });

function stringArb(schema: Schema): fc.Arbitrary<string> {
  const minLength = schema.minLength ?? 0;
  const maxLength = schema.maxLength ?? 100;
  if (schema.format === 'date-time') return dateTimeTextArb;
  if (typeof schema.pattern === 'string') {
    return fc
      .stringMatching(new RegExp(schema.pattern, 'u'))
      .map((s) => (s.length > maxLength ? s.slice(0, maxLength) : s));
  }
  return fc.oneof(
    fc.string({ unit: 'grapheme-ascii', minLength, maxLength: Math.min(maxLength, 40) }),
    fc.string({ unit: 'binary', minLength, maxLength }),
  );
}

function typesOf(schema: Schema): string[] {
  if (Array.isArray(schema.type)) return schema.type;
  if (typeof schema.type === 'string') return [schema.type];
  if (schema.properties) return ['object'];
  if (schema.items) return ['array'];
  return [];
}

function ofType(schema: Schema, type: string | undefined): fc.Arbitrary<unknown> {
  switch (type) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer':
      return numberArb(schema, true);
    case 'number':
      return numberArb(schema, false);
    case 'string':
      return stringArb(schema);
    case 'array': {
      const minLength = schema.minItems ?? 0;
      const maxLength = schema.maxItems ?? minLength + 5;
      const items = schemaValueArb(schema.items ?? {});
      // Short arrays are the rule (an order's services must all exist to be created), long ones the
      // edge; without uniqueItems, an item twice is as valid as any other array.
      const arrays: fc.WeightedArbitrary<unknown[]>[] = [
        { arbitrary: fc.array(items, { minLength, maxLength: Math.min(maxLength, minLength + 1) }), weight: 3 },
        { arbitrary: fc.array(items, { minLength, maxLength }), weight: 1 },
      ];
      if (schema.uniqueItems !== true && maxLength >= 2)
        arrays.push({
          arbitrary: fc
            .array(items, { minLength: Math.max(1, minLength - 1), maxLength: Math.min(maxLength - 1, 3) })
            .map((a) => [...a, a[0]]),
          weight: 1,
        });
      return fc.oneof(...arrays);
    }
    case 'object': {
      const properties = schema.properties ?? {};
      const required = (schema.required ?? []).filter((k) => k in properties);
      return fc.record(Object.fromEntries(Object.entries(properties).map(([k, s]) => [k, schemaValueArb(s)])), {
        requiredKeys: required,
      });
    }
    default:
      return fc.constantFrom<unknown>(null, 0, 'x', true, [], {});
  }
}

const valueArbs = new WeakMap<Schema, fc.Arbitrary<unknown>>();

/**
 * Values valid against `schema`, from its keywords alone, and its `examples` as often as not (they
 * name things that exist, such as the catalogue's services, so that some creates succeed).
 * Every value is checked against the schema (requests-from-contract's `accepts`, the tests' one
 * oracle), so a generator bug shows as too few values, never as an invalid one.
 */
export function schemaValueArb(schema: Schema): fc.Arbitrary<unknown> {
  const known = valueArbs.get(schema);
  if (known) return known;
  let base: fc.Arbitrary<unknown>;
  if ('const' in schema) base = fc.constant(schema.const);
  else if (Array.isArray(schema.enum)) base = fc.constantFrom(...schema.enum);
  else if (schema.oneOf ?? schema.anyOf) base = fc.oneof(...(schema.oneOf ?? schema.anyOf)!.map(schemaValueArb));
  else {
    const types = typesOf(schema);
    base =
      types.length > 1 ? fc.oneof(...types.map((type) => ofType({ ...schema, type }, type))) : ofType(schema, types[0]);
  }
  const examples = (schema.examples ?? []).filter((e) => accepts(schema, e));
  const arb = (examples.length ? fc.oneof(base, fc.constantFrom(...examples)) : base).filter((v) => accepts(schema, v));
  valueArbs.set(schema, arb);
  return arb;
}

// ---------------------------------------------------------------------------------------------
// Parameters as text, the way a client serialises them (OpenAPI's default `simple` and `form` styles).

/** What an HTTP client can put in a header value, and what the server reads (no surrounding whitespace). */
const sendableHeader = (text: string) =>
  /^[\x21-\x7e\x80-\xff]([\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?$/.test(text);

function parameterTextArb(parameter: Parameter): fc.Arbitrary<string> {
  const texts = schemaValueArb(parameter.schema).map(String);
  const examples = parameter.examples.map(String).filter((e) => acceptsText(parameter.schema, e));
  const all = examples.length ? fc.oneof(texts, fc.constantFrom(...examples)) : texts;
  if (parameter.in !== 'header') return all.filter((text) => acceptsText(parameter.schema, text));
  // A header cannot carry CR, LF or other control characters: the whitespace the schema allows is sent as spaces.
  return all
    .map((text) => text.replace(/[\r\n\v\f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/g, ' '))
    .map((text) => text.replace(/^[ \t]+|[ \t]+$/g, ''))
    .filter((text) => sendableHeader(text) && acceptsText(parameter.schema, text));
}

// ---------------------------------------------------------------------------------------------
// Plans: what to send, with picks among live resources resolved when it is sent.

/** A text from the schema, an id the server issued (the text when it has issued none yet), or an order's ETag. */
export type ParamChoice = { text: string } | { live: number; text: string } | { liveEtag: true };

export interface PositivePlan {
  operation: ContractOperation;
  path: Record<string, ParamChoice>;
  query: Record<string, string>;
  headers: Record<string, ParamChoice>;
  body: unknown;
  /** Whether the documented rules are kept (most plans), or left as generated and the seldom broken ones broken. */
  keepRules: boolean;
  /** Picks for the rules' repairs (which issued cursor, how long a range). */
  picks: number[];
}

/** A few keys, reused: a retry replays, the same key on another body is a documented 422. */
const reusedKeys = ['positive-key-1', 'positive-key-2', 'positive-key-3'];

function positivePlanArb(operation: ContractOperation): fc.Arbitrary<PositivePlan> {
  const byIn = (where: Parameter['in']) => operation.parameters.filter((p) => p.in === where);
  const optional = <T>(p: Parameter, arb: fc.Arbitrary<T>) =>
    p.required ? arb : fc.option(arb, { nil: undefined, freq: 4 });
  const path = fc.record(
    Object.fromEntries(
      byIn('path').map((p) => [
        p.name,
        fc.oneof(
          {
            arbitrary: fc.tuple(fc.nat(), parameterTextArb(p)).map(([live, text]): ParamChoice => ({ live, text })),
            weight: 3,
          },
          { arbitrary: parameterTextArb(p).map((text): ParamChoice => ({ text })), weight: 2 },
        ),
      ]),
    ),
  );
  const query = fc.record(Object.fromEntries(byIn('query').map((p) => [p.name, optional(p, parameterTextArb(p))])));
  const headers = fc.record(
    Object.fromEntries(
      byIn('header').map((p) => {
        const fromSchema = parameterTextArb(p).map((text): ParamChoice => ({ text }));
        const choice = /^if-(none-)?match$/i.test(p.name)
          ? fc.oneof(
              { arbitrary: fc.constant<ParamChoice>({ liveEtag: true }), weight: 2 },
              { arbitrary: fromSchema, weight: 2 },
            )
          : /^idempotency-key$/i.test(p.name)
            ? fc.oneof(
                fromSchema,
                fc.constantFrom(...reusedKeys).map((text): ParamChoice => ({ text })),
              )
            : fromSchema;
        return [p.name, optional(p, choice)];
      }),
    ),
  );
  const body = operation.body ? schemaValueArb(operation.body.schema) : fc.constant(undefined);
  return fc
    .record({
      path,
      query,
      headers,
      body,
      keepRules: fc.oneof({ arbitrary: fc.constant(true), weight: 3 }, { arbitrary: fc.constant(false), weight: 1 }),
      picks: fc.array(fc.nat(), { minLength: 4, maxLength: 4 }),
    })
    .map((r) => ({
      operation,
      path: r.path as Record<string, ParamChoice>,
      query: Object.fromEntries(Object.entries(r.query).filter(([, v]) => v !== undefined)) as Record<string, string>,
      headers: Object.fromEntries(Object.entries(r.headers).filter(([, v]) => v !== undefined)) as Record<
        string,
        ParamChoice
      >,
      body: r.body,
      keepRules: r.keepRules,
      picks: r.picks,
    }));
}

/** Requests for every operation of the document, evenly. */
export function positivePlansArb(operations: ContractOperation[]): fc.Arbitrary<PositivePlan> {
  return fc.oneof(...operations.map(positivePlanArb));
}

// ---------------------------------------------------------------------------------------------
// Concrete requests.

export interface PositiveRequest {
  operation: ContractOperation;
  /** Path parameters, decoded. */
  path: Record<string, string>;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: unknown;
}

/** What the server handed out so far, to aim requests at things that exist. */
export interface Issued {
  /** Ids from the Location of 201s, by path parameter name (`orderId`, `serviceId`). */
  ids(parameter: string): string[];
  etag(orderId: string): string | undefined;
  /** The `nextCursor`s an operation returned. */
  cursors(operationId: string): string[];
}

export function materialize(plan: PositivePlan, issued: Issued): PositiveRequest {
  const path: Record<string, string> = {};
  for (const [name, choice] of Object.entries(plan.path)) {
    const ids = issued.ids(name);
    if ('live' in choice && ids.length) path[name] = ids[choice.live % ids.length]!;
    else if ('text' in choice) path[name] = choice.text;
    else throw new Error(`an ETag is no value for the path parameter ${name}`);
  }
  const headers: Record<string, string> = {};
  for (const [name, choice] of Object.entries(plan.headers)) {
    if ('text' in choice) headers[name] = choice.text;
    else headers[name] = issued.etag(path.orderId ?? '') ?? '*';
  }
  const request: PositiveRequest = {
    operation: plan.operation,
    path,
    query: { ...plan.query },
    headers,
    body: plan.body,
  };
  return plan.keepRules ? keepDocumentedRules(request, issued, plan.picks) : breakDocumentedRules(request);
}

export function targetOf(request: PositiveRequest): string {
  const path = request.operation.template.replace(/\{([^}]+)\}/g, (_m, name: string) =>
    encodeURIComponent(request.path[name]!),
  );
  const query = Object.entries(request.query)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  return query ? `${path}?${query}` : path;
}

// ---------------------------------------------------------------------------------------------
// Instants, read independently of the server's code: for the rules and to check what was stored.

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/** The instant a date-time text names, as whole milliseconds (truncated) and whether finer digits are not zero. */
export function instantOf(text: string): { ms: number; finer: boolean } {
  const m = RFC3339.exec(text);
  if (!m) throw new Error(`not an RFC 3339 date-time: ${text}`);
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as number[];
  const fraction = m[7] ?? '';
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0 to 99 as 1900 to 1999.
  date.setUTCFullYear(year!, month! - 1, day!);
  date.setUTCHours(hour!, minute!, second!, Number(fraction.slice(0, 3).padEnd(3, '0')));
  const offset = m[8] ? (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10])) : 0;
  return { ms: date.getTime() - offset * 60_000, finer: /[1-9]/.test(fraction.slice(3)) };
}

/** A bound of a range, as the documentation says it is read: to the millisecond, finer digits rounding up. */
export const boundOf = (text: string) => {
  const { ms, finer } = instantOf(text);
  return ms + (finer ? 1 : 0);
};

const DAY_MS = 86_400_000;
const LAST_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

// ---------------------------------------------------------------------------------------------
// The documented refusals of schema-valid input: rules a JSON Schema cannot state. Each says where
// the contract documents it, which 400 (`errors[].path`) breaking it gets, and how a request keeps it.

export interface DocumentedRule {
  name: string;
  operationIds: string[];
  documented: string;
  /** The `errors[].path` of the 400 when `request` breaks the rule; undefined when it keeps it. */
  broken(request: PositiveRequest, issued: Issued): string | undefined;
  /** The request changed to keep the rule (left as it is when it cannot be). */
  keep(request: PositiveRequest, issued: Issued, pick: number): PositiveRequest;
  /** For rules generated requests seldom break: the request changed to break it, when it can be. */
  break?(request: PositiveRequest): PositiveRequest;
}

const cursorParameter: Record<string, string> = {
  listOrders: 'cursor',
  listServices: 'cursor',
  getOrderHistory: 'cursor',
  listEvents: 'after',
};

function servicesOf(body: unknown): { id: unknown }[] {
  const services = (body as { services?: unknown } | null)?.services;
  return Array.isArray(services) ? (services as { id: unknown }[]) : [];
}

export const documentedRules: DocumentedRule[] = [
  {
    name: 'a cursor is one this list returned',
    operationIds: Object.keys(cursorParameter),
    documented: 'openapi.yaml parameters CursorInQuery and EventsAfter; docs/api.md "Listing and paging"',
    broken(request, issued) {
      const name = cursorParameter[request.operation.operationId]!;
      const cursor = request.query[name];
      const own = issued.cursors(request.operation.operationId);
      return cursor === undefined || own.includes(cursor) ? undefined : `/query/${name}`;
    },
    keep(request, issued, pick) {
      const name = cursorParameter[request.operation.operationId]!;
      const own = issued.cursors(request.operation.operationId);
      const query = { ...request.query };
      if (own.length) query[name] = own[pick % own.length]!;
      else delete query[name];
      return { ...request, query };
    },
  },
  {
    name: 'to is not before from (both to the millisecond, finer digits rounding up)',
    operationIds: ['listOrders'],
    documented: 'openapi.yaml listOrders `to`; docs/api.md "Listing and paging"',
    broken({ query: { from, to } }) {
      return from !== undefined && to !== undefined && boundOf(to) < boundOf(from) ? '/query/to' : undefined;
    },
    keep(request) {
      const { from, to } = request.query;
      if (from === undefined || to === undefined || boundOf(to) >= boundOf(from)) return request;
      return { ...request, query: { ...request.query, from: to, to: from } };
    },
    break(request) {
      const { from, to } = request.query;
      if (from === undefined || to === undefined || boundOf(to) <= boundOf(from)) return request;
      return { ...request, query: { ...request.query, from: to, to: from } };
    },
  },
  {
    name: 'from is before to, and to at most 31 days after it (to the millisecond, finer digits rounding up)',
    operationIds: ['getAvailability'],
    documented: 'openapi.yaml getAvailability and its BadRange 400; docs/api.md "Finding a time"',
    broken({ query: { from, to } }) {
      if (from === undefined || to === undefined) return undefined;
      const span = boundOf(to) - boundOf(from);
      return span <= 0 || span > 31 * DAY_MS ? '/query/to' : undefined;
    },
    keep(request, _issued, pick) {
      const { from, to } = request.query;
      if (from === undefined || to === undefined || this.broken(request, _issued) === undefined) return request;
      // A span of 1 ms to 31 days, written in UTC with milliseconds; impossible from the last millisecond.
      const spans = [1, 3 * 3_600_000, DAY_MS, 31 * DAY_MS, 1 + (pick % (31 * DAY_MS))];
      const end = boundOf(from) + spans[pick % spans.length]!;
      if (end > LAST_MS) return request;
      return { ...request, query: { ...request.query, to: new Date(end).toISOString() } };
    },
  },
  {
    name: 'an order\'s services are distinct (123 and "123" are one service)',
    operationIds: ['createOrder', 'replaceOrder'],
    documented: 'openapi.yaml OrderInput.services; docs/api.md "Input rules"',
    broken({ body }) {
      const seen = new Set<number>();
      for (const [i, service] of servicesOf(body).entries()) {
        const id = Number(service.id);
        if (seen.has(id)) return `/body/services/${i}/id`;
        seen.add(id);
      }
      return undefined;
    },
    keep(request) {
      const seen = new Set<number>();
      const services = servicesOf(request.body).filter((s) => !seen.has(Number(s.id)) && seen.add(Number(s.id)));
      return { ...request, body: { ...(request.body as object), services } };
    },
    break(request) {
      const services = servicesOf(request.body);
      if (services.length === 0 || services.length >= 20) return request;
      // The first service again, as a string of digits when it was a number and the other way round.
      const first = services[0]!.id;
      const again = typeof first === 'number' ? String(first) : Number(first);
      return { ...request, body: { ...(request.body as object), services: [...services, { id: again }] } };
    },
  },
  {
    name: "a body id, when sent, is the path's id",
    operationIds: ['replaceOrder', 'replaceService'],
    documented: 'openapi.yaml replaceOrder, replaceService, OrderInput.id, ServiceInput; docs/api.md "Input rules"',
    broken({ operation, body, path }) {
      const id = (body as { id?: unknown }).id;
      const pathId = operation.operationId === 'replaceOrder' ? path.orderId : path.serviceId;
      return id === undefined || String(id) === pathId ? undefined : '/body/id';
    },
    keep(request, _issued, pick) {
      const { id, ...rest } = request.body as { id?: unknown };
      if (id === undefined) return request;
      const pathId = request.operation.operationId === 'replaceOrder' ? request.path.orderId! : request.path.serviceId!;
      const same = request.operation.operationId === 'replaceOrder' ? pathId : Number(pathId);
      return { ...request, body: pick % 2 ? { ...rest, id: same } : rest };
    },
  },
];

function keepDocumentedRules(request: PositiveRequest, issued: Issued, picks: number[]): PositiveRequest {
  return documentedRules.reduce(
    (r, rule, i) =>
      rule.operationIds.includes(r.operation.operationId) ? rule.keep(r, issued, picks[i % picks.length]!) : r,
    request,
  );
}

function breakDocumentedRules(request: PositiveRequest): PositiveRequest {
  return documentedRules.reduce(
    (r, rule) => (rule.break && rule.operationIds.includes(r.operation.operationId) ? rule.break(r) : r),
    request,
  );
}

/** The rules a request breaks, with the 400's `errors[].path` each one gets. */
export function brokenRules(request: PositiveRequest, issued: Issued): { rule: DocumentedRule; path: string }[] {
  return documentedRules.flatMap((rule) => {
    if (!rule.operationIds.includes(request.operation.operationId)) return [];
    const path = rule.broken(request, issued);
    return path === undefined ? [] : [{ rule, path }];
  });
}
