// sensitivity: data may flow to a sink only up to the sink's most sensitive label.
import type { PolicyDoc } from '../types.js';
import { DEFAULT_DENY, deny, type Verdict } from './verdict.js';

export interface SensitivityInput {
  label: string;
  sink: string;
}

export const sensitivitySchema = {
  type: 'object', additionalProperties: false, required: ['label', 'sink'],
  properties: { label: { type: 'string', maxLength: 32 }, sink: { type: 'string', maxLength: 64 } },
};

export function decideSensitivity(policy: PolicyDoc, input: SensitivityInput): Verdict {
  const labels = policy.sensitivity.labels;
  const have = labels.indexOf(input.label);
  if (have < 0) return deny('sensitivity.labels', `unknown label '${input.label}'`);
  const rule = policy.sensitivity.sinks.find((s) => s.sink === input.sink);
  if (!rule) return deny(DEFAULT_DENY, `no rule for sink '${input.sink}'`);
  const max = labels.indexOf(rule.max_label);
  // A rule naming an unknown label allows nothing: fail closed on a policy typo.
  if (max < 0) return deny(rule.id, `rule names unknown label '${rule.max_label}'`);
  return have <= max ? { decision: 'allow', rule: rule.id } : deny(rule.id, `${input.label} may not flow to ${input.sink}`);
}
