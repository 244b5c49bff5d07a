// The diffusion pipeline in process, on real onnxruntime-node and the tiny Optimum-layout model: determinism, every
// scheduler, progress, cancellation, img2img, the batch-1 path, and refusals before any session runs.
import t from 'tap';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync, copyFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceSession, type Tensor } from 'onnxruntime-node';
import { VAE_ROUND_TRIP_MAE, writeTinySdOnnx, type TinySdOptions } from '../fixtures/tiny-sd-onnx.js';
import { pipelineFiles, verifyModelFiles } from '../../workers/diffusion/model-folder.js';
import { loadPipeline, type GenerateRequest, type Pipeline } from '../../workers/diffusion/pipeline.js';
import { decodePng, encodePng } from '../../workers/diffusion/png.js';
import { resizeRgb } from '../../workers/diffusion/resize.js';

const root = mkdtempSync(join(tmpdir(), 'secai-diffusion-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
let folders = 0;
function folder(o: TinySdOptions = {}): { dir: string; files: { rel: string; sha256: string }[] } {
  const dir = join(root, `m${folders++}`);
  const { files } = writeTinySdOnnx(dir, o);
  return { dir, files: files.map((rel) => ({ rel, sha256: createHash('sha256').update(readFileSync(join(dir, rel))).digest('hex') })) };
}
const limits = { maxWidth: 4096, maxHeight: 4096, maxBytes: 64 << 20 };
const base: GenerateRequest = { prompt: 'a photo of a red cat', width: 64, height: 64, steps: 6, guidance: 7.5, seed: 42 };

/** Every session run of the test, by the names it was fed (a spy on the prototype, restored at the end). */
const runs: Record<string, Tensor>[] = [];
const proto = (InferenceSession as unknown as { prototype: unknown }).prototype as { run: (this: InferenceSession, feeds: Record<string, Tensor>, ...rest: unknown[]) => Promise<unknown> };
const realRun = proto.run;
proto.run = function (feeds, ...rest) {
  runs.push(feeds);
  return realRun.call(this, feeds, ...rest);
};
t.teardown(() => { proto.run = realRun; });

const main = folder();
let shared: Pipeline;
t.before(async () => { shared = await loadPipeline(main.dir, { threads: 1, provider: 'cpu' }); });
t.teardown(() => shared.release());

/** Mean absolute difference of two RGB images in [-1, 1] units (the fixture's VAE bound is in these). */
const mae = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length / 127.5;

t.test('diffusion pipeline — load reads the folder and the sessions\' metadata', async (t) => {
  const info = shared.info;
  t.match(info, {
    className: 'ORTStableDiffusionPipeline', provider: 'cpu', threads: 1, scheduler: 'euler', schedulerClass: 'EulerDiscreteScheduler',
    timestepType: 'int64', inputIdsType: 'int32', encoderOutput: 'latent_parameters', hidden: 32, latentChannels: 4, vaeScaleFactor: 8,
    scalingFactor: 0.18215, maxLength: 77, sampleSize: 8,
  });
  t.same(info.io.unet, { inputs: ['sample', 'timestep', 'encoder_hidden_states'], outputs: ['out_sample'] });
  t.same(info.io.vaeEncoder, { inputs: ['sample'], outputs: ['latent_parameters'] });
  const other = await loadPipeline(folder({ timestepType: 'float32', encoderOutput: 'latent_sample' }).dir, { threads: 1, provider: 'cpu' });
  t.teardown(() => other.release());
  t.equal(other.info.timestepType, 'float32', 'a float32 timestep is detected from the input metadata');
  t.equal(other.info.encoderOutput, 'latent_sample', 'the encoder output name is detected from the output metadata');
  const r = await other.generate({ ...base, initImage: encodePng(gradient(64, 64), 64, 64), strength: 0.5 });
  t.equal(decodePng(r.png, limits).width, 64, 'both variants generate');
});

t.test('diffusion pipeline — a seed reproduces the image byte for byte; another seed gives another image', async (t) => {
  const a = await shared.generate(base);
  const b = await shared.generate(base);
  const c = await shared.generate({ ...base, seed: 43 });
  t.equal(a.seed, 42);
  t.ok(a.png.equals(b.png), 'same seed, same bytes');
  t.notOk(a.png.equals(c.png), 'another seed, another image');
  const { seed: _seed, ...unseeded } = base;
  const chosen = await shared.generate(unseeded);
  t.ok(Number.isInteger(chosen.seed) && chosen.seed >= 0 && chosen.seed <= 2 ** 32 - 1, `a seed is chosen and reported (${chosen.seed})`);
  const again = await shared.generate({ ...base, seed: chosen.seed });
  t.ok(again.png.equals(chosen.png), 'the reported seed reproduces it');
});

t.test('diffusion pipeline — every scheduler gives a valid PNG of the requested size, progress once per step in order', async (t) => {
  for (const scheduler of ['euler', 'euler_a', 'ddim', 'lcm'] as const) {
    const seen: [number, number][] = [];
    const ms: number[] = [];
    const r = await shared.generate({ ...base, width: 96, height: 64, steps: 4, scheduler, guidance: scheduler === 'lcm' ? 1 : 7.5 }, {
      onStep: (step, steps, m) => { seen.push([step, steps]); ms.push(m); },
    });
    const img = decodePng(r.png, limits);
    t.same([img.width, img.height, r.width, r.height, r.steps], [96, 64, 96, 64, 4], `${scheduler}: 96x64, 4 steps`);
    t.same(seen, [[1, 4], [2, 4], [3, 4], [4, 4]], `${scheduler}: progress 1..4 of 4`);
    t.ok(ms.every((m) => m >= 0), `${scheduler}: ms per step ${ms.map((m) => m.toFixed(2)).join(' ')}`);
  }
  const ms: number[] = [];
  await shared.generate({ ...base, steps: 20 }, { onStep: (_s, _n, m) => ms.push(m) });
  const sorted = ms.slice(2).sort((a, b) => a - b);
  t.comment(`in process, 64x64, guided (batch 2): median ${sorted[sorted.length >> 1]!.toFixed(2)} ms per UNet step`);
});

t.test('diffusion pipeline — an abort between steps cancels; the pipeline goes on working', async (t) => {
  const ac = new AbortController();
  const seen: number[] = [];
  await t.rejects(shared.generate({ ...base, steps: 8 }, { signal: ac.signal, onStep: (s) => { seen.push(s); if (s === 2) ac.abort(); } }), { code: 'SECAI_E_CANCELLED' });
  t.same(seen, [1, 2], 'no step after the abort');
  const r = await shared.generate(base);
  t.ok(r.png.equals((await shared.generate(base)).png), 'it still generates, and deterministically');
  const pre = new AbortController();
  pre.abort();
  const before = runs.length;
  await t.rejects(shared.generate(base, { signal: pre.signal }), { code: 'SECAI_E_CANCELLED' });
  t.equal(runs.length, before, 'aborted before it began: no session ran');
});

/** A smooth RGB gradient, the kind of image the fixture's VAE round-trips within its documented bound. */
function gradient(w: number, h: number): Uint8Array {
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      const v = (u: number) => Math.round(((u * 0.9 + 1) / 2) * 255);
      rgb[o] = v((2 * x) / (w - 1) - 1);
      rgb[o + 1] = v((2 * y) / (h - 1) - 1);
      rgb[o + 2] = v(1 - (x + y) / (w + h - 2) * 2);
    }
  }
  return rgb;
}

