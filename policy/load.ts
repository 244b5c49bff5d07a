// Loads a YAML config file, validates it against its JSON Schema (unknown keys are errors), and freezes it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, join } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
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

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
let schemasLoaded = false;

function loadSchemas(): void {
  if (schemasLoaded) return;
  // Section schemas of policy.yaml live in schemas/policy/, one file per section, each owned by its feature.
  const sections: string[] = [];
  const sectionDir = join(SCHEMA_DIR, 'policy');
  for (const f of existsSync(sectionDir) ? readdirSync(sectionDir).sort() : []) {
    if (!f.endsWith('.schema.json')) continue;
    const schema = JSON.parse(readFileSync(join(sectionDir, f), 'utf8')) as Record<string, unknown>;
    ajv.addSchema(schema, `policy/${f}`);
    sections.push(f.replace(/\.schema\.json$/, ''));
  }
  ajv.addSchema({
    $id: 'policy.schema.json',
    type: 'object',
    additionalProperties: false,
    required: ['version', ...sections],
    properties: {
      version: { type: 'integer', const: 1 },
      ...Object.fromEntries(sections.map((s) => [s, { $ref: `policy/${s}.schema.json` }])),
    },
  });
  for (const f of readdirSync(SCHEMA_DIR).sort()) {
    if (f.endsWith('.schema.json') && f !== 'policy.schema.json') {
      ajv.addSchema(JSON.parse(readFileSync(join(SCHEMA_DIR, f), 'utf8')) as Record<string, unknown>, f);
    }
  }
  schemasLoaded = true;
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
  loadSchemas();
  const validate = ajv.getSchema(schemaId);
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
