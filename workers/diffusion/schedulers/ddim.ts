// DDIM with eta 0 (deterministic; Song et al. 2020, formula 12) as diffusers' DDIMScheduler runs it.
import type { Rng } from '../rng.js';
import { alphasCumprod } from './betas.js';
import { checkIndex, checkSameLength } from './checks.js';
import { checkInTable, spacedTimesteps } from './timesteps.js';
import type { Scheduler, SchedulerFields } from './types.js';

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

/** sqrt(ab)·x + sqrt(1 − ab)·noise: the forward process at one timestep (DDPM's add_noise). */
export function addNoiseAtAlpha(original: Float32Array, noise: Float32Array, a: number): Float32Array {
  const sa = Math.sqrt(a);
  const sb = Math.sqrt(1 - a);
  const out = new Float32Array(original.length);
  for (let j = 0; j < original.length; j++) out[j] = sa * original[j]! + sb * noise[j]!;
  return out;
}

export function createDdim(c: SchedulerFields, steps: number): Scheduler {
  const ac = alphasCumprod(c);
  const timesteps = Object.freeze(spacedTimesteps(c, steps, 'ddim'));
  checkInTable(timesteps, c, steps);
  const finalAlphaCumprod = c.setAlphaToOne ? 1 : ac[0]!;
  // diffusers steps back by N // steps whatever the spacing: the previous alpha is not always the next timestep's.
  const stride = Math.floor(c.numTrainTimesteps / steps);
  return Object.freeze({
    kind: 'ddim' as const,
    timesteps,
    initNoiseSigma: 1,
    scaleModelInput(sample: Float32Array, i: number): Float32Array {
      checkIndex(i, steps, 'ddim scaleModelInput');
      return Float32Array.from(sample);
    },
    step(modelOutput: Float32Array, i: number, sample: Float32Array, _rng: Rng): Float32Array {
      checkIndex(i, steps, 'ddim step');
      checkSameLength(modelOutput, sample, 'ddim step');
      const t = timesteps[i]!;
      const prevT = t - stride;
      const a = ac[t]!;
      const aPrev = prevT >= 0 ? ac[prevT]! : finalAlphaCumprod;
      const r = c.clipSampleRange;
      const out = new Float32Array(sample.length);
      for (let j = 0; j < sample.length; j++) {
        const [predicted, eps] = predictX0Eps(c, modelOutput[j]!, sample[j]!, a);
        // Clipping x0 leaves eps as predicted (use_clipped_model_output false).
        const x0 = c.clipSample ? Math.min(r, Math.max(-r, predicted)) : predicted;
        out[j] = Math.sqrt(aPrev) * x0 + Math.sqrt(1 - aPrev) * eps;
      }
      return out;
    },
    addNoise(original: Float32Array, noise: Float32Array, i: number): Float32Array {
      checkIndex(i, steps, 'ddim addNoise');
      checkSameLength(original, noise, 'ddim addNoise');
      return addNoiseAtAlpha(original, noise, ac[timesteps[i]!]!);
    },
  });
}
