// Loads policy.yaml into a PolicySnapshot bound to one state directory; any failure is CONFIG_INVALID.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { parseConfig } from './load.js';
import { bindPolicy } from './decide/expand.js';
import type { PolicyFile } from './sections.js';

/** A loaded policy.yaml: every section, bound to one state directory, and the file's SHA-256. */
export interface LoadedPolicy {
  value: PolicyFile;
  digest: string;
  path: string;
}

export function parsePolicy(text: string, path: string, home: string): LoadedPolicy {
  const loaded = parseConfig<PolicyFile>(text, 'policy.schema.json', path);
  try {
    return { value: bindPolicy(loaded.value, home), digest: loaded.digest, path };
  } catch (err) {
    // Binding fails on a path rule; point at the first line that holds it.
    const bad = /policy path '([^']*)'/.exec((err as Error).message)?.[1];
    const at = bad ? text.indexOf(bad) : -1;
    const line = at >= 0 ? text.slice(0, at).split('\n').length : 1;
    throw new SecaiError(ErrorCode.CONFIG_INVALID, `${path}:${line}: ${(err as Error).message}`);
  }
}

export function loadPolicyFile(path: string, home: string): LoadedPolicy {
  if (!existsSync(path)) throw new SecaiError(ErrorCode.CONFIG_INVALID, `${path}: missing`);
  return parsePolicy(readFileSync(path, 'utf8'), path, home);
}

export const policyPath = (configDir: string) => join(configDir, 'policy.yaml');
