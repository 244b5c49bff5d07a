// What DDIM and LCM share: their timesteps' alphas_cumprod (each checked to lie in the table), x0 and epsilon at an
// alpha, x0's clipping, img2img's noise, and the Scheduler around a kind's own step.
import { alphasCumprod } from './betas.js';
import { checkedStep, checkIndex, checkSameLength } from './checks.js';
import { checkInTable } from './timesteps.js';
import type { Scheduler, SchedulerFields } from './types.js';

/** DDIM's and LCM's schedule: timesteps, and the training table they index. */
export interface AlphaSchedule {
  timesteps: readonly number[];
  /** alphas_cumprod over the training timesteps: `ac[t]` is alpha_prod at timestep t. */
  ac: Float64Array;
}

/** The schedule over `timesteps`, refused if one lies outside the training table. */
export function alphaSchedule(c: SchedulerFields, steps: number, timesteps: readonly number[]): AlphaSchedule {
  const ac = alphasCumprod(c);
  const frozen = Object.freeze(timesteps);
  checkInTable(frozen, c, steps);
  return { timesteps: frozen, ac };
}

/** x0 and epsilon from the model output at alpha_prod a (diffusers' DDIM/LCM step 3). */
export function predictX0Eps(c: SchedulerFields, out: number, x: number, a: number): [x0: number, eps: number] {
  const sa = Math.sqrt(a);
  const sb = Math.sqrt(1 - a);
  switch (c.predictionType) {
    case 'epsilon':
      return [(x - sb * out) / sa, out];
    case 'sample':
      return [out, (x - sa * out) / sb];
    case 'v_prediction':
      return [sa * x - sb * out, sa * out + sb * x];
  }
}

/** x0 within ±clip_sample_range when clip_sample is set (diffusers' step 4), as predicted otherwise. */
export function clipX0(c: SchedulerFields, predicted: number): number {
  const r = c.clipSampleRange;
  return c.clipSample ? Math.min(r, Math.max(-r, predicted)) : predicted;
}

/** sqrt(ab)·x + sqrt(1 − ab)·noise: the forward process at one timestep (DDPM's add_noise). */
export function addNoiseAtAlpha(original: Float32Array, noise: Float32Array, a: number): Float32Array {
  const sa = Math.sqrt(a);
  const sb = Math.sqrt(1 - a);
  const out = new Float32Array(original.length);
  for (let j = 0; j < original.length; j++) out[j] = sa * original[j]! + sb * noise[j]!;
  return out;
}

/** The Scheduler of `kind` over schedule `s`: the model input is the sample as it is; only the step differs. */
export function alphaScheduler(kind: 'ddim' | 'lcm', steps: number, s: AlphaSchedule, stepAt: Scheduler['step']): Scheduler {
  return Object.freeze({
    kind,
    timesteps: s.timesteps,
    initNoiseSigma: 1,
    scaleModelInput(sample: Float32Array, i: number): Float32Array {
      checkIndex(i, steps, `${kind} scaleModelInput`);
      return Float32Array.from(sample);
    },
    step: checkedStep(`${kind} step`, steps, stepAt),
    addNoise(original: Float32Array, noise: Float32Array, i: number): Float32Array {
      checkIndex(i, steps, `${kind} addNoise`);
      checkSameLength(original, noise, `${kind} addNoise`);
      return addNoiseAtAlpha(original, noise, s.ac[s.timesteps[i]!]!);
    },
  });
}
