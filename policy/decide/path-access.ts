// path_access: deny prefixes win (compared without case), then an allow root must grant the access.
import type { PolicyDoc } from '../types.js';
import { isWithin, isWithinFolded, lexicalPath } from './path-lexical.js';
import { DEFAULT_DENY, deny, type Verdict } from './verdict.js';

export interface PathAccessInput {
  /** The real path (the tool firewall resolves symlinks before asking). */
  path: string;
  access: 'read' | 'write';
}

export const pathAccessSchema = {
  type: 'object', additionalProperties: false, required: ['path', 'access'],
  properties: { path: { type: 'string', maxLength: 4096 }, access: { type: 'string', enum: ['read', 'write'] } },
};

export function decidePathAccess(policy: PolicyDoc, input: PathAccessInput): Verdict {
  const p = lexicalPath(input.path);
  if (!p.ok) return deny('paths.lexical', p.reason);
  for (const d of policy.paths.deny) {
    if (isWithinFolded(p.path, d.prefix)) return deny(d.id, `under denied prefix ${d.prefix}`);
  }
  const within = policy.paths.case_insensitive ? isWithinFolded : isWithin;
  for (const a of policy.paths.allow) {
    if (within(p.path, a.root) && a.access.includes(input.access)) return { decision: 'allow', rule: a.id };
  }
  return deny(DEFAULT_DENY, `no root allows ${input.access} here`);
}
