// agent_risk: a rule for the exact action wins; otherwise the action's risk level against the thresholds.
import { RISK_LEVELS, type PolicyDoc, type RiskLevel } from '../types.js';
import { deny, type Verdict } from './verdict.js';

export interface AgentRiskInput {
  action: string;
  risk: RiskLevel;
}

export const agentRiskSchema = {
  type: 'object', additionalProperties: false, required: ['action', 'risk'],
  properties: { action: { type: 'string', maxLength: 64 }, risk: { type: 'string', enum: [...RISK_LEVELS] } },
};

const level = (r: RiskLevel | 'none') => (r === 'none' ? -1 : RISK_LEVELS.indexOf(r));

export function decideAgentRisk(policy: PolicyDoc, input: AgentRiskInput): Verdict {
  const p = policy.agent_risk;
  const rule = p.actions.find((a) => a.action === input.action);
  if (rule) return { decision: rule.decision, rule: rule.id };
  const r = level(input.risk);
  if (r <= level(p.allow_up_to)) return { decision: 'allow', rule: 'agent_risk.allow_up_to' };
  if (r <= level(p.ask_up_to)) return { decision: 'ask', rule: 'agent_risk.ask_up_to' };
  return deny('agent_risk.above_ask', `${input.risk} risk is above ${p.ask_up_to}`);
}
