// Diffusion schedulers against diffusers' published formulas, recomputed here with plain float64 loops, plus values
// numpy and diffusers print for Stable Diffusion's schedule; bad configs and arguments are refused with codes.
import t, { type Test } from 'tap';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import type { Rng } from '../../workers/diffusion/rng.js';
import { alphasCumprod } from '../../workers/diffusion/schedulers/betas.js';
import {
  createScheduler,
  img2imgStart,
  kindFromConfig,
  parseSchedulerConfig,
  type SchedulerConfig,
} from '../../workers/diffusion/schedulers/index.js';

const refused = (t: Test, f: () => unknown, code: string, what: string, message?: RegExp) => {
  try {
    f();
    t.fail(`${what}: accepted`);
  } catch (err) {
    t.equal((err as SecaiError).code, code, `${what}: ${code}`);
    if (message) t.match((err as Error).message, message, `${what}: says why`);
  }
};
const close = (t: Test, got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string) => {
  t.equal(got.length, want.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
  t.ok(worst <= tol, `${what}: within ${tol} (worst ${worst.toExponential(2)})`);
};

/** Stable Diffusion 1.5's scheduler_config.json as published (PNDM, no timestep_spacing key). */
const SD15 = {
  _class_name: 'PNDMScheduler', _diffusers_version: '0.6.0', beta_end: 0.012, beta_schedule: 'scaled_linear', beta_start: 0.00085,
  num_train_timesteps: 1000, set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1, trained_betas: null, clip_sample: false,
};
const SD_EULER = { ...SD15, _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'leading', interpolation_type: 'linear', use_karras_sigmas: false };

// ---- independent float64 references (the published formulas, written out) ----
function refAlphasCumprod(schedule: string, n: number, bs: number, be: number): number[] {
  const betas: number[] = [];
  for (let i = 0; i < n; i++) {
    if (schedule === 'linear') betas.push(bs + ((be - bs) * i) / (n - 1));
    else if (schedule === 'scaled_linear') betas.push((Math.sqrt(bs) + ((Math.sqrt(be) - Math.sqrt(bs)) * i) / (n - 1)) ** 2);
    else {
      const f = (x: number) => Math.cos(((x + 0.008) / 1.008) * Math.PI * 0.5) ** 2;
      betas.push(Math.min(1 - f((i + 1) / n) / f(i / n), 0.999));
    }
  }
  const out: number[] = [];
  let p = 1;
  for (const b of betas) out.push((p *= 1 - b));
  return out;
}
const sdAc = refAlphasCumprod('scaled_linear', 1000, 0.00085, 0.012);
const sigmaAt = (t: number) => {
  const s = (k: number) => Math.sqrt((1 - sdAc[k]!) / sdAc[k]!);
  const j = Math.min(Math.floor(t), 998);
  return s(j) + (s(j + 1) - s(j)) * (t - j);
};
/** A stand-in Rng whose gaussian() returns fixed values, so a stochastic step can be checked exactly. */
const fixedRng = (values: number[]): Rng & { calls: number } => {
  const r = { calls: 0, next: () => 0.25, gaussian: (n: number) => { r.calls++; return Float32Array.from({ length: n }, (_, i) => values[i % values.length]!); } };
  return r;
};
const X = Float32Array.of(0.5, -1.25, 2, 0.125);
const E = Float32Array.of(0.1, -0.3, 0.7, -0.05);
const N = [0.3, -0.6, 1.1, -0.2];

t.test('schedulers config — SD 1.5 parses with PNDM falling back to euler and Euler defaults for unset fields', async (t) => {
  const c = parseSchedulerConfig(SD15);
  t.equal(kindFromConfig(c), 'euler', 'PNDMScheduler → euler (documented fallback)');
  t.match(c, { numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear', stepsOffset: 1, setAlphaToOne: false, clipSample: false });
  t.equal(c.timestepSpacing, 'linspace', "unset timestep_spacing is Euler's default, as EulerDiscreteScheduler.from_config gives");
  t.ok(Object.isFrozen(c), 'frozen');
  const ddim = parseSchedulerConfig({ _class_name: 'DDIMScheduler' });
  t.match(ddim, { clipSample: true, setAlphaToOne: true, timestepSpacing: 'leading', betaSchedule: 'linear', betaStart: 0.0001, betaEnd: 0.02 }, "DDIM's own defaults");
  const lcm = parseSchedulerConfig({ _class_name: 'LCMScheduler' });
  t.match(lcm, { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012, originalInferenceSteps: 50, timestepScaling: 10, clipSample: false });
  for (const [name, kind] of [['EulerDiscreteScheduler', 'euler'], ['EulerAncestralDiscreteScheduler', 'euler_a'], ['DDIMScheduler', 'ddim'], ['LCMScheduler', 'lcm'],
    ['LMSDiscreteScheduler', 'euler'], ['DPMSolverMultistepScheduler', 'euler'], ['Nonsense', 'euler'], ['toString', 'euler'], ['__proto__', 'euler']] as const) {
    t.equal(kindFromConfig(parseSchedulerConfig({ _class_name: name })), kind, `${name} → ${kind}`);
  }
  t.equal(kindFromConfig(parseSchedulerConfig({})), 'euler', 'no _class_name → euler');
});

t.test('schedulers config — unknown enum values, bad numbers and unsupported options are refused', async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['not an object', [1, 2], /not a JSON object/],
    ['null', null, /not a JSON object/],
    ['beta_schedule', { beta_schedule: 'sigmoid' }, /beta_schedule must be one of/],
    ['prediction_type', { prediction_type: 'flow' }, /prediction_type/],
    ['timestep_spacing', { timestep_spacing: 'karras' }, /timestep_spacing/],
    ['num_train_timesteps 0', { num_train_timesteps: 0 }, /num_train_timesteps/],
    ['num_train_timesteps fractional', { num_train_timesteps: 999.5 }, /num_train_timesteps/],
    ['num_train_timesteps huge', { num_train_timesteps: 1e9 }, /num_train_timesteps/],
    ['beta_start 0', { beta_start: 0 }, /beta_start/],
    ['beta_end 1', { beta_end: 1 }, /beta_end/],
    ['beta_end below beta_start', { beta_start: 0.02, beta_end: 0.01 }, /beta_end/],
    ['beta_start as a string', { beta_start: '0.00085' }, /beta_start/],
    ['steps_offset negative', { steps_offset: -1 }, /steps_offset/],
    ['steps_offset past the table', { num_train_timesteps: 10, steps_offset: 10 }, /steps_offset/],
    ['clip_sample as 1', { clip_sample: 1 }, /clip_sample must be true or false/],
    ['clip_sample_range 0', { clip_sample_range: 0 }, /clip_sample_range/],
    ['timestep_scaling NaN-like', { timestep_scaling: null }, /timestep_scaling/],
    ['original_inference_steps 0', { original_inference_steps: 0 }, /original_inference_steps/],
    ['_class_name a number', { _class_name: 7 }, /_class_name/],
    ['karras sigmas', { use_karras_sigmas: true }, /use_karras_sigmas true is not supported/],
    ['trained betas', { trained_betas: [0.1, 0.2] }, /trained_betas/],
    ['zero SNR', { rescale_betas_zero_snr: true }, /rescale_betas_zero_snr/],
    ['thresholding', { thresholding: true }, /thresholding/],
    ['log-linear interpolation', { interpolation_type: 'log_linear' }, /interpolation_type/],
    ['continuous timesteps', { timestep_type: 'continuous' }, /timestep_type/],
    ['final sigma_min', { final_sigmas_type: 'sigma_min' }, /final_sigmas_type/],
  ];
  for (const [what, json, msg] of cases) refused(t, () => parseSchedulerConfig(json), ErrorCode.MODEL_INVALID, what, msg);
  const big = parseSchedulerConfig({ ...SD_EULER, sample_max_value: 1, skip_prk_steps: true, anything_else: { x: 1 } });
  t.equal(big.className, 'EulerDiscreteScheduler', 'keys it does not read are ignored (HF files carry many)');
});

t.test('schedulers betas — linear, scaled_linear and cosine alphas_cumprod match the formulas', async (t) => {
  const ac = alphasCumprod(parseSchedulerConfig(SD15));
  t.ok(Math.abs(ac[0]! - (1 - 0.00085)) < 1e-15, 'scaled_linear: alphas_cumprod[0] = 1 - beta_start');
  t.ok(Math.abs(ac[999]! - 0.0046600985) < 1e-9, 'scaled_linear: alphas_cumprod[999] ≈ 0.00466 (numpy float64)');
  close(t, ac, sdAc, 1e-12, 'scaled_linear');
  close(t, alphasCumprod(parseSchedulerConfig({ beta_schedule: 'linear', num_train_timesteps: 300 })), refAlphasCumprod('linear', 300, 0.0001, 0.02), 1e-12, 'linear');
  const cos = alphasCumprod(parseSchedulerConfig({ beta_schedule: 'squaredcos_cap_v2' }));
  close(t, cos, refAlphasCumprod('cos', 1000, 0, 0), 1e-12, 'squaredcos_cap_v2');
  t.ok(cos[999]! < 1e-6 && cos[999]! > 0, 'cosine: the last beta is capped at 0.999, so alphas_cumprod stays positive');
});

t.test('schedulers euler — timesteps and sigmas for each spacing, as diffusers prints them', async (t) => {
  const leading = createScheduler(parseSchedulerConfig(SD_EULER), 20);
  t.same(leading.timesteps, Array.from({ length: 20 }, (_, i) => 951 - 50 * i), "SD 'leading', steps_offset 1, 20 steps: 951, 901, …, 1");
  t.ok(Math.abs(leading.initNoiseSigma - Math.sqrt(sigmaAt(951) ** 2 + 1)) < 1e-9, "'leading': init sigma is sqrt(sigma_max² + 1)");
  t.ok(Math.abs(leading.initNoiseSigma - 11.0736) < 1e-4, "'leading': ≈ 11.0736");

  const linspace = createScheduler(parseSchedulerConfig(SD15), 50);
  t.equal(linspace.timesteps[0], 999, "'linspace' starts at N - 1");
  t.ok(Math.abs(linspace.initNoiseSigma - 14.6146) < 1e-4, "'linspace': init sigma = sigma_max ≈ 14.6146 (diffusers' famous value)");
  const seven = createScheduler(parseSchedulerConfig(SD15), 7);
  t.same(seven.timesteps, [999, 832.5, 666, 499.5, 333, 166.5, 0], "'linspace' keeps fractional timesteps for Euler");
  const three = createScheduler(parseSchedulerConfig(SD15), 3);
  t.same(three.timesteps, [999, Math.fround(499.5), 0]);
  // Sigma at a fractional timestep interpolates linearly: check it through scaleModelInput.
  const scaled = seven.scaleModelInput(Float32Array.of(1), 1);
  t.ok(Math.abs(scaled[0]! - 1 / Math.sqrt(sigmaAt(832.5) ** 2 + 1)) < 1e-7, 'sigma at 832.5 is np.interp between 832 and 833');

  const trailing = createScheduler(parseSchedulerConfig({ ...SD_EULER, timestep_spacing: 'trailing' }), 16);
  t.same(trailing.timesteps, [999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61], "'trailing' 16 steps: numpy's round half to even");
  t.ok(Math.abs(trailing.initNoiseSigma - sigmaAt(999)) < 1e-9, "'trailing': init sigma = sigma_max");
  const odd = createScheduler(parseSchedulerConfig({ ...SD_EULER, timestep_spacing: 'trailing' }), 61);
  t.equal(odd.timesteps.length, 61, "'trailing' 61 steps: exactly 61 (numpy's arange would add a 62nd, -1)");
  t.same(odd.timesteps.slice(-3), [48, 32, 15]);
  t.ok(Object.isFrozen(leading.timesteps) && Object.isFrozen(leading), 'the schedule is frozen');
});

t.test('schedulers euler — step, scaleModelInput and addNoise for each prediction type', async (t) => {
  for (const pred of ['epsilon', 'v_prediction', 'sample'] as const) {
    const s = createScheduler(parseSchedulerConfig({ ...SD_EULER, prediction_type: pred }), 20);
    const i = 3;
    const sigma = sigmaAt(s.timesteps[i]!);
    const sigmaNext = sigmaAt(s.timesteps[i + 1]!);
    const want = Array.from(X, (x, j) => {
      const e = E[j]!;
      const x0 = pred === 'epsilon' ? x - sigma * e : pred === 'v_prediction' ? e * (-sigma / Math.sqrt(sigma ** 2 + 1)) + x / (sigma ** 2 + 1) : e;
      return x + ((x - x0) / sigma) * (sigmaNext - sigma);
    });
    const before = Float32Array.from(X);
    close(t, s.step(E, i, X, fixedRng(N)), want, 1e-6, `euler ${pred} step`);
    t.same(X, before, 'step does not mutate its input');
  }
  const s = createScheduler(parseSchedulerConfig(SD_EULER), 20);
  const last = s.step(E, 19, X, fixedRng(N));
  close(t, last, Array.from(X, (x, j) => x - sigmaAt(1) * E[j]!), 1e-6, 'the last step lands on x0 (sigma_next = 0)');
  const scaled = s.scaleModelInput(X, 0);
  close(t, scaled, Array.from(X, (x) => x / Math.sqrt(sigmaAt(951) ** 2 + 1)), 1e-6, 'scaleModelInput divides by sqrt(sigma² + 1)');
  t.not(scaled, X, 'scaleModelInput returns a new array');
  close(t, s.addNoise(X, E, 5), Array.from(X, (x, j) => x + E[j]! * sigmaAt(s.timesteps[5]!)), 1e-6, 'addNoise: x + noise · sigma_i');
});

t.test('schedulers euler — an exact noise predictor brings any start back to x0', async (t) => {
  for (const kind of ['euler', 'euler_a'] as const) {
    const s = createScheduler(parseSchedulerConfig(SD_EULER), 25, kind);
    const x0 = Float32Array.of(0.3, -0.7, 0.05, 1.2);
    let x: Float32Array = Float32Array.from(N, (n) => n * s.initNoiseSigma);
    // The oracle knows x0: eps = (x - x0) / sigma, recovered from the scaled input as a UNet would see it.
    for (let i = 0; i < s.timesteps.length; i++) {
      const scaledInput = s.scaleModelInput(x, i);
      const sigma = sigmaAt(s.timesteps[i]!);
      const eps = Float32Array.from(scaledInput, (v, j) => (v * Math.sqrt(sigma ** 2 + 1) - x0[j]!) / sigma);
      x = s.step(eps, i, x, fixedRng(N));
    }
    close(t, x, x0, 1e-4, `${kind}: ends at x0`);
  }
});

t.test('schedulers euler_a — sigma_up / sigma_down split with the rng noise', async (t) => {
  const s = createScheduler(parseSchedulerConfig({ ...SD_EULER, timestep_spacing: 'trailing' }), 4, 'euler_a');
  t.equal(s.kind, 'euler_a');
  t.same(s.timesteps, [999, 749, 499, 249]);
  const i = 1;
  const from = sigmaAt(749);
  const to = sigmaAt(499);
  const up = Math.sqrt((to ** 2 * (from ** 2 - to ** 2)) / from ** 2);
  const down = Math.sqrt(to ** 2 - up ** 2);
  const rng = fixedRng(N);
  const got = s.step(E, i, X, rng);
  close(t, got, Array.from(X, (x, j) => x + E[j]! * (down - from) + N[j]! * up), 1e-6, 'x + d·(sigma_down − sigma) + noise·sigma_up');
  t.equal(rng.calls, 1, 'one gaussian draw per step');
  const lastRng = fixedRng(N);
  close(t, s.step(E, 3, X, lastRng), Array.from(X, (x, j) => x - sigmaAt(249) * E[j]!), 1e-6, 'the last step has sigma_up 0: the plain Euler step to x0');
  t.equal(lastRng.calls, 0, 'and draws no noise');
});

t.test('schedulers ddim — timesteps, eta-0 step with alpha of t − N/steps, clipping and set_alpha_to_one', async (t) => {
  const sd21 = { _class_name: 'DDIMScheduler', beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', clip_sample: false, set_alpha_to_one: false, steps_offset: 1, prediction_type: 'v_prediction' };
  const s = createScheduler(parseSchedulerConfig(sd21), 50);
  t.same(s.timesteps.slice(0, 3), [981, 961, 941], "'leading' with steps_offset 1: 981, 961, …");
  t.equal(s.timesteps.at(-1), 1);
  t.equal(s.initNoiseSigma, 1);
  const ddimStep = (pred: string, t0: number, tPrev: number, clip: number | undefined, setOne: boolean) =>
    Array.from(X, (x, j) => {
      const e = E[j]!;
      const a = sdAc[t0]!;
      const ap = tPrev >= 0 ? sdAc[tPrev]! : setOne ? 1 : sdAc[0]!;
      let x0 = pred === 'epsilon' ? (x - Math.sqrt(1 - a) * e) / Math.sqrt(a) : Math.sqrt(a) * x - Math.sqrt(1 - a) * e;
      const eps = pred === 'epsilon' ? e : Math.sqrt(a) * e + Math.sqrt(1 - a) * x;
      if (clip !== undefined) x0 = Math.max(-clip, Math.min(clip, x0));
      return Math.sqrt(ap) * x0 + Math.sqrt(1 - ap) * eps;
    });
  close(t, s.step(E, 10, X, fixedRng(N)), ddimStep('v', 781, 761, undefined, false), 1e-6, 'v_prediction step');
  close(t, s.step(E, 49, X, fixedRng(N)), ddimStep('v', 1, -19, undefined, false), 1e-6, 'last step: set_alpha_to_one false uses alphas_cumprod[0]');
  const eps = createScheduler(parseSchedulerConfig({ ...sd21, prediction_type: 'epsilon', set_alpha_to_one: true, clip_sample: true, clip_sample_range: 0.5 }), 50);
  close(t, eps.step(E, 49, X, fixedRng(N)), ddimStep('epsilon', 1, -19, 0.5, true), 1e-6, 'epsilon, x0 clipped to ±0.5, final alpha 1');
  close(t, eps.step(E, 0, X, fixedRng(N)), ddimStep('epsilon', 981, 961, 0.5, true), 1e-6, 'first step');
  close(t, s.addNoise(X, E, 10), Array.from(X, (x, j) => Math.sqrt(sdAc[781]!) * x + Math.sqrt(1 - sdAc[781]!) * E[j]!), 1e-6, 'addNoise at timesteps[i]');
  const copy = s.scaleModelInput(X, 0);
  t.same(copy, X, 'scaleModelInput is the identity');
  t.not(copy, X, '… on a copy');

  const lin = parseSchedulerConfig({ ...sd21, timestep_spacing: 'linspace' });
  t.same(createScheduler(lin, 5).timesteps, [999, 749, 500, 250, 0], "'linspace' rounds half to even (499.5 → 500)");
  t.same(createScheduler(lin, 1).timesteps, [0], "'linspace' with one step is numpy's [0]");
  t.same(createScheduler(parseSchedulerConfig({ ...sd21, timestep_spacing: 'trailing' }), 16).timesteps.slice(0, 4), [999, 937, 874, 811]);
});

t.test('schedulers ddim — from_config semantics: unset fields take the target kind’s defaults', async (t) => {
  const fromSd15 = createScheduler(parseSchedulerConfig(SD15), 50, 'ddim');
  t.same(fromSd15.timesteps.slice(0, 2), [981, 961], "DDIM's default 'leading' applies where SD 1.5's file is silent");
  // clip_sample absent: DDIM's default (true) applies, as DDIMScheduler.from_config gives.
  const noClip = { ...SD15 } as Record<string, unknown>;
  delete noClip['clip_sample'];
  const big = Float32Array.of(0, 0);
  const clipped = createScheduler(parseSchedulerConfig(noClip), 50, 'ddim').step(Float32Array.of(-30, 30), 0, big, fixedRng(N));
  const unclipped = fromSd15.step(Float32Array.of(-30, 30), 0, big, fixedRng(N));
  t.not(clipped[0], unclipped[0], 'clip_sample differs: default true vs explicit false');
  const hand: SchedulerConfig = { ...parseSchedulerConfig(SD15) };
  delete hand.specified;
  t.equal(createScheduler(hand, 50, 'ddim').timesteps[0], 999, "a hand-written config (no specified) counts every field as set: its 'linspace' stays");
});

t.test('schedulers lcm — timesteps from the distillation schedule, boundary scalings and noise', async (t) => {
  const lcm = parseSchedulerConfig({ _class_name: 'LCMScheduler', beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', set_alpha_to_one: true, steps_offset: 1, timestep_spacing: 'leading' });
  const expect: Record<number, number[]> = {
    1: [999], 2: [999, 499], 3: [999, 679, 339], 4: [999, 759, 499, 259], 6: [999, 839, 679, 499, 339, 179], 8: [999, 879, 759, 639, 499, 379, 259, 139],
  };
  for (const [n, ts] of Object.entries(expect)) t.same(createScheduler(lcm, Number(n)).timesteps, ts, `${n} steps: ${ts.join(', ')}`);
  t.equal(createScheduler(lcm, 50).timesteps.length, 50);
  refused(t, () => createScheduler(lcm, 51), ErrorCode.SCHEMA, 'more steps than original_inference_steps', /original_inference_steps/);

  const s = createScheduler(lcm, 4);
  const cs = (tt: number) => {
    const z = tt * 10;
    return { skip: 0.25 / (z * z + 0.25), out: z / Math.sqrt(z * z + 0.25) };
  };
  const lcmStep = (t0: number, tNext: number | undefined) =>
    Array.from(X, (x, j) => {
      const a = sdAc[t0]!;
      const x0 = (x - Math.sqrt(1 - a) * E[j]!) / Math.sqrt(a);
      const { skip, out } = cs(t0);
      const denoised = out * x0 + skip * x;
      if (tNext === undefined) return denoised;
      const ap = sdAc[tNext]!;
      return Math.sqrt(ap) * denoised + Math.sqrt(1 - ap) * N[j]!;
    });
  const rng = fixedRng(N);
  close(t, s.step(E, 1, X, rng), lcmStep(759, 499), 1e-6, 'a middle step: alpha of the next timestep, fresh noise');
  t.equal(rng.calls, 1);
  const lastRng = fixedRng(N);
  close(t, s.step(E, 3, X, lastRng), lcmStep(259, undefined), 1e-6, 'the last step returns the denoised sample');
  t.equal(lastRng.calls, 0, 'without drawing noise');
  t.equal(s.initNoiseSigma, 1);
  close(t, s.addNoise(X, E, 2), Array.from(X, (x, j) => Math.sqrt(sdAc[499]!) * x + Math.sqrt(1 - sdAc[499]!) * E[j]!), 1e-6, 'addNoise at timesteps[i]');
  const scaled = createScheduler(parseSchedulerConfig({ _class_name: 'LCMScheduler', timestep_scaling: 2 }), 2);
  t.equal(scaled.kind, 'lcm');
});

t.test('schedulers — steps, indices, lengths and kinds out of range are refused', async (t) => {
  const c = parseSchedulerConfig(SD_EULER);
  for (const steps of [0, -1, 1.5, 1001, NaN]) refused(t, () => createScheduler(c, steps), ErrorCode.SCHEMA, `steps ${steps}`, /steps must be an integer/);
  refused(t, () => createScheduler(parseSchedulerConfig({ num_train_timesteps: 10 }), 11), ErrorCode.SCHEMA, 'more steps than training timesteps');
  refused(t, () => createScheduler(c, 4, 'dpm' as never), ErrorCode.SCHEMA, 'unknown kind', /scheduler must be one of/);
  refused(t, () => createScheduler(parseSchedulerConfig(SD15), 1000, 'ddim'), ErrorCode.SCHEMA, 'DDIM 1000 leading steps with offset 1 reach timestep 1000', /timestep 1000/);
  const euler1000 = createScheduler(parseSchedulerConfig({ ...SD15, timestep_spacing: 'leading' }), 1000);
  t.equal(euler1000.timesteps[0], 1000, "Euler accepts it: np.interp clamps sigma at the table's end, as diffusers");
  refused(t, () => createScheduler(parseSchedulerConfig({ _class_name: 'LCMScheduler', num_train_timesteps: 20 }), 2), ErrorCode.MODEL_INVALID, 'original_inference_steps > num_train_timesteps');
  for (const kind of ['euler', 'euler_a', 'ddim', 'lcm'] as const) {
    const s = createScheduler(c, 4, kind);
    for (const i of [-1, 4, 0.5]) refused(t, () => s.step(E, i, X, fixedRng(N)), ErrorCode.INTERNAL, `${kind} step index ${i}`, /step index/);
    refused(t, () => s.scaleModelInput(X, 4), ErrorCode.INTERNAL, `${kind} scaleModelInput index 4`);
    refused(t, () => s.addNoise(X, E, 4), ErrorCode.INTERNAL, `${kind} addNoise index 4`);
    refused(t, () => s.step(E.subarray(1), 0, X, fixedRng(N)), ErrorCode.INTERNAL, `${kind} step length mismatch`, /differ in length/);
    refused(t, () => s.addNoise(X, E.subarray(1), 0), ErrorCode.INTERNAL, `${kind} addNoise length mismatch`);
  }
});

t.test('schedulers img2img — first step index as diffusers get_timesteps', async (t) => {
  const cases: [number, number, number][] = [[20, 0.7, 6], [20, 1, 0], [20, 0, 20], [10, 0.3, 7], [100, 0.29, 72], [50, 0.75, 13], [1, 0.99, 1], [4, 0.5, 2]];
  for (const [steps, strength, start] of cases) t.equal(img2imgStart(steps, strength), start, `${steps} steps, strength ${strength} → start ${start}`);
  for (const strength of [-0.1, 1.01, NaN, Infinity]) refused(t, () => img2imgStart(20, strength), ErrorCode.SCHEMA, `strength ${strength}`, /strength/);
  for (const steps of [0, 1001, 2.5]) refused(t, () => img2imgStart(steps, 0.5), ErrorCode.SCHEMA, `steps ${steps}`);
});
