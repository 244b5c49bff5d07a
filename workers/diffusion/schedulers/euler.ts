// Euler (Karras et al. 2022, Algorithm 2, s_churn 0) as diffusers' EulerDiscreteScheduler runs it.
import type { Rng } from '../rng.js';
import { alphasCumprod } from './betas.js';
import { checkIndex, checkSameLength } from './checks.js';
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

export function createEuler(c: SchedulerFields, steps: number): Scheduler {
  const { timesteps, sigmas, initNoiseSigma } = sigmaSchedule(c, steps);
  return Object.freeze({
    kind: 'euler' as const,
    timesteps,
    initNoiseSigma,
    scaleModelInput(sample: Float32Array, i: number): Float32Array {
      checkIndex(i, steps, 'euler scaleModelInput');
      return scaleBySigma(sample, sigmas[i]!);
    },
    step(modelOutput: Float32Array, i: number, sample: Float32Array, _rng: Rng): Float32Array {
      checkIndex(i, steps, 'euler step');
      checkSameLength(modelOutput, sample, 'euler step');
      const sigma = sigmas[i]!;
      const dt = sigmas[i + 1]! - sigma;
      const out = new Float32Array(sample.length);
      for (let j = 0; j < sample.length; j++) {
        const x = sample[j]!;
        const derivative = (x - predictX0(c, modelOutput[j]!, x, sigma)) / sigma;
        out[j] = x + derivative * dt;
      }
      return out;
    },
    addNoise(original: Float32Array, noise: Float32Array, i: number): Float32Array {
      checkIndex(i, steps, 'euler addNoise');
      checkSameLength(original, noise, 'euler addNoise');
      return addNoiseAtSigma(original, noise, sigmas[i]!);
    },
  });
}
