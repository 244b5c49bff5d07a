// What Euler and Euler ancestral share: the sigma schedule, x0 and the ODE derivative at a sigma, the model input's
// scaling and img2img's noise, and the Scheduler around a kind's own step.
import { alphasCumprod } from './betas.js';
import { checkedStep, checkIndex, checkSameLength } from './checks.js';
import { interpIndex } from './numpy.js';
import { spacedTimesteps } from './timesteps.js';
import type { Scheduler, SchedulerFields } from './types.js';

/** The Euler family's schedule: timesteps, and one sigma per step plus a final 0. */
export interface SigmaSchedule {
  timesteps: readonly number[];
  sigmas: Float64Array;
  initNoiseSigma: number;
}

export function sigmaSchedule(c: SchedulerFields, steps: number): SigmaSchedule {
  const ac = alphasCumprod(c);
  const trainSigmas = ac.map((a) => Math.sqrt((1 - a) / a));
  const timesteps = Object.freeze(spacedTimesteps(c, steps, 'euler'));
  const sigmas = new Float64Array(steps + 1);
  timesteps.forEach((t, i) => (sigmas[i] = interpIndex(t, trainSigmas)));
  let max = 0;
  for (const s of sigmas) max = Math.max(max, s);
  // diffusers' init_noise_sigma: sigma_max for 'linspace' and 'trailing', sqrt(sigma_max² + 1) for 'leading'.
  const initNoiseSigma = c.timestepSpacing === 'leading' ? Math.sqrt(max * max + 1) : max;
  return { timesteps, sigmas, initNoiseSigma };
}

/** x0 from the model output at noise level sigma, per prediction type (k-diffusion's c_out, c_skip for v). */
export function predictX0(c: SchedulerFields, out: number, x: number, sigma: number): number {
  switch (c.predictionType) {
    case 'epsilon':
      return x - sigma * out;
    case 'v_prediction':
      return out * (-sigma / Math.sqrt(sigma * sigma + 1)) + x / (sigma * sigma + 1);
    case 'sample':
      return out;
  }
}

/** dx/dsigma = (x − x0) / sigma: the probability-flow ODE's derivative (k-diffusion's to_d). */
export function derivative(c: SchedulerFields, out: number, x: number, sigma: number): number {
  return (x - predictX0(c, out, x, sigma)) / sigma;
}

export function scaleBySigma(sample: Float32Array, sigma: number): Float32Array {
  const d = Math.sqrt(sigma * sigma + 1);
  const out = new Float32Array(sample.length);
  for (let j = 0; j < sample.length; j++) out[j] = sample[j]! / d;
  return out;
}

export function addNoiseAtSigma(original: Float32Array, noise: Float32Array, sigma: number): Float32Array {
  const out = new Float32Array(original.length);
  for (let j = 0; j < original.length; j++) out[j] = original[j]! + noise[j]! * sigma;
  return out;
}

/** The Scheduler of an Euler-family `kind` over schedule `s`: only the step differs between the two. */
export function sigmaScheduler(kind: 'euler' | 'euler_a', steps: number, s: SigmaSchedule, stepAt: Scheduler['step']): Scheduler {
  return Object.freeze({
    kind,
    timesteps: s.timesteps,
    initNoiseSigma: s.initNoiseSigma,
    scaleModelInput(sample: Float32Array, i: number): Float32Array {
      checkIndex(i, steps, `${kind} scaleModelInput`);
      return scaleBySigma(sample, s.sigmas[i]!);
    },
    step: checkedStep(`${kind} step`, steps, stepAt),
    addNoise(original: Float32Array, noise: Float32Array, i: number): Float32Array {
      checkIndex(i, steps, `${kind} addNoise`);
      checkSameLength(original, noise, `${kind} addNoise`);
      return addNoiseAtSigma(original, noise, s.sigmas[i]!);
    },
  });
}
