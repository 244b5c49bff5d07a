// Loads a YAML config file, validates it against its JSON Schema (unknown keys are errors), and freezes it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, join } from 'node:path';
import { createRequire } from 'node:module';
import type { Ajv, ErrorObject } from 'ajv';
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { projectRoot } from '../common/paths.js';

/** Schemas ship with the code, never with the config: a config folder cannot loosen its own rules. */
export const SCHEMA_DIR = join(projectRoot, 'policy', 'schemas');

export interface Loaded<T> {
  value: T;
  /** SHA-256 of the file's bytes: the policy version that decisions cite. */
  digest: string;
  path: string;
}

/** ajv options; the build's precompiled validators (scripts/compile-schemas.mjs) use the same. */
export const AJV_OPTIONS = { allErrors: true, strict: true, allowUnionTypes: true } as const;
/**
 * Precompiled validators written by the build, one CommonJS file per schema (an actor loads only the sections it
 * reads) and `index.json` naming them with the digest of the schemas they were made from; used only when it matches.
 */
export const PRECOMPILED = join(projectRoot, 'dist', 'policy', 'validators');

const requireCjs = createRequire(import.meta.url);

type Validator = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

interface SchemaTexts {
  /** Every schema by id, in a fixed order, and the SHA-256 of them all (the precompiled module must match it). */
  entries: [id: string, schema: Record<string, unknown>][];
  digest: string;
}

/** Reads every schema file (no compiling): the section schemas of policy.yaml plus one per config file. */
export function readSchemas(): SchemaTexts {
  const hash = createHash('sha256');
  const entries: SchemaTexts['entries'] = [];
  const read = (file: string, id: string) => {
    const text = readFileSync(file, 'utf8');
    hash.update(`${id}\0${text}\0`);
    entries.push([id, JSON.parse(text) as Record<string, unknown>]);
  };
  // Section schemas of policy.yaml live in schemas/policy/, one file per section, each owned by its feature.
  const sections: string[] = [];
  const sectionDir = join(SCHEMA_DIR, 'policy');
  for (const f of existsSync(sectionDir) ? readdirSync(sectionDir).sort() : []) {
    if (!f.endsWith('.schema.json')) continue;
    read(join(sectionDir, f), `policy/${f}`);
    sections.push(f.replace(/\.schema\.json$/, ''));
  }
  entries.push(['policy.schema.json', {
    $id: 'policy.schema.json',
    type: 'object',
    additionalProperties: false,
    required: ['version', ...sections],
    properties: {
      version: { type: 'integer', const: 1 },
      ...Object.fromEntries(sections.map((s) => [s, { $ref: `policy/${s}.schema.json` }])),
    },
  }]);
  for (const f of readdirSync(SCHEMA_DIR).sort()) {
    if (f.endsWith('.schema.json') && f !== 'policy.schema.json') read(join(SCHEMA_DIR, f), f);
  }
  return { entries, digest: hash.digest('hex') };
}

/** An ajv instance holding every schema (compiled on first use); `source` keeps code for the build. */
export function buildAjv(texts: SchemaTexts, source = false): Ajv {
  // Required on demand (ajv is CommonJS): with precompiled validators, actors never load it.
  const { Ajv: AjvClass } = requireCjs('ajv') as typeof import('ajv');
  const ajv = new AjvClass({ ...AJV_OPTIONS, ...(source && { code: { source: true } }) });
  for (const [id, schema] of texts.entries) ajv.addSchema(schema, id);
  return ajv;
}

/** The build's index of precompiled validators: the schemas' digest and the file of each schema id. */
export interface PrecompiledIndex { digest: string; files: Record<string, string> }

/** The precompiled index, or undefined when the build wrote none (a checkout run from sources). */
export function precompiledIndex(): PrecompiledIndex | undefined {
  const file = join(PRECOMPILED, 'index.json');
  if (!existsSync(file)) return undefined;
  try {
    const ix = JSON.parse(readFileSync(file, 'utf8')) as Partial<PrecompiledIndex>;
    return typeof ix.digest === 'string' && ix.files && typeof ix.files === 'object' ? { digest: ix.digest, files: ix.files } : undefined;
  } catch {
    return undefined; // lint-ok: an unreadable index means compiling at run time, as from sources
  }
}