t.test('diffusion pipeline — img2img: strength 0 gives the VAE round trip of the input, strength 1 a new image', async (t) => {
  const input = gradient(64, 64);
  const png = encodePng(input, 64, 64);
  const zero = await shared.generate({ ...base, initImage: png, strength: 0 });
  t.equal(zero.steps, 0, 'strength 0 runs no step');
  const back = decodePng(zero.png, limits).rgb;
  const err0 = mae(back, input);
  t.ok(err0 <= VAE_ROUND_TRIP_MAE, `strength 0: mean abs error ${err0.toFixed(4)} <= ${VAE_ROUND_TRIP_MAE}`);
  const again = await shared.generate({ ...base, seed: 7, initImage: png, strength: 0 });
  t.ok(again.png.equals(zero.png), 'the encoder mean, not a sample: strength 0 does not depend on the seed');

  const seen: number[] = [];
  const half = await shared.generate({ ...base, steps: 8, initImage: png, strength: 0.5 }, { onStep: (s, n) => seen.push(n) });
  t.equal(half.steps, 4, 'strength 0.5 of 8 steps runs 4');
  t.same(seen, [4, 4, 4, 4], 'progress counts the steps this request runs');
  const one = await shared.generate({ ...base, initImage: png, strength: 1 });
  t.equal(one.steps, 6);
  const err1 = mae(decodePng(one.png, limits).rgb, input);
  t.ok(err1 > 4 * err0 && err1 > VAE_ROUND_TRIP_MAE, `strength 1 is not the input (error ${err1.toFixed(3)})`);

  // An image of another size is resized in the worker (box filter down, nearest up), aspect not kept.
  const big = encodePng(gradient(128, 96), 128, 96);
  const resized = await shared.generate({ ...base, initImage: big, strength: 0 });
  const errR = mae(decodePng(resized.png, limits).rgb, resizeRgb(gradient(128, 96), 128, 96, 64, 64));
  t.ok(errR <= VAE_ROUND_TRIP_MAE * 2, `a 128x96 input comes back as 64x64 (error ${errR.toFixed(4)} against the resized input)`);
  t.same(decodePng(resized.png, limits).width, 64);
});

