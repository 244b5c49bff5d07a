// The diffusion schedulers' public face: parse a scheduler_config.json, make a schedule, pick img2img's first step.
import { ErrorCode, SecaiError } from '../../../common/errors.js';
import { kindFromConfig, resolveConfig } from './config.js';
import { createDdim } from './ddim.js';
import { createEulerAncestral } from './euler-ancestral.js';
import { createEuler } from './euler.js';
import { createLcm } from './lcm.js';
import { checkSteps, MAX_STEPS } from './timesteps.js';
import { SCHEDULER_KINDS, type Scheduler, type SchedulerConfig, type SchedulerKind } from './types.js';

export { kindFromConfig, parseSchedulerConfig } from './config.js';
export { MAX_STEPS } from './timesteps.js';
export { SCHEDULER_KINDS } from './types.js';
export type { Scheduler, SchedulerConfig, SchedulerField, SchedulerFields, SchedulerKind } from './types.js';

/**
 * A schedule of `steps` (1..1000, and at most num_train_timesteps) for `kind`, by default the config's own.
 * Fields the file left unset take `kind`'s defaults, as diffusers' `<Kind>Scheduler.from_config` does.
 */
export function createScheduler(config: SchedulerConfig, steps: number, kind: SchedulerKind = kindFromConfig(config)): Scheduler {
  if (!(SCHEDULER_KINDS as readonly string[]).includes(kind)) {
    throw new SecaiError(ErrorCode.SCHEMA, `scheduler must be one of ${SCHEDULER_KINDS.join(', ')}, got ${String(kind).slice(0, 40)}`);
  }
  const c = resolveConfig(config, kind);
  checkSteps(steps, c.numTrainTimesteps);
  switch (kind) {
    case 'euler':
      return createEuler(c, steps);
    case 'euler_a':
      return createEulerAncestral(c, steps);
    case 'ddim':
      return createDdim(c, steps);
    case 'lcm':
      return createLcm(c, steps);
  }
}

/**
 * img2img as diffusers' get_timesteps: init = min(floor(steps·strength), steps), and the index of the first step
 * to run is steps − init (== steps for strength 0: nothing runs, the image comes back as encoded).
 */
export function img2imgStart(steps: number, strength: number): number {
  if (!Number.isInteger(steps) || steps < 1 || steps > MAX_STEPS) {
    throw new SecaiError(ErrorCode.SCHEMA, `steps must be an integer from 1 to ${MAX_STEPS}, got ${String(steps)}`);
  }
  if (typeof strength !== 'number' || !(strength >= 0 && strength <= 1)) {
    throw new SecaiError(ErrorCode.SCHEMA, `strength must be a number from 0 to 1, got ${String(strength)}`);
  }
  const init = Math.min(Math.floor(steps * strength), steps);
  return Math.max(steps - init, 0);
}
