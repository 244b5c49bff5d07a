// agent_risk: the policy rates every action; an action it does not name is denied, whatever risk the caller declares.
import { RISK_LEVELS, type PolicyDoc, type RiskLevel } from '../types.js';
import { DEFAULT_DENY, deny, type Verdict } from './verdict.js';

export interface AgentRiskInput {
  action: string;
  /** The caller's own rating: it can only raise the policy's rating, never lower it. */
  risk?: RiskLevel;
}

export const agentRiskSchema = {
  type: 'object', additionalProperties: false, required: ['action'],
  properties: { action: { type: 'string', maxLength: 64 }, risk: { type: 'string', enum: [...RISK_LEVELS] } },
};

const level = (r: RiskLevel | 'none') => (r === 'none' ? -1 : RISK_LEVELS.indexOf(r));

export function decideAgentRisk(policy: PolicyDoc, input: AgentRiskInput): Verdict {
  const p = policy.agent_risk;
  const rule = p.actions.find((a) => a.action === input.action);
  // The caller is the agent being judged: a risk it declares for an action the policy does not know is no evidence.
  if (!rule) return deny(DEFAULT_DENY, `no agent_risk rule rates action '${input.action}'`);
  if (rule.decision !== undefined) return { decision: rule.decision, rule: rule.id };
  if (rule.risk === undefined) return deny(rule.id, 'rule has neither decision nor risk');
  const declared = input.risk === undefined ? -1 : level(input.risk);
  const r = Math.max(level(rule.risk), declared);
  const risk = RISK_LEVELS[r]!;
  const why = `${rule.id} rates ${input.action} ${rule.risk}${declared > level(rule.risk) ? `, the caller ${risk}` : ''}`;
  if (r <= level(p.allow_up_to)) return { decision: 'allow', rule: 'agent_risk.allow_up_to', reason: why };
  if (r <= level(p.ask_up_to)) return { decision: 'ask', rule: 'agent_risk.ask_up_to', reason: why };
  return deny('agent_risk.above_ask', `${why}: above ${p.ask_up_to}`);
}
