import type { SchemaValidateFunction } from 'ajv';
import Ajv2020Module, { type ErrorObject, type Options } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import { dateTimeFormat } from './date-time-format.js';
import { decimalPlacesOf, isMultipleOf } from './decimal.js';
import type { FieldError } from './problem.js';

// CommonJS default exports, seen through NodeNext's ESM interop.
const Ajv2020 = Ajv2020Module.default ?? Ajv2020Module;
const addFormats = addFormatsModule.default ?? addFormatsModule;

function createAjv(options: Options) {
  // OpenAPI 3.1 schemas are JSON Schema 2020-12 plus annotations (x-*, examples) Ajv should ignore.
  const ajv = new Ajv2020({ strict: false, allErrors: true, verbose: true, ...options });
  addFormats(ajv);
  // The same check as ajv-formats' date-time, faster on the common UTC forms (date-time-format.ts).
  ajv.addFormat('date-time', { type: 'string', validate: dateTimeFormat });
  // Ajv divides in binary floating point, so it refuses a fee of 0.29 as no multiple of 0.01; and
  // its multipleOfPrecision tolerance, at any setting, either lets 0.0001 through or refuses large
  // fees such as 938742181714.44. The contract means decimal arithmetic (src/http/decimal.ts).
  ajv.removeKeyword('multipleOf');
  ajv.addKeyword({ keyword: 'multipleOf', type: 'number', schemaType: 'number', errors: true, validate: multipleOf });
  return ajv;
}

const multipleOf: SchemaValidateFunction = (step: number, value: number) => {
  if (isMultipleOf(value, step)) return true;
  const places = decimalPlacesOf(step);
  const message = places === undefined ? `must be a multiple of ${step}` : `must have at most ${places} decimal places`;
  multipleOf.errors = [{ keyword: 'multipleOf', params: { multipleOf: step }, message }];
  return false;
};

// Bodies are JSON and must already have the right types: "100" is not a fee and null is not 0.
const bodyAjv = createAjv({ coerceTypes: false, useDefaults: false, removeAdditional: false });
// Path, query and headers arrive as text and are coerced to the declared types; defaults apply.
const textAjv = createAjv({ coerceTypes: true, useDefaults: true, removeAdditional: false });

interface ObjectSchema {
  properties?: Record<string, { type?: unknown }>;
  [keyword: string]: unknown;
}

type Validate = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  if (httpPart === 'body') return boundedArrays(bodyAjv.compile(schema as object), schema as ObjectSchema);
  // Node lowercases header names; with a custom compiler Fastify leaves the schema's as written
  // (Idempotency-Key), so they are lowercased here or the rules would never apply.
  const textSchema = httpPart === 'headers' ? lowercaseHeaderNames(schema as ObjectSchema) : (schema as ObjectSchema);
  // A query parameter the operation does not have is refused, so `?serviceid=1` is not silently
  // ignored into an unfiltered list.
  const compiled: Validate = textAjv.compile(
    httpPart === 'querystring' ? { ...textSchema, additionalProperties: false } : textSchema,
  );
  return strictIntegers(compiled, textSchema);
};

function lowercaseHeaderNames(schema: ObjectSchema): ObjectSchema {
  const properties = Object.fromEntries(
    Object.entries(schema.properties ?? {}).map(([name, property]) => [name.toLowerCase(), property]),
  );
  const required = Array.isArray(schema.required)
    ? schema.required.map((name: string) => name.toLowerCase())
    : schema.required;
  return { ...schema, properties, ...(required === undefined ? {} : { required }) };
}

/**
 * With allErrors, Ajv would check every entry of a 100,000-entry array that is only allowed 20:
 * an oversized top-level array is refused on its length alone, before any entry is looked at.
 */
