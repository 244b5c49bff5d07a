// What a domain's rule evaluation returns before the engine adds its evidence (digest, input hash, time).
import type { Decision } from '../types.js';

export interface Verdict {
  decision: Decision;
  /** Id of the rule that fired, or 'default-deny' when none matched. */
  rule: string;
  reason?: string;
}

export const deny = (rule: string, reason?: string): Verdict => (reason === undefined ? { decision: 'deny', rule } : { decision: 'deny', rule, reason });
export const DEFAULT_DENY = 'default-deny';