/** One precompiled validator by schema id (the build names only plain file names in the index). */
export function precompiledValidator(ix: PrecompiledIndex, id: string): Validator | undefined {
  const f = ix.files[id];
  if (typeof f !== 'string' || !/^v[0-9]+\.cjs$/.test(f)) return undefined;
  return (requireCjs(join(PRECOMPILED, f)) as { validate: Validator }).validate;
}

let getValidator: ((id: string) => Validator | undefined) | undefined;

/**
 * Compiling every schema costs ~0.2 s of CPU, paid by each actor that reads policy at start; the
 * build precompiles them (ajv standalone). A precompiled module made from other schemas is ignored.
 */
function validatorFor(schemaId: string): Validator | undefined {
  if (!getValidator) {
    const texts = readSchemas();
    const ix = precompiledIndex();
    const usable = ix?.digest === texts.digest ? ix : undefined;
    let ajv: Ajv | undefined;
    // require() caches each file: a section asked for again costs a lookup.
    getValidator = (id) => (usable && precompiledValidator(usable, id)) || ((ajv ??= buildAjv(texts)).getSchema(id) as Validator | undefined);
  }
  return getValidator(schemaId);
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as object)) deepFreeze(x);
  }
  return v;
}

/** Finds the YAML node at a JSON pointer, to report its line. */
function nodeAt(root: YamlNode | null, pointer: string): YamlNode | null {
  let node: YamlNode | null = root;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown })?.value === key);
      node = (pair?.value as YamlNode | undefined) ?? (pair?.key as YamlNode | undefined) ?? node;
      if (!pair) break;
    } else if (isSeq(node)) {
      node = (node.items[Number(key)] as YamlNode | undefined) ?? node;
    } else break;
  }
  return node;
}

function describe(e: ErrorObject): string {
  if (e.keyword === 'additionalProperties') return `unknown key '${(e.params as { additionalProperty: string }).additionalProperty}'`;
  if (e.keyword === 'required') return `missing key '${(e.params as { missingProperty: string }).missingProperty}'`;
  return e.message ?? 'is invalid';
}

/** Parses and validates YAML text; errors name the file, the line and the key path. */
export function parseConfig<T>(text: string, schemaId: string, path: string): Loaded<T> {
  const validate = validatorFor(schemaId);
  if (!validate) throw new SecaiError(ErrorCode.CONFIG_INVALID, `no schema '${schemaId}' for ${path}`);
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const pos = lc.linePos(e.pos[0]);
    throw new SecaiError(ErrorCode.CONFIG_INVALID, `${path}:${pos.line}:${pos.col}: ${e.message.split('\n')[0]}`);
  }
  const value = doc.toJS({ maxAliasCount: 50 }) as unknown;
  if (!validate(value)) {
    const msgs = (validate.errors ?? []).slice(0, 5).map((e) => {
      const where = e.keyword === 'additionalProperties' ? `${e.instancePath}/${(e.params as { additionalProperty: string }).additionalProperty}` : e.instancePath;
      const node = nodeAt(doc.contents as YamlNode | null, where);
      const line = node?.range ? lc.linePos(node.range[0]).line : 1;
      return `${path}:${line}: ${e.instancePath || '/'} ${describe(e)}`;
    });
    throw new SecaiError(ErrorCode.CONFIG_INVALID, msgs.join('; '));
  }
  return { value: deepFreeze(value as T), digest: createHash('sha256').update(text).digest('hex'), path };
}

/** Loads `<configDir>/<name>.yaml` against `schemas/<name>.schema.json`. A missing file is an error. */
export function loadConfig<T>(configDir: string, name: string): Loaded<T> {
  const path = join(configDir, `${name}.yaml`);
  if (!existsSync(path)) throw new SecaiError(ErrorCode.CONFIG_INVALID, `${path}: missing (every config file is required; defaults ship in policy/)`);
  return parseConfig<T>(readFileSync(path, 'utf8'), `${basename(name)}.schema.json`, path);
}

/** Checks a value that did not come from a file (a policy section received over the bus) against a schema by id. */
export function validateValue<T>(value: unknown, schemaId: string, what: string): T {
  const validate = validatorFor(schemaId);
  if (!validate) throw new SecaiError(ErrorCode.CONFIG_INVALID, `no schema '${schemaId}' for ${what}`);
  if (!validate(value)) {
    const msgs = (validate.errors ?? []).slice(0, 5).map((e) => `${what}${e.instancePath || ''} ${describe(e)}`);
    throw new SecaiError(ErrorCode.CONFIG_INVALID, msgs.join('; '));
  }
  return deepFreeze(value as T);
}
