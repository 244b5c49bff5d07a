// DDIM with eta 0 (deterministic; Song et al. 2020, formula 12) as diffusers' DDIMScheduler runs it.
import { alphaSchedule, alphaScheduler, clipX0, predictX0Eps } from './alpha-family.js';
import { spacedTimesteps } from './timesteps.js';
import type { Scheduler, SchedulerFields } from './types.js';

export function createDdim(c: SchedulerFields, steps: number): Scheduler {
  const s = alphaSchedule(c, steps, spacedTimesteps(c, steps, 'ddim'));
  const finalAlphaCumprod = c.setAlphaToOne ? 1 : s.ac[0]!;
  // diffusers steps back by N // steps whatever the spacing: the previous alpha is not always the next timestep's.
  const stride = Math.floor(c.numTrainTimesteps / steps);
  return alphaScheduler('ddim', steps, s, (modelOutput, i, sample) => {
    const t = s.timesteps[i]!;
    const prevT = t - stride;
    const a = s.ac[t]!;
    const aPrev = prevT >= 0 ? s.ac[prevT]! : finalAlphaCumprod;
    const out = new Float32Array(sample.length);
    for (let j = 0; j < sample.length; j++) {
      const [predicted, eps] = predictX0Eps(c, modelOutput[j]!, sample[j]!, a);
      // Clipping x0 leaves eps as predicted (use_clipped_model_output false).
      out[j] = Math.sqrt(aPrev) * clipX0(c, predicted) + Math.sqrt(1 - aPrev) * eps;
    }
    return out;
  });
}
