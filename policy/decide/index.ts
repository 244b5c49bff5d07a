// The decision point: decide(policy, domain, input) → allow/deny/ask with evidence. Pure: no I/O, no state.
import { createHash } from 'node:crypto';
import { Ajv, type ValidateFunction } from 'ajv';
import { canonicalJson } from '../../common/canonical-json.js';
import type { Decision, PolicyDoc, PolicySnapshot } from '../types.js';
import { agentRiskSchema, decideAgentRisk, type AgentRiskInput } from './agent-risk.js';
import { decideEgress, egressSchema, type EgressInput } from './egress.js';
import { decideModelPromotion, modelPromotionSchema, type ModelPromotionInput } from './model-promotion.js';
import { decidePathAccess, pathAccessSchema, type PathAccessInput } from './path-access.js';
import { decideSensitivity, sensitivitySchema, type SensitivityInput } from './sensitivity.js';
import { decideToolAccess, toolAccessSchema, type ToolAccessInput } from './tool-access.js';
import { deny, type Verdict } from './verdict.js';

export const DOMAINS = ['tool_access', 'path_access', 'egress', 'agent_risk', 'sensitivity', 'model_promotion'] as const;
export type Domain = (typeof DOMAINS)[number];

// A type, not an interface: a decision travels as a free-form record in replies (index signature).
export type DecisionResult = {
  decision: Decision;
  domain: string;
  rule: string;
  reason?: string;
  /** SHA-256 of the policy file the decision was made under. */
  policyDigest: string;
  /** SHA-256 of the canonical JSON of the input. */
  inputHash: string;
  /** Evaluation time in microseconds (hashing and validation included). */
  evalUs: number;
};

/** Each domain's input schema; test/policy/decide-input-schemas.test.ts checks them against the meta-schema. */
export const INPUT_SCHEMAS: Record<Domain, object> = {
  tool_access: toolAccessSchema, path_access: pathAccessSchema, egress: egressSchema,
  agent_risk: agentRiskSchema, sensitivity: sensitivitySchema, model_promotion: modelPromotionSchema,
};
// Compiled on first use: an actor that never decides a domain does not pay for it at start (ajv's meta-schema
// pass alone cost ~60 ms of CPU per process; the test above does that check instead).
const ajv = new Ajv({ allErrors: false, strict: true, validateSchema: false });
type Rule = (p: PolicyDoc, input: any, inputBytes: number) => Verdict;
const RULES: Record<Domain, Rule> = {
  // The canonical input is exactly {"args":<args>,"tool":<tool>} (validated: two keys, sorted), so the
  // arguments' canonical size follows from the input's without serializing them twice.
  tool_access: (p, i: ToolAccessInput, n) => decideToolAccess(p, i, n - '{"args":,"tool":}'.length - JSON.stringify(i.tool).length),
  path_access: (p, i: PathAccessInput) => decidePathAccess(p, i),
  egress: (p, i: EgressInput) => decideEgress(p, i),
  agent_risk: (p, i: AgentRiskInput) => decideAgentRisk(p, i),
  sensitivity: (p, i: SensitivityInput) => decideSensitivity(p, i),
  model_promotion: (p, i: ModelPromotionInput) => decideModelPromotion(p, i),
};
const validators = new Map<Domain, ValidateFunction>();
function validatorOf(domain: Domain): ValidateFunction {
  let v = validators.get(domain);
  if (!v) validators.set(domain, (v = ajv.compile(INPUT_SCHEMAS[domain])));
  return v;
}

export const isDomain = (d: unknown): d is Domain => typeof d === 'string' && Object.hasOwn(RULES, d);

const UNHASHABLE = 'unhashable';

function hashInput(input: unknown): { hash: string; bytes: number } {
  try {
    const json = canonicalJson(input);
    return { hash: createHash('sha256').update(json).digest('hex'), bytes: json.length };
  } catch {
    return { hash: UNHASHABLE, bytes: 0 };
  }
}

/**
 * Decides `input` in `domain` under `policy`. Never throws: an unknown domain, malformed input or a
 * failing rule is a deny with a reason. `clock` is injectable so tests and benchmarks control it.
 */
export function decide(policy: PolicySnapshot, domain: string, input: unknown, clock: () => number = performance.now.bind(performance)): DecisionResult {
  const t0 = clock();
  const { hash: inputHash, bytes } = hashInput(input);
  let v: Verdict;
  if (!isDomain(domain)) v = deny('unknown-domain', `unknown domain '${String(domain).slice(0, 64)}'`);
  else if (inputHash === UNHASHABLE) v = deny('invalid-input', 'input is not canonical JSON data');
  else {
    const validate = validatorOf(domain);
    if (!validate(input)) {
      const e = validate.errors?.[0];
      v = deny('invalid-input', `${e?.instancePath || '/'} ${e?.message ?? 'is invalid'}`);
    } else {
      try {
        v = RULES[domain](policy.value, input, bytes);
      } catch (err) {
        v = deny('rule-error', (err as Error).message);
      }
    }
  }
  const out: DecisionResult = {
    decision: v.decision, domain: String(domain).slice(0, 64), rule: v.rule,
    policyDigest: policy.digest, inputHash, evalUs: 0,
  };
  if (v.reason !== undefined) out.reason = v.reason;
  out.evalUs = Math.round((clock() - t0) * 1000 * 10) / 10;
  return out;
}
