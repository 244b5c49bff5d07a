// Test helper: the shipped policy.yaml, bound to a given home, optionally with sections replaced.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify, parse } from 'yaml';
import { parsePolicy } from '../../policy/snapshot.js';
import type { PolicySnapshot } from '../../policy/types.js';

export const POLICY_FILE = join(import.meta.dirname, '..', '..', 'policy', 'policy.yaml');

/** The shipped policy with `patch` applied per section (shallow per section), bound to `home`. */
export function testPolicy(home = '/home/secai', patch: Record<string, unknown> = {}): PolicySnapshot {
  const doc = parse(readFileSync(POLICY_FILE, 'utf8')) as Record<string, Record<string, unknown>>;
  for (const [k, v] of Object.entries(patch)) doc[k] = { ...doc[k], ...(v as Record<string, unknown>) };
  return parsePolicy(stringify(doc), 'test-policy.yaml', home);
}

export function policyText(patch: Record<string, unknown> = {}): string {
  const doc = parse(readFileSync(POLICY_FILE, 'utf8')) as Record<string, Record<string, unknown>>;
  for (const [k, v] of Object.entries(patch)) doc[k] = { ...doc[k], ...(v as Record<string, unknown>) };
  return stringify(doc);
}
