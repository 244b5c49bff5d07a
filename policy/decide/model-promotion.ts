// model_promotion: a model enters the registry only in an allowed format and size, with every required stage passed.
import type { PolicyDoc } from '../types.js';
import { deny, type Verdict } from './verdict.js';

export interface ModelPromotionInput {
  format: string;
  sizeBytes: number;
  stages: { stage: string; verdict: 'pass' | 'warn' | 'fail' | 'error' | 'skipped' }[];
}

export const modelPromotionSchema = {
  type: 'object', additionalProperties: false, required: ['format', 'sizeBytes', 'stages'],
  properties: {
    format: { type: 'string', maxLength: 32 },
    sizeBytes: { type: 'integer', minimum: 0 },
    stages: {
      type: 'array', maxItems: 32,
      items: {
        type: 'object', additionalProperties: false, required: ['stage', 'verdict'],
        properties: { stage: { type: 'string', maxLength: 48 }, verdict: { type: 'string', enum: ['pass', 'warn', 'fail', 'error', 'skipped'] } },
      },
    },
  },
};

export function decideModelPromotion(policy: PolicyDoc, input: ModelPromotionInput): Verdict {
  const m = policy.models;
  if (!m.formats.includes(input.format)) return deny('models.formats', `format '${input.format}' is not promotable`);
  if (input.sizeBytes > m.max_size_bytes) return deny('models.max_size_bytes', `${input.sizeBytes} bytes`);
  for (const s of input.stages) {
    if (s.verdict === 'fail' || s.verdict === 'error') return deny(`models.stage.${s.stage}`, `stage ${s.stage}: ${s.verdict}`);
  }
  for (const req of m.required_stages) {
    const s = input.stages.find((x) => x.stage === req);
    if (!s || s.verdict === 'skipped') return deny('models.required_stages', `required stage ${req} did not run`);
  }
  // The same stage reported twice with different verdicts is an inconsistent report.
  const seen = new Set<string>();
  for (const s of input.stages) {
    if (seen.has(s.stage)) return deny('models.stages', `stage ${s.stage} reported twice`);
    seen.add(s.stage);
  }
  if (input.stages.some((s) => s.verdict === 'warn')) {
    return m.on_warn === 'ask' ? { decision: 'ask', rule: 'models.on_warn' } : deny('models.on_warn', 'a stage warned');
  }
  return { decision: 'allow', rule: 'models.all_passed' };
}
