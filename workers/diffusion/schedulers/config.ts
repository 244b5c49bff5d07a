// scheduler_config.json → a checked, frozen SchedulerConfig, with diffusers' per-class defaults for unset fields.
import { ErrorCode, SecaiError } from '../../../common/errors.js';
import {
  BetaSchedule,
  PredictionType,
  TimestepSpacing,
  type SchedulerConfig,
  type SchedulerField,
  type SchedulerFields,
  type SchedulerKind,
} from './types.js';

/** Each class's `__init__` defaults in diffusers (fields a class lacks hold a neutral value it never reads). */
export const DEFAULTS: Readonly<Record<SchedulerKind, Readonly<SchedulerFields>>> = Object.freeze({
  euler: Object.freeze({
    numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear', predictionType: 'epsilon',
    timestepSpacing: 'linspace', stepsOffset: 0, setAlphaToOne: true, clipSample: false, clipSampleRange: 1,
    originalInferenceSteps: 50, timestepScaling: 10,
  }),
  euler_a: Object.freeze({
    numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear', predictionType: 'epsilon',
    timestepSpacing: 'linspace', stepsOffset: 0, setAlphaToOne: true, clipSample: false, clipSampleRange: 1,
    originalInferenceSteps: 50, timestepScaling: 10,
  }),
  ddim: Object.freeze({
    numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear', predictionType: 'epsilon',
    timestepSpacing: 'leading', stepsOffset: 0, setAlphaToOne: true, clipSample: true, clipSampleRange: 1,
    originalInferenceSteps: 50, timestepScaling: 10,
  }),
  lcm: Object.freeze({
    numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear', predictionType: 'epsilon',
    timestepSpacing: 'leading', stepsOffset: 0, setAlphaToOne: true, clipSample: false, clipSampleRange: 1,
    originalInferenceSteps: 50, timestepScaling: 10,
  }),
});

/** The most training timesteps a config may declare (SD uses 1000); keeps the schedule arrays small. */
export const MAX_TRAIN_TIMESTEPS = 100_000;

const CLASS_KINDS: Readonly<Record<string, SchedulerKind>> = {
  EulerDiscreteScheduler: 'euler',
  EulerAncestralDiscreteScheduler: 'euler_a',
  DDIMScheduler: 'ddim',
  LCMScheduler: 'lcm',
};

/**
 * The kind a config's `_class_name` implies. Schedulers not implemented here (PNDMScheduler, LMSDiscreteScheduler,
 * DPMSolverMultistepScheduler, …) and unknown names fall back to 'euler': it samples every epsilon or v model these
 * ship with, and its unset fields then take Euler's defaults, as `EulerDiscreteScheduler.from_config` gives.
 */
export function kindFromConfig(c: SchedulerConfig): SchedulerKind {
  return Object.hasOwn(CLASS_KINDS, c.className) ? CLASS_KINDS[c.className]! : 'euler';
}

const JSON_KEYS: Readonly<Record<SchedulerField, string>> = {
  numTrainTimesteps: 'num_train_timesteps',
  betaStart: 'beta_start',
  betaEnd: 'beta_end',
  betaSchedule: 'beta_schedule',
  predictionType: 'prediction_type',
  timestepSpacing: 'timestep_spacing',
  stepsOffset: 'steps_offset',
  setAlphaToOne: 'set_alpha_to_one',
  clipSample: 'clip_sample',
  clipSampleRange: 'clip_sample_range',
  originalInferenceSteps: 'original_inference_steps',
  timestepScaling: 'timestep_scaling',
};
/** The fields in the order they are read (the first bad one is the one reported). */
const FIELDS: readonly SchedulerField[] = Object.freeze(Object.keys(JSON_KEYS) as SchedulerField[]);

/**
 * Options that change the math and are not implemented: accepted only at the value that means "off", so a model
 * that needs them is refused instead of sampled wrongly.
 */
const OFF_ONLY: readonly [string, (v: unknown) => boolean][] = [
  ['trained_betas', (v) => v === null],
  ['rescale_betas_zero_snr', (v) => v === false],
  ['thresholding', (v) => v === false],
  ['use_karras_sigmas', (v) => v === false || v === null],
  ['use_exponential_sigmas', (v) => v === false || v === null],
  ['use_beta_sigmas', (v) => v === false || v === null],
  ['interpolation_type', (v) => v === 'linear'],
  ['timestep_type', (v) => v === 'discrete'],
  ['final_sigmas_type', (v) => v === 'zero'],
];

/** A value for an error message: JSON, cut short (a hostile file must not fill the log). */
const show = (v: unknown) => String(JSON.stringify(v)).slice(0, 80);

const bad = (msg: string) => new SecaiError(ErrorCode.MODEL_INVALID, `scheduler_config.json: ${msg}`);

/** The value at `key`, or undefined when the file leaves it unset; refused unless `ok`, in words that say `what` it must be. */
function read<T>(json: Record<string, unknown>, key: string, ok: (v: unknown) => v is T, what: string): T | undefined {
  const v = json[key];
  if (v === undefined) return undefined;
  if (!ok(v)) throw bad(`${key} must be ${what}, got ${show(v)}`);
  return v;
}

const number = (json: Record<string, unknown>, key: string, ok: (v: number) => boolean, range: string): number | undefined =>
  read(json, key, (v): v is number => typeof v === 'number' && Number.isFinite(v) && ok(v), range);

