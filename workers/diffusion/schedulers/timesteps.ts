// Inference timesteps from the training schedule, by diffusers' timestep_spacing (Table 2 of arXiv:2305.08891).
import { ErrorCode, SecaiError } from '../../../common/errors.js';
import { arangeValues, linspace, roundHalfEven } from './numpy.js';
import type { SchedulerFields } from './types.js';

/** Most inference steps one request may ask for. */
export const MAX_STEPS = 1000;

export function checkSteps(steps: number, numTrainTimesteps: number): void {
  const max = Math.min(MAX_STEPS, numTrainTimesteps);
  if (!Number.isInteger(steps) || steps < 1 || steps > max) {
    throw new SecaiError(ErrorCode.SCHEMA, `steps must be an integer from 1 to ${max}, got ${String(steps)}`);
  }
}

/**
 * The timesteps, first to last. `euler` keeps linspace's fractional timesteps (as float32, like diffusers' Euler);
 * `ddim` rounds them to integers. 'trailing' takes exactly `steps` values: numpy's arange(N, 0, -N/steps) yields one
 * more (a timestep of -1) for 62 step counts up to 1000 (61, 103, …), a float artefact diffusers would run.
 */
export function spacedTimesteps(c: SchedulerFields, steps: number, mode: 'euler' | 'ddim'): number[] {
  const n = c.numTrainTimesteps;
  switch (c.timestepSpacing) {
    case 'linspace': {
      const t = Array.from(linspace(0, n - 1, steps)).reverse();
      return mode === 'euler' ? t.map(Math.fround) : t.map(roundHalfEven);
    }
    case 'leading': {
      const ratio = Math.floor(n / steps);
      const t: number[] = [];
      for (let i = steps - 1; i >= 0; i--) t.push(roundHalfEven(i * ratio) + c.stepsOffset);
      return t;
    }
    case 'trailing':
      return Array.from(arangeValues(n, -(n / steps), steps), (v) => roundHalfEven(v) - 1);
  }
}

/** DDIM and LCM index alphas_cumprod with each timestep: one outside the table is refused (diffusers would fail too). */
export function checkInTable(timesteps: readonly number[], c: SchedulerFields, steps: number): void {
  for (const t of timesteps) {
    if (!Number.isInteger(t) || t < 0 || t >= c.numTrainTimesteps) {
      throw new SecaiError(
        ErrorCode.SCHEMA,
        `${steps} steps with timestep_spacing ${c.timestepSpacing} and steps_offset ${c.stepsOffset} give timestep ${t}, outside 0..${c.numTrainTimesteps - 1}`,
      );
    }
  }
}
