// The untyped message-schema builders as they were before they carried static types (verbatim), for
// test/bus/schema-builders.test.ts: every manifest built with these must emit the same JSON as today.
export * from '../../../bus/schema.js';

type JsonSchema = Record<string, unknown>;

export const s = {
  string: (o: { maxLength?: number; minLength?: number; pattern?: string; enum?: readonly string[] } = {}): JsonSchema =>
    ({ type: 'string', maxLength: o.maxLength ?? 4096, ...(o.minLength !== undefined && { minLength: o.minLength }), ...(o.pattern && { pattern: o.pattern }), ...(o.enum && { enum: [...o.enum] }) }),
  integer: (o: { minimum?: number; maximum?: number } = {}): JsonSchema => ({ type: 'integer', ...o }),
  number: (o: { minimum?: number; maximum?: number } = {}): JsonSchema => ({ type: 'number', ...o }),
  boolean: (): JsonSchema => ({ type: 'boolean' }),
  bytes: (maxBytes: number, minBytes = 0): JsonSchema => ({ instanceof: 'Uint8Array', maxBytes, ...(minBytes && { minBytes }) }),
  array: (items: JsonSchema, maxItems = 1024): JsonSchema => ({ type: 'array', items, maxItems }),
  object: (properties: Record<string, JsonSchema>, optional: readonly string[] = []): JsonSchema => ({
    type: 'object',
    properties,
    required: Object.keys(properties).filter((k) => !optional.includes(k)),
    additionalProperties: false,
  }),
  // map and nullable came with the typed builders (the airlock spelled its maps out by hand before).
  map: (values: JsonSchema, maxProperties?: number): JsonSchema => ({ type: 'object', ...(maxProperties !== undefined && { maxProperties }), additionalProperties: values }),
  nullable: (schema: JsonSchema): JsonSchema => ({ anyOf: [schema, { type: 'null' }] }),
  record: (): JsonSchema => ({ type: 'object' }),
  any: (): JsonSchema => ({}),
  empty: (): JsonSchema => ({ type: 'object', properties: {}, additionalProperties: false }),
};
