// The training noise schedule: betas and their cumulative alpha products, as diffusers builds them.
// Computed in float64 (diffusers keeps float32 tensors): values agree to about 1e-6 relative, the difference
// being float32 rounding, not a different formula.
import type { SchedulerFields } from './types.js';
import { linspace } from './numpy.js';

/** Glide's cosine schedule (diffusers' betas_for_alpha_bar, 'cosine'), each beta capped at maxBeta. */
export function cosineBetas(n: number, maxBeta = 0.999): Float64Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), maxBeta);
  return out;
}

export function betas(c: Pick<SchedulerFields, 'numTrainTimesteps' | 'betaStart' | 'betaEnd' | 'betaSchedule'>): Float64Array {
  const n = c.numTrainTimesteps;
  switch (c.betaSchedule) {
    case 'linear':
      return linspace(c.betaStart, c.betaEnd, n);
    case 'scaled_linear':
      // "very specific to the latent diffusion model": linear in sqrt(beta), then squared.
      return linspace(Math.sqrt(c.betaStart), Math.sqrt(c.betaEnd), n).map((b) => b * b);
    case 'squaredcos_cap_v2':
      return cosineBetas(n);
  }
}

/** alphas_cumprod = cumprod(1 - beta). */
export function alphasCumprod(c: Pick<SchedulerFields, 'numTrainTimesteps' | 'betaStart' | 'betaEnd' | 'betaSchedule'>): Float64Array {
  const b = betas(c);
  const out = new Float64Array(b.length);
  let p = 1;
  for (let i = 0; i < b.length; i++) {
    p *= 1 - b[i]!;
    out[i] = p;
  }
  return out;
}
