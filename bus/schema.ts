// JSON Schemas for bus messages: a few builders (closed objects by default) and a cached ajv validator.
import { Ajv, type ValidateFunction } from 'ajv';
import { ErrorCode, SecaiError } from '../common/errors.js';

export type JsonSchema = Record<string, unknown>;

export const s = {
  string: (o: { maxLength?: number; minLength?: number; pattern?: string; enum?: readonly string[] } = {}): JsonSchema =>
    ({ type: 'string', maxLength: o.maxLength ?? 4096, ...(o.minLength !== undefined && { minLength: o.minLength }), ...(o.pattern && { pattern: o.pattern }), ...(o.enum && { enum: [...o.enum] }) }),
  integer: (o: { minimum?: number; maximum?: number } = {}): JsonSchema => ({ type: 'integer', ...o }),
  number: (o: { minimum?: number; maximum?: number } = {}): JsonSchema => ({ type: 'number', ...o }),
  boolean: (): JsonSchema => ({ type: 'boolean' }),
  bytes: (maxBytes: number, minBytes = 0): JsonSchema => ({ instanceof: 'Uint8Array', maxBytes, ...(minBytes && { minBytes }) }),
  array: (items: JsonSchema, maxItems = 1024): JsonSchema => ({ type: 'array', items, maxItems }),
  /** A closed object: unknown keys are errors. `optional` lists keys that may be absent. */
  object: (properties: Record<string, JsonSchema>, optional: readonly string[] = []): JsonSchema => ({
    type: 'object',
    properties,
    required: Object.keys(properties).filter((k) => !optional.includes(k)),
    additionalProperties: false,
  }),
  /** A map of free-form data (e.g. evidence); still bounded in size by the codec. */
  record: (): JsonSchema => ({ type: 'object' }),
  any: (): JsonSchema => ({}),
  empty: (): JsonSchema => ({ type: 'object', properties: {}, additionalProperties: false }),
};

// Message schemas are code, checked against the JSON Schema meta-schema by test/bus/message-schemas.test.ts;
// skipping that check at run time spares every actor compiling the meta-schema at start.
export const BUS_AJV_OPTIONS = { allErrors: false, strict: true, allowUnionTypes: true } as const;
const ajv = new Ajv({ ...BUS_AJV_OPTIONS, validateSchema: false });
/** The keywords for byte strings that bus schemas use (`s.bytes`). */
export function addBusKeywords(a: Ajv): Ajv {
  const bytes = (data: unknown): data is Uint8Array => data instanceof Uint8Array;
  a.addKeyword({ keyword: 'instanceof', schemaType: 'string', validate: (name: string, data: unknown) => name === 'Uint8Array' && bytes(data) });
  a.addKeyword({ keyword: 'maxBytes', schemaType: 'number', validate: (max: number, data: unknown) => !bytes(data) || data.byteLength <= max });
  a.addKeyword({ keyword: 'minBytes', schemaType: 'number', validate: (min: number, data: unknown) => !bytes(data) || data.byteLength >= min });
  return a;
}
addBusKeywords(ajv);

const cache = new WeakMap<JsonSchema, ValidateFunction>();

export function compile(schema: JsonSchema): ValidateFunction {
  let v = cache.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    cache.set(schema, v);
  }
  return v;
}

/** Validates `value` against `schema`; a mismatch is a SCHEMA error naming the path. */
export function check<T>(schema: JsonSchema, value: unknown, what: string): T {
  const v = compile(schema);
  if (!v(value)) {
    const e = v.errors?.[0];
    const where = e?.instancePath || '/';
    throw new SecaiError(ErrorCode.SCHEMA, `${what}: ${where} ${e?.message ?? 'is invalid'}`);
  }
  return value as T;
}