function boundedArrays(validate: Validate, schema: ObjectSchema): Validate {
  const bounded = Object.entries(schema.properties ?? {}).flatMap(([name, property]) => {
    const maxItems = (property as { maxItems?: unknown }).maxItems;
    return typeof maxItems === 'number' ? [{ name, maxItems }] : [];
  });
  if (bounded.length === 0) return validate;
  const checked: Validate = (data) => {
    const values = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
    const tooLong = bounded.filter(
      ({ name, maxItems }) => Array.isArray(values[name]) && (values[name] as unknown[]).length > maxItems,
    );
    if (tooLong.length > 0) {
      checked.errors = tooLong.map(({ name, maxItems }) => ({
        instancePath: `/${name}`,
        schemaPath: `#/properties/${name}/maxItems`,
        keyword: 'maxItems',
        params: { limit: maxItems },
        message: `must NOT have more than ${maxItems} items`,
      }));
      return false;
    }
    const valid = validate(data);
    checked.errors = validate.errors;
    return valid;
  };
  return checked;
}

const DECIMAL_INTEGER = /^-?[0-9]+$/;

/**
 * Ajv coerces text with JavaScript's Number(), which reads "0x10" as 16, "1e2" as 100 and " 5" as
 * 5. Integer parameters must be plain decimal digits before coercion.
 */
function strictIntegers(validate: Validate, schema: ObjectSchema): Validate {
  const integers = Object.entries(schema.properties ?? {})
    .filter(([, property]) => property.type === 'integer')
    .map(([name]) => name);
  if (integers.length === 0) return validate;
  const checked: Validate = (data) => {
    const values = data as Record<string, unknown>;
    const bad = integers.filter((name) => typeof values[name] === 'string' && !DECIMAL_INTEGER.test(values[name]));
    if (bad.length > 0) {
      checked.errors = bad.map((name) => ({
        instancePath: `/${name}`,
        schemaPath: `#/properties/${name}/type`,
        keyword: 'type',
        params: { type: 'integer' },
        message: 'must be an integer in decimal digits',
      }));
      return false;
    }
    const valid = validate(data);
    checked.errors = validate.errors;
    return valid;
  };
  return checked;
}

const partPrefix: Record<string, string> = {
  body: '/body',
  querystring: '/query',
  params: '/path',
  headers: '/header',
};

/** At most this many entries in `errors`, so a huge bad body cannot produce a huger answer. */
const MAX_FIELD_ERRORS = 20;

/** Ajv errors → `errors: [{ path, message }]`, one entry per invalid field, in plain words. */
export function fieldErrorsFrom(errors: ErrorObject[], part: string): FieldError[] {
  const prefix = partPrefix[part] ?? `/${part}`;
  const seen = new Set<string>();
  const result: FieldError[] = [];
  for (const error of errors) {
    if (result.length === MAX_FIELD_ERRORS) break;
    // One message per field: the first rule it breaks says enough.
    const entry = describe(error, prefix);
    if (!seen.has(entry.path)) {
      seen.add(entry.path);
      result.push(entry);
    }
  }
  return result;
}

function describe(error: ErrorObject, prefix: string): FieldError {
  const path = prefix + error.instancePath;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return { path: `${path}/${escape(String(params.missingProperty))}`, message: 'is required' };
    case 'additionalProperties': {
      // Quoted back, so bounded: a megabyte-long key must not come back as a megabyte-long error.
      const name = clip(String(params.additionalProperty));
      const known = Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const suggestion = known.find((k) => k.toLowerCase() === name.toLowerCase());
      const hint = suggestion
        ? ` (did you mean '${suggestion}'?)`
        : known.length
          ? ` (allowed: ${known.join(', ')})`
          : '';
      return { path: `${path}/${escape(name)}`, message: `unknown property '${name}'${hint}` };
    }
    default: {
      // A schema may say in words what its pattern, format or union type means.
      const parent = error.parentSchema as Record<string, unknown> | undefined;
      const custom = parent?.['x-error-message'];
      const applies =
        error.keyword === 'pattern' ||
        error.keyword === 'format' ||
        (error.keyword === 'type' && Array.isArray(parent?.type));
      if (typeof custom === 'string' && applies) return { path, message: custom };
      return { path, message: error.message ?? 'is invalid' };
    }
  }
}

const MAX_QUOTED_NAME = 100;

function clip(name: string): string {
  return name.length > MAX_QUOTED_NAME ? `${name.slice(0, MAX_QUOTED_NAME)}…` : name;
}

function escape(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}
