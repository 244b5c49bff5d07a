// bus/callers.json: who may ask what, written with the server config so that responders check reply
// inboxes against exactly the ACL the server enforces (tests add identities of their own).
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../common/fs-atomic.js';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { callersOf, type CompiledIdentity } from './acl.js';

export function writeCallers(path: string, compiled: readonly CompiledIdentity[]): void {
  const out: Record<string, string[]> = {};
  for (const [subject, who] of callersOf(compiled)) out[subject] = [...who].sort();
  writeFileAtomic(path, JSON.stringify(out, null, 2) + '\n', 0o600);
}

/** Reads the map back; a missing or malformed file stops the actor (it could not tell who may ask). */
export function loadCallers(path: string): ReadonlyMap<string, ReadonlySet<string>> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new SecaiError(ErrorCode.NOT_RUNNING, `cannot read ${path} (written by the supervisor at start): ${(err as Error).message}`, { cause: err });
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new SecaiError(ErrorCode.CONFIG_INVALID, `${path}: not a map of subjects`);
  const map = new Map<string, ReadonlySet<string>>();
  for (const [subject, who] of Object.entries(raw)) {
    if (!Array.isArray(who) || !who.every((w) => typeof w === 'string')) throw new SecaiError(ErrorCode.CONFIG_INVALID, `${path}: ${subject} is not a list of identities`);
    map.set(subject, new Set(who as string[]));
  }
  return map;
}
