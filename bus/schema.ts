// JSON Schemas for bus messages: a few builders (closed objects by default) and a cached ajv validator.
import { Type, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox';
import { Ajv, type ValidateFunction } from 'ajv';
import { ErrorCode, SecaiError } from '../common/errors.js';

/**
 * A bus message schema: a TypeBox schema, so one declaration gives ajv its JSON Schema (what
 * JSON.stringify emits: TypeBox's own marks are symbols) and TypeScript the static type (`Static<S>`).
 */
export type JsonSchema = TSchema;
/** The static type of a message schema: what a handler receives or a caller gets back. */
export type { Static };

type Props = Record<string, TSchema>;
type Flatten<T> = { [K in keyof T]: T[K] } & {};
/** A closed object's type: every property required except those listed as optional. */
export type ObjectStatic<P extends Props, O extends PropertyKey> = Flatten<
  { -readonly [K in Exclude<keyof P, O>]: Static<P[K]> } & { -readonly [K in Extract<keyof P, O>]?: Static<P[K]> }
>;
interface StringOptions<E extends readonly string[]> { maxLength?: number; minLength?: number; pattern?: string; enum?: E }

/**
 * The builders emit exactly the JSON they emitted before they carried types (key order included;
 * test/bus/schema-builders.test.ts compares every manifest with the untyped builders): `Type.Unsafe`
 * keeps the literal JSON and attaches the static type, where `Type.Object` would drop an empty
 * `required` and `Type.String` would reorder keys.
 */
export const s = {
  string: <const E extends readonly string[] = readonly string[]>(o: StringOptions<E> = {}): TUnsafe<E[number]> =>
    Type.Unsafe<E[number]>({ type: 'string', maxLength: o.maxLength ?? 4096, ...(o.minLength !== undefined && { minLength: o.minLength }), ...(o.pattern && { pattern: o.pattern }), ...(o.enum && { enum: [...o.enum] }) }),
  integer: (o: { minimum?: number; maximum?: number } = {}): TUnsafe<number> => Type.Unsafe<number>({ type: 'integer', ...o }),
  number: (o: { minimum?: number; maximum?: number } = {}): TUnsafe<number> => Type.Unsafe<number>({ type: 'number', ...o }),
  boolean: (): TUnsafe<boolean> => Type.Unsafe<boolean>({ type: 'boolean' }),
  /** Bytes: msgpack bin, checked by the bus keywords below (JSON Schema has no byte type). */
  bytes: (maxBytes: number, minBytes = 0): TUnsafe<Uint8Array> => Type.Unsafe<Uint8Array>({ instanceof: 'Uint8Array', maxBytes, ...(minBytes && { minBytes }) }),
  array: <I extends TSchema>(items: I, maxItems = 1024): TUnsafe<Static<I>[]> => Type.Unsafe<Static<I>[]>({ type: 'array', items, maxItems }),
  /** A closed object: unknown keys are errors. `optional` lists keys that may be absent. */
  object: <P extends Props, const O extends readonly (keyof P & string)[] = []>(properties: P, optional?: O): TUnsafe<ObjectStatic<P, O[number]>> => {
    const absent: readonly string[] = optional ?? [];
    return Type.Unsafe<ObjectStatic<P, O[number]>>({
      type: 'object',
      properties,
      required: Object.keys(properties).filter((k) => !absent.includes(k)),
      additionalProperties: false,
    });
  },
  /** A map from free keys to values of one schema (HTTP headers). */
  map: <V extends TSchema>(values: V, maxProperties?: number): TUnsafe<Record<string, Static<V>>> =>
    Type.Unsafe<Record<string, Static<V>>>({ type: 'object', ...(maxProperties !== undefined && { maxProperties }), additionalProperties: values }),
  /** A value of `schema` or null. */
  nullable: <S extends TSchema>(schema: S): TUnsafe<Static<S> | null> => Type.Unsafe<Static<S> | null>({ anyOf: [schema, { type: 'null' }] }),
  /** A map of free-form data (e.g. evidence); still bounded in size by the codec. */
  record: (): TUnsafe<Record<string, unknown>> => Type.Unsafe<Record<string, unknown>>({ type: 'object' }),
  any: (): TUnsafe<unknown> => Type.Unsafe<unknown>({}),
  empty: (): TUnsafe<Record<string, never>> => Type.Unsafe<Record<string, never>>({ type: 'object', properties: {}, additionalProperties: false }),
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
export function check<S extends JsonSchema>(schema: S, value: unknown, what: string): Static<S>;
/** The same, for a caller that knows more than the schema says (a narrower hand-written type). */
export function check<T>(schema: JsonSchema, value: unknown, what: string): T;
export function check(schema: JsonSchema, value: unknown, what: string): unknown {
  const v = compile(schema);
  if (!v(value)) {
    const e = v.errors?.[0];
    const where = e?.instancePath || '/';
    throw new SecaiError(ErrorCode.SCHEMA, `${what}: ${where} ${e?.message ?? 'is invalid'}`);
  }
  return value;
}
