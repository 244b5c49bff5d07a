// Euler ancestral ("Euler a") as diffusers' EulerAncestralDiscreteScheduler runs it: an Euler step to sigma_down,
// then fresh noise of sigma_up, so each step forgets part of the path (eta 1 of k-diffusion's get_ancestral_step).
import { derivative, sigmaSchedule, sigmaScheduler } from './sigma-family.js';
import type { Scheduler, SchedulerFields } from './types.js';

export function createEulerAncestral(c: SchedulerFields, steps: number): Scheduler {
  const s = sigmaSchedule(c, steps);
  return sigmaScheduler('euler_a', steps, s, (modelOutput, i, sample, rng) => {
    const sigmaFrom = s.sigmas[i]!;
    const sigmaTo = s.sigmas[i + 1]!;
    const sigmaUp = Math.sqrt((sigmaTo ** 2 * (sigmaFrom ** 2 - sigmaTo ** 2)) / sigmaFrom ** 2);
    const sigmaDown = Math.sqrt(sigmaTo ** 2 - sigmaUp ** 2);
    const dt = sigmaDown - sigmaFrom;
    // The last step goes to sigma 0, where sigma_up is 0: no noise is drawn for it.
    const noise = sigmaUp > 0 ? rng.gaussian(sample.length) : undefined;
    const out = new Float32Array(sample.length);
    for (let j = 0; j < sample.length; j++) {
      const x = sample[j]!;
      out[j] = x + derivative(c, modelOutput[j]!, x, sigmaFrom) * dt + (noise ? noise[j]! * sigmaUp : 0);
    }
    return out;
  });
}
