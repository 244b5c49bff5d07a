// The JSON Schema subset a generation may be constrained by: what node-llama-cpp's createGrammarForJsonSchema turns into
// a grammar, bounded in size. Checked at the inference actor's boundary and again in the worker; anything else is refused.
import { ErrorCode, SecaiError } from '../common/errors.js';

/** Bounds on a schema: a grammar is built from it inside the worker, so its size is the worker's work. */
export const JSON_SCHEMA_LIMITS = { bytes: 16 * 1024, depth: 8, nodes: 256, enumValues: 128, properties: 64, stringChars: 256, length: 65_536, items: 256 } as const;

const TYPES = new Set(['object', 'array', 'string', 'number', 'integer', 'boolean', 'null']);
/** Keywords allowed on every node; the rest by the node's type. `description` is carried, never enforced. */
const COMMON = new Set(['type', 'description']);
const BY_TYPE: Record<string, ReadonlySet<string>> = {
  object: new Set(['properties', 'required', 'additionalProperties', 'minProperties', 'maxProperties']),
  array: new Set(['items', 'prefixItems', 'minItems', 'maxItems']),
  string: new Set(['minLength', 'maxLength']),
};

const refuse = (path: string, why: string): never => {
  throw new SecaiError(ErrorCode.JSON_SCHEMA_UNSUPPORTED, `jsonSchema ${path || '/'}: ${why}`.slice(0, 512));
};
const isPlain = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
const scalar = (v: unknown): boolean => v === null || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && v.length <= JSON_SCHEMA_LIMITS.stringChars);
const bound = (v: unknown, path: string, k: string): void => {
  if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= JSON_SCHEMA_LIMITS.length)) refuse(`${path}/${k}`, `must be an integer from 0 to ${JSON_SCHEMA_LIMITS.length}`);
};

/**
 * Checks that `schema` is in the supported subset and within the bounds, and returns it unchanged; otherwise
 * SECAI_E_JSON_SCHEMA_UNSUPPORTED naming the path. Supported: `type` (one of object, array, string, number, integer,
 * boolean, null), `enum` and `const` of scalars, `oneOf`; objects with `properties`, `required` (of declared properties),
 * `additionalProperties` (boolean or a schema), `minProperties`/`maxProperties`; arrays with `items`, `prefixItems`,
 * `minItems`/`maxItems`; strings with `minLength`/`maxLength`; `description` anywhere. Refused: `$ref`/`$defs`,
 * `pattern`, `format`, `minimum`, `allOf`, `anyOf`, `not`, and every other keyword (a constraint the grammar would
 * silently drop must not look enforced).
 */
export function checkJsonSchema(schema: unknown): Record<string, unknown> {
  let bytes: number;
  try {
    bytes = Buffer.byteLength(JSON.stringify(schema) ?? '', 'utf8');
  } catch {
    return refuse('', 'is not JSON');
  }
  if (bytes > JSON_SCHEMA_LIMITS.bytes) refuse('', `is ${bytes} bytes; at most ${JSON_SCHEMA_LIMITS.bytes}`);
  let nodes = 0;
  const walk = (node: unknown, path: string, depth: number): void => {
    if (++nodes > JSON_SCHEMA_LIMITS.nodes) refuse(path, `more than ${JSON_SCHEMA_LIMITS.nodes} schema nodes`);
    if (depth > JSON_SCHEMA_LIMITS.depth) refuse(path, `nested deeper than ${JSON_SCHEMA_LIMITS.depth}`);
    if (!isPlain(node)) return refuse(path, 'a schema must be an object');
    if ('const' in node) {
      if (Object.keys(node).some((k) => k !== 'const' && k !== 'description')) refuse(path, '`const` takes no other keyword');
      if (!scalar(node.const)) refuse(`${path}/const`, 'must be a string, number, boolean or null');
      return;
    }
    if ('enum' in node) {
      if (Object.keys(node).some((k) => k !== 'enum' && k !== 'description')) refuse(path, '`enum` takes no other keyword');
      const e = node.enum;
      if (!Array.isArray(e) || e.length < 1 || e.length > JSON_SCHEMA_LIMITS.enumValues) refuse(`${path}/enum`, `must list 1 to ${JSON_SCHEMA_LIMITS.enumValues} values`);
      (e as unknown[]).forEach((v, i) => { if (!scalar(v)) refuse(`${path}/enum/${i}`, 'must be a string, number, boolean or null'); });
      return;
    }
    if ('oneOf' in node) {
      if (Object.keys(node).some((k) => k !== 'oneOf' && k !== 'description')) refuse(path, '`oneOf` takes no other keyword');
      const o = node.oneOf;
      if (!Array.isArray(o) || o.length < 1 || o.length > 16) refuse(`${path}/oneOf`, 'must list 1 to 16 schemas');
      (o as unknown[]).forEach((s, i) => walk(s, `${path}/oneOf/${i}`, depth + 1));
      return;
    }
    const type = node.type;
    if (typeof type !== 'string' || !TYPES.has(type)) return refuse(`${path}/type`, 'must be one of object, array, string, number, integer, boolean, null');
    if (typeof node.description !== 'undefined' && (typeof node.description !== 'string' || node.description.length > 1024)) refuse(`${path}/description`, 'must be a string of at most 1024 characters');
    const allowed = BY_TYPE[type];
    for (const k of Object.keys(node)) if (!COMMON.has(k) && !allowed?.has(k)) refuse(`${path}/${k}`, `keyword '${k.slice(0, 64)}' is not supported for type ${type}`);
    if (type === 'string') {
      bound(node.minLength, path, 'minLength');
      bound(node.maxLength, path, 'maxLength');
    } else if (type === 'array') {
      bound(node.minItems, path, 'minItems');
      bound(node.maxItems, path, 'maxItems');
      if (typeof node.maxItems === 'number' && node.maxItems > JSON_SCHEMA_LIMITS.items) refuse(`${path}/maxItems`, `at most ${JSON_SCHEMA_LIMITS.items}`);
      if (node.items !== undefined) walk(node.items, `${path}/items`, depth + 1);
      if (node.prefixItems !== undefined) {
        if (!Array.isArray(node.prefixItems) || node.prefixItems.length > 16) refuse(`${path}/prefixItems`, 'must list at most 16 schemas');
        (node.prefixItems as unknown[]).forEach((s, i) => walk(s, `${path}/prefixItems/${i}`, depth + 1));
      }
    } else if (type === 'object') {
      bound(node.minProperties, path, 'minProperties');
      bound(node.maxProperties, path, 'maxProperties');
      const props = node.properties ?? {};
      if (!isPlain(props)) return refuse(`${path}/properties`, 'must be an object');
      const names = Object.keys(props);
      if (names.length > JSON_SCHEMA_LIMITS.properties) refuse(`${path}/properties`, `more than ${JSON_SCHEMA_LIMITS.properties} properties`);
      for (const n of names) {
        if (n.length < 1 || n.length > 128 || /["\\\p{Cc}]/u.test(n)) refuse(`${path}/properties`, 'a property name must be 1 to 128 characters, no quotes, backslashes or control characters');
        walk(props[n], `${path}/properties/${n}`, depth + 1);
      }
      if (node.required !== undefined) {
        const r = node.required;
        if (!Array.isArray(r) || r.some((x) => typeof x !== 'string' || !names.includes(x))) refuse(`${path}/required`, 'must list declared properties');
      }
      const ap = node.additionalProperties;
      if (ap !== undefined && typeof ap !== 'boolean') walk(ap, `${path}/additionalProperties`, depth + 1);
    }
  };
  walk(schema, '', 0);
  return schema as Record<string, unknown>;
}