t.test('diffusion pipeline — guidance at or below 1 runs the UNet on the prompt alone (batch 1)', async (t) => {
  const unetBatches = (from: number) => runs.slice(from).filter((f) => 'timestep' in f).map((f) => f.sample!.dims[0]);
  let from = runs.length;
  const g1 = await shared.generate({ ...base, guidance: 1, negativePrompt: 'blue' });
  t.same(unetBatches(from), Array(6).fill(1), 'guidance 1: six UNet runs of batch 1');
  t.equal(runs[from]!.input_ids!.dims[0], 1, 'guidance 1: one prompt encoded');
  const g0 = await shared.generate({ ...base, guidance: 0, negativePrompt: 'green' });
  t.ok(g0.png.equals(g1.png), 'guidance 0 and 1 ignore the negative prompt alike, as diffusers does');
  from = runs.length;
  const a = await shared.generate({ ...base, guidance: 4, negativePrompt: 'blue' });
  t.same(unetBatches(from), Array(6).fill(2), 'guidance 4: batch 2 (unconditional, conditional)');
  t.same(runs[from]!.input_ids!.dims, [2, 77], 'both prompts encoded in one batch');
  const b = await shared.generate({ ...base, guidance: 4, negativePrompt: 'green' });
  t.notOk(a.png.equals(b.png), 'with guidance, the negative prompt matters');
});