const flag = (json: Record<string, unknown>, key: string): boolean | undefined =>
  read(json, key, (v): v is boolean => typeof v === 'boolean', 'true or false');

const choice = <T extends string>(json: Record<string, unknown>, key: string, allowed: readonly T[]): T | undefined =>
  read(json, key, (v): v is T => typeof v === 'string' && (allowed as readonly string[]).includes(v), `one of ${allowed.join(', ')}`);

const int = (lo: number, hi: number) => (v: number) => Number.isInteger(v) && v >= lo && v <= hi;
const open01 = (v: number) => v > 0 && v < 1;

/** How the file's value of each field is checked, and the words for a bad one. */
const READERS: { readonly [F in SchedulerField]: (json: Record<string, unknown>, key: string) => SchedulerFields[F] | undefined } = {
  numTrainTimesteps: (o, k) => number(o, k, int(1, MAX_TRAIN_TIMESTEPS), `an integer from 1 to ${MAX_TRAIN_TIMESTEPS}`),
  betaStart: (o, k) => number(o, k, open01, 'a number between 0 and 1 (exclusive)'),
  betaEnd: (o, k) => number(o, k, open01, 'a number between 0 and 1 (exclusive)'),
  betaSchedule: (o, k) => choice(o, k, BetaSchedule),
  predictionType: (o, k) => choice(o, k, PredictionType),
  timestepSpacing: (o, k) => choice(o, k, TimestepSpacing),
  stepsOffset: (o, k) => number(o, k, int(0, MAX_TRAIN_TIMESTEPS - 1), 'a non-negative integer'),
  setAlphaToOne: flag,
  clipSample: flag,
  clipSampleRange: (o, k) => number(o, k, (v) => v > 0, 'a positive number'),
  originalInferenceSteps: (o, k) => number(o, k, int(1, MAX_TRAIN_TIMESTEPS), 'a positive integer'),
  timestepScaling: (o, k) => number(o, k, (v) => v > 0, 'a positive number'),
};

/** Parses scheduler_config.json (already JSON-parsed) with diffusers' defaults; unknown keys are ignored (HF files carry many). */
export function parseSchedulerConfig(json: unknown): SchedulerConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('not a JSON object');
  const o = json as Record<string, unknown>;
  for (const [key, off] of OFF_ONLY) {
    if (o[key] !== undefined && !off(o[key])) throw bad(`${key} ${show(o[key])} is not supported`);
  }
  const className = o['_class_name'] ?? '';
  if (typeof className !== 'string' || className.length > 128) throw bad('_class_name must be a string of at most 128 characters');

  const given: Partial<SchedulerFields> = {};
  const take = <F extends SchedulerField>(f: F) => {
    const v = READERS[f](o, JSON_KEYS[f]);
    if (v !== undefined) given[f] = v;
  };
  for (const f of FIELDS) take(f);

  const specified = Object.freeze(Object.keys(given) as SchedulerField[]);
  const base = DEFAULTS[kindFromConfig({ ...DEFAULTS.euler, className })];
  const config: SchedulerConfig = { ...base, ...given, className, specified };
  checkFields(config);
  return Object.freeze(config);
}

/** The config a scheduler of `kind` runs with: set fields as given, unset ones at that kind's defaults. */
export function resolveConfig(config: SchedulerConfig, kind: SchedulerKind): SchedulerFields {
  const out: SchedulerFields = { ...DEFAULTS[kind] };
  const fields = config.specified ?? FIELDS;
  for (const f of fields) (out as unknown as Record<string, unknown>)[f] = config[f];
  checkFields(out);
  return out;
}

/** Checks across fields (and of a config written by hand, which parseSchedulerConfig did not see). */
export function checkFields(c: SchedulerFields): void {
  const range = (f: SchedulerField, ok: boolean, what: string) => {
    if (!ok) throw bad(`${JSON_KEYS[f]} must be ${what}, got ${show(c[f])}`);
  };
  range('numTrainTimesteps', int(1, MAX_TRAIN_TIMESTEPS)(c.numTrainTimesteps), `an integer from 1 to ${MAX_TRAIN_TIMESTEPS}`);
  range('betaStart', Number.isFinite(c.betaStart) && open01(c.betaStart), 'a number between 0 and 1 (exclusive)');
  range('betaEnd', Number.isFinite(c.betaEnd) && open01(c.betaEnd) && c.betaEnd >= c.betaStart, 'between beta_start and 1');
  range('betaSchedule', BetaSchedule.includes(c.betaSchedule), BetaSchedule.join(', '));
  range('predictionType', PredictionType.includes(c.predictionType), PredictionType.join(', '));
  range('timestepSpacing', TimestepSpacing.includes(c.timestepSpacing), TimestepSpacing.join(', '));
  range('stepsOffset', int(0, c.numTrainTimesteps - 1)(c.stepsOffset), 'an integer below num_train_timesteps');
  range('setAlphaToOne', typeof c.setAlphaToOne === 'boolean', 'true or false');
  range('clipSample', typeof c.clipSample === 'boolean', 'true or false');
  range('clipSampleRange', Number.isFinite(c.clipSampleRange) && c.clipSampleRange > 0, 'a positive number');
  range('originalInferenceSteps', int(1, MAX_TRAIN_TIMESTEPS)(c.originalInferenceSteps), 'a positive integer');
  range('timestepScaling', Number.isFinite(c.timestepScaling) && c.timestepScaling > 0, 'a positive number');
}
