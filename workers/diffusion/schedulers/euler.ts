// Euler (Karras et al. 2022, Algorithm 2, s_churn 0) as diffusers' EulerDiscreteScheduler runs it.
import { derivative, sigmaSchedule, sigmaScheduler } from './sigma-family.js';
import type { Scheduler, SchedulerFields } from './types.js';

export function createEuler(c: SchedulerFields, steps: number): Scheduler {
  const s = sigmaSchedule(c, steps);
  return sigmaScheduler('euler', steps, s, (modelOutput, i, sample) => {
    const sigma = s.sigmas[i]!;
    const dt = s.sigmas[i + 1]! - sigma;
    const out = new Float32Array(sample.length);
    for (let j = 0; j < sample.length; j++) {
      const x = sample[j]!;
      out[j] = x + derivative(c, modelOutput[j]!, x, sigma) * dt;
    }
    return out;
  });
}
