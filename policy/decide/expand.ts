// Binds a loaded policy to one appliance: `$SECAI_HOME` in path rules becomes the state directory.
import type { PolicyDoc } from '../types.js';
import { lexicalPath } from './path-lexical.js';

/**
 * Rules are compared with canonical file paths, never with URLs or globs: `?` (a query string or a
 * one-character wildcard), `#` (a fragment) and `*` would make a rule that looks broad and matches nothing.
 */
const NOT_A_PATH = /[?#*]/;

function expand(p: string, home: string): string {
  const bad = NOT_A_PATH.exec(p);
  if (bad) throw new Error(`policy path '${p}': contains '${bad[0]}' (rules are plain paths, not URLs or globs, and would never match)`);
  const raw = p.startsWith('$SECAI_HOME') ? home + p.slice('$SECAI_HOME'.length) : p;
  const l = lexicalPath(raw);
  // A root that is not canonical could never match a canonical path (allow) or would silently miss (deny).
  if (!l.ok) throw new Error(`policy path '${p}': ${l.reason}`);
  return l.path;
}

function freeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) freeze(x);
    Object.freeze(v);
  }
  return v;
}

/** A frozen copy of `doc` with every path rule expanded and canonical; throws on a path that is not. */
export function bindPolicy<T extends PolicyDoc>(doc: T, home: string): T {
  const copy = structuredClone(doc) as T & { paths: { deny: { prefix: string }[]; allow: { root: string }[] } };
  for (const d of copy.paths.deny) d.prefix = expand(d.prefix, home);
  for (const a of copy.paths.allow) a.root = expand(a.root, home);
  return freeze(copy);
}
