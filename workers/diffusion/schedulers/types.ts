// The scheduler contract the diffusion pipeline codes against: config fields, kinds, and one denoising schedule.
import type { Rng } from '../rng.js';

export type SchedulerKind = 'euler' | 'euler_a' | 'ddim' | 'lcm';
export const SCHEDULER_KINDS = ['euler', 'euler_a', 'ddim', 'lcm'] as const satisfies readonly SchedulerKind[];

export const BetaSchedule = ['linear', 'scaled_linear', 'squaredcos_cap_v2'] as const;
export const PredictionType = ['epsilon', 'v_prediction', 'sample'] as const;
export const TimestepSpacing = ['leading', 'trailing', 'linspace'] as const;

/** The fields of diffusers' scheduler_config.json that the implemented schedulers read, in camelCase. */
export interface SchedulerFields {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: (typeof BetaSchedule)[number];
  predictionType: (typeof PredictionType)[number];
  timestepSpacing: (typeof TimestepSpacing)[number];
  stepsOffset: number;
  setAlphaToOne: boolean;
  clipSample: boolean;
  clipSampleRange: number;
  /** LCM: the distillation schedule's length (default 50). */
  originalInferenceSteps: number;
  /** LCM: multiplies t in the boundary-condition scalings (default 10). */
  timestepScaling: number;
}
export type SchedulerField = keyof SchedulerFields;

export interface SchedulerConfig extends SchedulerFields {
  /** `_class_name` of the file ('' when absent). */
  className: string;
  /**
   * The fields the file set; the others hold the defaults of kindFromConfig's class. When a scheduler of another kind
   * is made from this config, unset fields take that kind's defaults instead, as diffusers' `from_config` does.
   * Absent (a config written by hand): every field counts as set.
   */
  specified?: readonly SchedulerField[];
}

export interface Scheduler {
  readonly kind: SchedulerKind;
  /** The model timesteps, one per step, in the order they run (the pipeline casts to int64 or float32). */
  readonly timesteps: readonly number[];
  /** Multiply the initial Gaussian noise by this (text-to-image only; img2img uses addNoise). */
  readonly initNoiseSigma: number;
  /** Input to the UNet at step i (Euler family: sample / sqrt(sigma_i² + 1); others: a copy). Does not mutate. */
  scaleModelInput(sample: Float32Array, i: number): Float32Array;
  /** One step: the UNet output at step i (after guidance) and the current sample → the next sample (a new array). */
  step(modelOutput: Float32Array, i: number, sample: Float32Array, rng: Rng): Float32Array;
  /** img2img: `original` noised to the level of step i (a new array). */
  addNoise(original: Float32Array, noise: Float32Array, i: number): Float32Array;
}
