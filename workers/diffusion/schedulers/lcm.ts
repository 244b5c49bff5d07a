// Latent Consistency Model multistep sampling (Luo et al. 2023, Algorithm 3) as diffusers' LCMScheduler runs it.
import { ErrorCode, SecaiError } from '../../../common/errors.js';
import { alphaSchedule, alphaScheduler, clipX0, predictX0Eps } from './alpha-family.js';
import { linspace } from './numpy.js';
import type { Scheduler, SchedulerFields } from './types.js';

const SIGMA_DATA = 0.5;

/**
 * The distillation schedule (k = N // original_steps; k-1, 2k-1, …, original_steps·k-1), reversed, then `steps` of
 * its indices picked evenly: floor(linspace(0, len, steps, endpoint=False)), as diffusers does since its LCM fix
 * (50 original steps, 4 steps: 999, 759, 499, 259; the older `[::len // steps]` pick gave 999, 759, 519, 279).
 */
export function lcmTimesteps(c: SchedulerFields, steps: number): number[] {
  const orig = c.originalInferenceSteps;
  if (orig > c.numTrainTimesteps) {
    throw new SecaiError(ErrorCode.MODEL_INVALID, `scheduler_config.json: original_inference_steps ${orig} exceeds num_train_timesteps ${c.numTrainTimesteps}`);
  }
  if (steps > orig) {
    throw new SecaiError(ErrorCode.SCHEMA, `LCM steps must be at most original_inference_steps (${orig}), got ${steps}`);
  }
  const k = Math.floor(c.numTrainTimesteps / orig);
  const origin: number[] = [];
  for (let j = orig; j >= 1; j--) origin.push(j * k - 1);
  return Array.from(linspace(0, origin.length, steps, false), (x) => origin[Math.floor(x)]!);
}

/** The consistency model's boundary condition: c_skip → 1 and c_out → 0 as t → 0. */
export function boundaryScalings(t: number, timestepScaling: number): { cSkip: number; cOut: number } {
  const s = t * timestepScaling;
  return { cSkip: SIGMA_DATA ** 2 / (s * s + SIGMA_DATA ** 2), cOut: s / Math.sqrt(s * s + SIGMA_DATA ** 2) };
}

export function createLcm(c: SchedulerFields, steps: number): Scheduler {
  const s = alphaSchedule(c, steps, lcmTimesteps(c, steps));
  return alphaScheduler('lcm', steps, s, (modelOutput, i, sample, rng) => {
    const t = s.timesteps[i]!;
    const last = i === steps - 1;
    // The previous alpha is the next timestep's (all in the table: set_alpha_to_one never applies here).
    const prevT = last ? t : s.timesteps[i + 1]!;
    const a = s.ac[t]!;
    const aPrev = s.ac[prevT]!;
    const { cSkip, cOut } = boundaryScalings(t, c.timestepScaling);
    // Fresh noise re-enters for the next step; the last step returns the denoised sample itself.
    const noise = last ? undefined : rng.gaussian(sample.length);
    const out = new Float32Array(sample.length);
    for (let j = 0; j < sample.length; j++) {
      const x = sample[j]!;
      const [predicted] = predictX0Eps(c, modelOutput[j]!, x, a);
      const denoised = cOut * clipX0(c, predicted) + cSkip * x;
      out[j] = noise ? Math.sqrt(aPrev) * denoised + Math.sqrt(1 - aPrev) * noise[j]! : denoised;
    }
    return out;
  });
}