t.test('diffusion pipeline — bad requests are refused with a clear error before any session runs', async (t) => {
  const cases: [string, GenerateRequest, { code: string | RegExp; message: RegExp }][] = [
    ['width not a multiple of 8', { ...base, width: 65 }, { code: 'SECAI_E_SCHEMA', message: /width must be a multiple of 8/ }],
    ['height above 2048', { ...base, height: 2056 }, { code: 'SECAI_E_SCHEMA', message: /height/ }],
    ['steps 0', { ...base, steps: 0 }, { code: 'SECAI_E_SCHEMA', message: /steps must be an integer from 1 to 150/ }],
    ['steps 151', { ...base, steps: 151 }, { code: 'SECAI_E_SCHEMA', message: /steps/ }],
    ['guidance 31', { ...base, guidance: 31 }, { code: 'SECAI_E_SCHEMA', message: /guidance/ }],
    ['a huge prompt', { ...base, prompt: 'cat '.repeat(501) }, { code: 'SECAI_E_SCHEMA', message: /prompt has 2004 characters, more than 2000/ }],
    ['a huge negative prompt', { ...base, negativePrompt: 'x'.repeat(2001) }, { code: 'SECAI_E_SCHEMA', message: /negativePrompt/ }],
    ['a negative seed', { ...base, seed: -1 }, { code: 'SECAI_E_SCHEMA', message: /seed/ }],
    ['an unknown scheduler', { ...base, scheduler: 'pndm' as never }, { code: 'SECAI_E_SCHEMA', message: /scheduler must be one of/ }],
    ['strength without an image', { ...base, strength: 0.5 }, { code: 'SECAI_E_SCHEMA', message: /needs an initImage/ }],
    ['strength 1.5', { ...base, strength: 1.5, initImage: encodePng(gradient(64, 64), 64, 64) }, { code: 'SECAI_E_SCHEMA', message: /strength/ }],
    ['a PNG that is not one', { ...base, initImage: Buffer.from('GIF89a not a png at all') }, { code: 'SECAI_E_IMAGE_INVALID', message: /not a usable PNG/ }],
    ['an init image over 4096 pixels wide', { ...base, initImage: encodePng(new Uint8Array(4104 * 8 * 3), 4104, 8) }, { code: 'SECAI_E_PAYLOAD_TOO_LARGE', message: /4104/ }],
    ['a truncated PNG', { ...base, initImage: encodePng(gradient(64, 64), 64, 64).subarray(0, 60) }, { code: 'SECAI_E_IMAGE_INVALID', message: /PNG/ }],
  ];
  const before = runs.length;
  for (const [what, req, err] of cases) await t.rejects(shared.generate(req), err, what);
  t.equal(runs.length, before, 'no session ran for any of them');
  const noEncoder = folder();
  rmSync(join(noEncoder.dir, 'vae_encoder'), { recursive: true });
  const p = await loadPipeline(noEncoder.dir, { threads: 1, provider: 'cpu' });
  t.teardown(() => p.release());
  t.equal(p.info.encoderOutput, null, 'a folder without vae_encoder loads (text to image only)');
  await t.rejects(p.generate({ ...base, initImage: encodePng(gradient(64, 64), 64, 64) }), { code: 'SECAI_E_MODEL_INVALID', message: /no vae_encoder: img2img/ });
});

t.test('diffusion pipeline — one generation at a time', async (t) => {
  const first = shared.generate(base);
  await t.rejects(shared.generate(base), { code: 'SECAI_E_INVALID_STATE', message: /already running/ });
  await first;
});

t.test('diffusion pipeline — a folder that lacks what the pipeline needs is refused at load', async (t) => {
  const noUnet = folder();
  unlinkSync(join(noUnet.dir, 'unet', 'model.onnx'));
  await t.rejects(loadPipeline(noUnet.dir, { threads: 1, provider: 'cpu' }), { code: 'SECAI_E_MODEL_INVALID', message: /unet\/model\.onnx is missing/ });
  const wrongUnet = folder();
  copyFileSync(join(wrongUnet.dir, 'vae_decoder', 'model.onnx'), join(wrongUnet.dir, 'unet', 'model.onnx'));
  await t.rejects(loadPipeline(wrongUnet.dir, { threads: 1, provider: 'cpu' }), { code: 'SECAI_E_MODEL_INVALID', message: /unet\/model\.onnx input: no "sample" \(it has: latent_sample\)/ });
  const junk = folder();
  writeFileSync(join(junk.dir, 'text_encoder', 'model.onnx'), 'not an onnx file');
  await t.rejects(loadPipeline(junk.dir, { threads: 1, provider: 'cpu' }), { code: 'SECAI_E_MODEL_INVALID', message: /text_encoder\/model\.onnx: onnxruntime could not load it/ });
  const badScheduler = folder({ schedulerConfig: { beta_schedule: 'cosine-ish' } });
  await t.rejects(loadPipeline(badScheduler.dir, { threads: 1, provider: 'cpu' }), { code: 'SECAI_E_MODEL_INVALID', message: /beta_schedule/ });
  const noVaeConfig = folder();
  unlinkSync(join(noVaeConfig.dir, 'vae_decoder', 'config.json'));
  await t.rejects(loadPipeline(noVaeConfig.dir, { threads: 1, provider: 'cpu' }), { code: 'SECAI_E_MODEL_INVALID', message: /vae_decoder\/config\.json is missing/ });
});

