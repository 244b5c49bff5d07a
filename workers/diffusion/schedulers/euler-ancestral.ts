// Euler ancestral ("Euler a") as diffusers' EulerAncestralDiscreteScheduler runs it: an Euler step to sigma_down,
// then fresh noise of sigma_up, so each step forgets part of the path (eta 1 of k-diffusion's get_ancestral_step).
import type { Rng } from '../rng.js';
import { checkIndex, checkSameLength } from './checks.js';
import { addNoiseAtSigma, predictX0, scaleBySigma, sigmaSchedule } from './euler.js';
import type { Scheduler, SchedulerFields } from './types.js';

export function createEulerAncestral(c: SchedulerFields, steps: number): Scheduler {
  const { timesteps, sigmas, initNoiseSigma } = sigmaSchedule(c, steps);
  return Object.freeze({
    kind: 'euler_a' as const,
    timesteps,
    initNoiseSigma,
    scaleModelInput(sample: Float32Array, i: number): Float32Array {
      checkIndex(i, steps, 'euler_a scaleModelInput');
      return scaleBySigma(sample, sigmas[i]!);
    },
    step(modelOutput: Float32Array, i: number, sample: Float32Array, rng: Rng): Float32Array {
      checkIndex(i, steps, 'euler_a step');
      checkSameLength(modelOutput, sample, 'euler_a step');
      const sigmaFrom = sigmas[i]!;
      const sigmaTo = sigmas[i + 1]!;
      const sigmaUp = Math.sqrt((sigmaTo ** 2 * (sigmaFrom ** 2 - sigmaTo ** 2)) / sigmaFrom ** 2);
      const sigmaDown = Math.sqrt(sigmaTo ** 2 - sigmaUp ** 2);
      const dt = sigmaDown - sigmaFrom;
      // The last step goes to sigma 0, where sigma_up is 0: no noise is drawn for it.
      const noise = sigmaUp > 0 ? rng.gaussian(sample.length) : undefined;
      const out = new Float32Array(sample.length);
      for (let j = 0; j < sample.length; j++) {
        const x = sample[j]!;
        const derivative = (x - predictX0(c, modelOutput[j]!, x, sigmaFrom)) / sigmaFrom;
        out[j] = x + derivative * dt + (noise ? noise[j]! * sigmaUp : 0);
      }
      return out;
    },
    addNoise(original: Float32Array, noise: Float32Array, i: number): Float32Array {
      checkIndex(i, steps, 'euler_a addNoise');
      checkSameLength(original, noise, 'euler_a addNoise');
      return addNoiseAtSigma(original, noise, sigmas[i]!);
    },
  });
}
