// Absolute plausibility bounds on a tensor's dequantized statistics, by role and quant type: judges a model with no siblings to compare.
// The numbers and their sources are in docs/quarantine-scan.md ("Absolute weight bounds"); keep both in step.
import { tensorRole, type TensorRole } from './tensor-role.js';
import type { TensorStats } from './weight-stats.js';

export type BoundedStatistic = 'mean' | 'std' | 'abs_max';

export interface Bounds {
  /** Largest plausible |mean| of the tensor's values. */
  absMean: number;
  /** Largest plausible standard deviation. */
  std: number;
  /** Largest plausible |value|. */
  absMax: number;
}

export type BoundFamily = 'linear' | 'embedding' | 'norm' | 'bias' | 'rope_freqs' | 'generic';

export const ROLE_FAMILY: Readonly<Record<TensorRole, BoundFamily>> = Object.freeze({
  token_embd: 'embedding', position_embd: 'embedding', output: 'embedding',
  attn_q: 'linear', attn_k: 'linear', attn_v: 'linear', attn_qkv: 'linear', attn_output: 'linear',
  ffn_gate: 'linear', ffn_up: 'linear', ffn_down: 'linear', ffn_gate_up: 'linear', ffn_router: 'linear',
  norm: 'norm', bias: 'bias', rope_freqs: 'rope_freqs', generic: 'generic',
});

/**
 * Each bound is the largest value seen in real families (Llama, Mistral, Qwen, Gemma, GPT-2, Phi, T5,
 * CLIP) times a wide margin (10× or more), so a real model never trips it; see the docs page for the why.
 */
export const FAMILY_BOUNDS: Readonly<Record<BoundFamily, Readonly<Bounds>>> = Object.freeze({
  // Trained projections keep σ ≈ 0.005–0.2 (init N(0, 0.02) or U(±1/√fan_in)); single "super weights" and
  // AWQ/SmoothQuant-folded columns reach a few tens at most.
  linear: Object.freeze({ absMean: 1, std: 2, absMax: 500 }),
  // Embeddings and LM heads: Llama/Qwen σ ≈ 0.01–0.05, GPT-2 ≈ 0.14, T5 (initialised N(0, 1)) much larger.
  embedding: Object.freeze({ absMean: 10, std: 50, absMax: 5_000 }),
  // RMSNorm/LayerNorm gains: ≈ 0–10 typically (Gemma stores w with the +1 applied at run time, GGUF bakes it in),
  // with outlier channels of tens to hundreds; beyond ~10⁴ fp16 activations overflow in the next matmul.
  norm: Object.freeze({ absMean: 1_000, std: 1_000, absMax: 10_000 }),
  // Linear and LayerNorm biases (GPT-2, Phi, BERT; Qwen2 keeps q/k/v biases): not weight-decayed, so larger than weights.
  bias: Object.freeze({ absMean: 100, std: 500, absMax: 10_000 }),
  // RoPE frequency factors (Llama 3.1 scaling 1–8, Phi-3 LongRoPE factors up to tens).
  rope_freqs: Object.freeze({ absMean: 10_000, std: 10_000, absMax: 10_000 }),
  // Anything unrecognised (diffusers convolutions, SSM parameters, BatchNorm running statistics): only the absurd.
  generic: Object.freeze({ absMean: 10_000, std: 10_000, absMax: 100_000 }),
});

/**
 * Low-bit block formats reconstruct values on a coarse grid, so the dequantized |max| and σ can exceed the
 * original's by up to about one grid step: the bound is widened by this factor for them (others: 1).
 */
export const QUANT_SLACK: Readonly<Record<string, number>> = Object.freeze({
  Q2_K: 2, Q3_K: 1.5, Q4_0: 1.25, Q4_1: 1.25, Q4_K: 1.25,
});

export interface BoundViolation {
  tensor: string;
  role: TensorRole;
  family: BoundFamily;
  typeName: string;
  statistic: BoundedStatistic;
  value: number;
  bound: number;
}

export interface Plausibility {
  role: TensorRole;
  family: BoundFamily;
  /** (NaN + Inf) / measured values: any value above 0 is a finding, whatever the role. */
  nonFiniteFraction: number;
  /** Largest value/bound over the three statistics (≤ 1 is plausible). */
  worstRatio: number;
  /** Bounds exceeded, worst (largest value/bound) first. */
  violations: BoundViolation[];
}

/** The effective bounds for a role and ggml/safetensors type name. */
export function boundsFor(role: TensorRole, typeName: string): Bounds {
  const b = FAMILY_BOUNDS[ROLE_FAMILY[role]];
  const k = QUANT_SLACK[typeName] ?? 1;
  return { absMean: b.absMean * k, std: b.std * k, absMax: b.absMax * k };
}

/** Judges one tensor's statistics against its role's bounds; null when its values were not measured (undecodable type, empty). */
export function plausibility(s: TensorStats): Plausibility | null {
  if (!s.analysed || s.values === 0) return null;
  const { role } = tensorRole(s.name);
  const family = ROLE_FAMILY[role];
  const b = boundsFor(role, s.typeName);
  const finite = s.values - s.nan - s.inf;
  const measured: [BoundedStatistic, number, number][] = finite > 0
    ? [['mean', Math.abs(s.mean), b.absMean], ['std', Math.sqrt(s.variance), b.std], ['abs_max', s.absMax, b.absMax]]
    : [];
  let worstRatio = 0;
  const violations: BoundViolation[] = [];
  for (const [statistic, value, bound] of measured) {
    const ratio = value / bound;
    if (ratio > worstRatio) worstRatio = ratio;
    // `!(value <= bound)` also catches a NaN statistic (sums that overflowed to Infinity).
    if (!(value <= bound)) violations.push({ tensor: s.name, role, family, typeName: s.typeName, statistic, value, bound });
  }
  violations.sort((x, y) => y.value / y.bound - x.value / x.bound);
  return { role, family, nonFiniteFraction: (s.nan + s.inf) / s.values, worstRatio, violations };
}

const STAT_LABEL: Record<BoundedStatistic, string> = { mean: '|mean|', std: 'std', abs_max: 'max |x|' };

/** "std 20.1 exceeds the bound 2 for attn_q (linear) weights in Q8_0; max |x| 95.2 …": the numbers, for the reason line. */
export function describeViolations(v: readonly BoundViolation[]): string {
  const [first] = v;
  if (!first) return '';
  const parts = v.map((x) => `${STAT_LABEL[x.statistic]} ${fmt(x.value)} exceeds ${fmt(x.bound)}`);
  return `${parts.join(', ')} (bounds for ${first.role} (${first.family}) tensors in ${first.typeName})`;
}

const fmt = (x: number): string => (!Number.isFinite(x) ? String(x) : Math.abs(x) >= 1e5 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(3) : String(Math.round(x * 1000) / 1000));