t.test('diffusion pipeline — the hash list must match and cover every file the pipeline reads', async (t) => {
  const m = folder({ externalData: true });
  const files = await pipelineFiles(m.dir);
  t.ok(files.includes('unet/model.onnx_data'), 'external weight data counts as read');
  t.notOk(files.includes('tokenizer/special_tokens_map.json'), 'a file the pipeline never opens is not required');
  await verifyModelFiles(m.dir, m.files);
  const p = await loadPipeline(m.dir, { threads: 1, provider: 'cpu' });
  t.teardown(() => p.release());
  t.equal(decodePng((await p.generate(base)).png, limits).width, 64, 'a UNet with external data generates');

  await t.rejects(verifyModelFiles(m.dir, m.files.filter((f) => f.rel !== 'unet/model.onnx_data')), { code: 'SECAI_E_DIGEST_MISMATCH', message: /unet\/model\.onnx_data .*no recorded hash/ });
  const tampered = folder();
  appendFileSync(join(tampered.dir, 'tokenizer', 'merges.txt'), 'c a\n');
  await t.rejects(verifyModelFiles(tampered.dir, tampered.files), { code: 'SECAI_E_DIGEST_MISMATCH', message: /tokenizer\/merges\.txt changed since promotion/ });
  const extra = folder();
  writeFileSync(join(extra.dir, 'unet', 'weights.pb'), 'planted');
  await t.rejects(verifyModelFiles(extra.dir, extra.files), { code: 'SECAI_E_DIGEST_MISMATCH', message: /unet\/weights\.pb/ });
  const linked = folder();
  symlinkSync('/etc/hostname', join(linked.dir, 'unet', 'model.onnx_data'));
  await t.rejects(verifyModelFiles(linked.dir, linked.files), { code: 'SECAI_E_MODEL_INVALID', message: /link/ });
});

t.test('diffusion pipeline — provider cuda either loads on a GPU or fails with SECAI_E_GPU_UNAVAILABLE', async (t) => {
  try {
    const p = await loadPipeline(main.dir, { threads: 1, provider: 'cuda' });
    t.equal(p.info.provider, 'cuda');
    await p.release();
  } catch (err) {
    t.equal((err as { code?: string }).code, 'SECAI_E_GPU_UNAVAILABLE', (err as Error).message.slice(0, 160));
  }
});

t.test('diffusion pipeline — init image resizing: box average when shrinking, nearest when enlarging', async (t) => {
  const px = (...v: number[]) => Uint8Array.from(v);
  t.same(resizeRgb(px(0, 0, 0, 100, 100, 100, 200, 200, 200, 40, 40, 40), 2, 2, 1, 1), px(85, 85, 85), '2x2 → 1x1 is the mean');
  t.same(resizeRgb(px(10, 20, 30), 1, 1, 2, 2), px(10, 20, 30, 10, 20, 30, 10, 20, 30, 10, 20, 30), '1x1 → 2x2 repeats the pixel');
  t.same(resizeRgb(px(0, 0, 0, 90, 90, 90, 30, 30, 30), 3, 1, 2, 1), px(0, 0, 0, 60, 60, 60), '3 → 2: each output covers its own source pixels');
  const same = px(1, 2, 3);
  t.equal(resizeRgb(same, 1, 1, 1, 1), same, 'the requested size already: untouched');
});
