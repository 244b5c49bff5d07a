// The ONNX test fixtures against real onnxruntime-node: the hand-written protobuf loads, the tiny SD pipeline runs with Optimum's names.
import t from 'tap';
import * as ort from 'onnxruntime-node';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeOnnx, floatTensor, int64Tensor, pbVarint, randomNormal } from '../fixtures/onnx-writer.js';
import { TINY_SD, VAE_ROUND_TRIP_MAE, writeTinySdOnnx } from '../fixtures/tiny-sd-onnx.js';
import type { TinySdOptions } from '../fixtures/tiny-sd-onnx.js';

const root = mkdtempSync(join(tmpdir(), 'secai-onnx-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));

let folders = 0;
function pipeline(o: TinySdOptions = {}): { dir: string; files: string[] } {
  const dir = join(root, `sd-${folders++}`);
  return { dir, ...writeTinySdOnnx(dir, o) };
}

async function session(t: { teardown(fn: () => Promise<void>): void }, path: string | Uint8Array): Promise<ort.InferenceSession> {
  const s = typeof path === 'string' ? await ort.InferenceSession.create(path) : await ort.InferenceSession.create(path);
  t.teardown(() => s.release());
  return s;
}

const f32 = (data: Float32Array | number[], dims: number[]) => new ort.Tensor('float32', Float32Array.from(data), dims);
const floats = (x: ort.Tensor | undefined): Float32Array => {
  if (!x || x.type !== 'float32') throw new Error(`expected a float32 tensor, got ${x?.type}`);
  return x.data as Float32Array;
};
const allFinite = (a: Float32Array) => a.every((v) => Number.isFinite(v));
const meanAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + Math.abs(v - (b[i] ?? NaN)), 0) / a.length;
const std = (a: Float32Array) => { const m = a.reduce((s, v) => s + v, 0) / a.length; return Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / a.length); };

/** Token ids as the CLIP tokenizer would give them: BOS, the words, EOS, then EOS as padding up to 77. */
function promptIds(vocab: Record<string, number>, prompts: string[]): ort.Tensor {
  const ids = new Int32Array(prompts.length * TINY_SD.maxLength);
  prompts.forEach((p, b) => {
    const row = [vocab['<|startoftext|>'] ?? -1, ...p.split(' ').filter(Boolean).map((w) => vocab[`${w}</w>`] ?? -1)];
    ids.fill(vocab['<|endoftext|>'] ?? -1, b * TINY_SD.maxLength, (b + 1) * TINY_SD.maxLength);
    ids.set(row, b * TINY_SD.maxLength);
  });
  return new ort.Tensor('int32', ids, [prompts.length, TINY_SD.maxLength]);
}

t.test('onnx writer — varints are protobuf varints, int64 negatives take ten bytes', async (t) => {
  t.same([...pbVarint(0)], [0]);
  t.same([...pbVarint(300)], [0xac, 0x02]);
  t.same([...pbVarint(2 ** 32)], [0x80, 0x80, 0x80, 0x80, 0x10]);
  t.same([...pbVarint(-1)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  t.same([...pbVarint(-1n)], [...pbVarint(-1)]);
  t.throws(() => pbVarint(1.5));
  t.same(randomNormal(5, 1, 7), randomNormal(5, 1, 7), 'seeded');
  t.not(randomNormal(5, 1, 7)[0], randomNormal(5, 1, 8)[0]);
});

t.test('onnx writer — a graph with every attribute kind, metadata and a model-local function loads and computes', async (t) => {
  const bytes = encodeOnnx({
    opsets: [{ domain: '', version: 17 }, { domain: 'secai.test', version: 1 }],
    metadata: { note: 'hand-written' },
    graph: {
      name: 'all-attrs',
      nodes: [
        { op: 'MatMul', inputs: ['x', 'w'], outputs: ['xw'] },
        { op: 'Add', inputs: ['xw', 'b'], outputs: ['y'] },
        { op: 'LeakyRelu', inputs: ['y'], outputs: ['leaky'], attrs: { alpha: { f: 0.5 } } },
        { op: 'Transpose', inputs: ['leaky'], outputs: ['t'], attrs: { perm: { ints: [1, 0] } } },
        { op: 'Constant', inputs: [], outputs: ['c'], attrs: { value: { t: floatTensor('c', [2], Float32Array.of(1, -2)) } } },
        { op: 'Reshape', inputs: ['c', 'shape'], outputs: ['c2'], attrs: { allowzero: { i: 0 } } },
        { op: 'Resize', inputs: ['img', '', 'scales'], outputs: ['big'], attrs: { mode: { s: 'nearest' } } },
        { op: 'Double', domain: 'secai.test', inputs: ['c'], outputs: ['twice'] },
      ],
      initializers: [floatTensor('w', [2, 2], Float32Array.of(1, 2, 3, 4)), floatTensor('b', [2], Float32Array.of(-10, 0)),
        int64Tensor('shape', [2], [-1, 1]), floatTensor('scales', [4], Float32Array.of(1, 1, 2, 2))],
      inputs: [{ name: 'x', dtype: 'float32', shape: ['n', 2] }, { name: 'img', dtype: 'float32', shape: [1, 1, 1, 1] }],
      outputs: [{ name: 't', dtype: 'float32', shape: [2, 'n'] }, { name: 'c2', dtype: 'float32', shape: [2, 1] },
        { name: 'big', dtype: 'float32', shape: [1, 1, 2, 2] }, { name: 'twice', dtype: 'float32', shape: [2] }],
    },
    functions: [{ name: 'Double', domain: 'secai.test', inputs: ['a'], outputs: ['out'], nodes: [{ op: 'Add', inputs: ['a', 'a'], outputs: ['out'] }] }],
  });
  const s = await session(t, bytes);
  const r = await s.run({ x: f32([1, 1], [1, 2]), img: f32([7], [1, 1, 1, 1]) });
  t.same([...floats(r.t)], [-3, 6], 'x·w + b, LeakyRelu(0.5), transposed');
  t.same(r.t?.dims, [2, 1]);
  t.same([...floats(r.c2)], [1, -2]);
  t.same([...floats(r.big)], [7, 7, 7, 7], 'empty input name skips roi');
  t.same([...floats(r.twice)], [2, -4], 'the model-local function ran');
});

t.test('tiny sd — the folder has the Optimum layout, configs and CLIP tokenizer files', async (t) => {
  const { dir, files } = pipeline();
  t.same(files, ['model_index.json', 'scheduler/scheduler_config.json', 'text_encoder/config.json', 'text_encoder/model.onnx',
    'tokenizer/merges.txt', 'tokenizer/special_tokens_map.json', 'tokenizer/tokenizer_config.json', 'tokenizer/vocab.json',
    'unet/config.json', 'unet/model.onnx', 'vae_decoder/config.json', 'vae_decoder/model.onnx', 'vae_encoder/config.json', 'vae_encoder/model.onnx']);
  const size = files.reduce((s, f) => s + statSync(join(dir, f)).size, 0);
  t.ok(size < 2 * 1024 * 1024, `whole folder ${size} bytes`);
  const json = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>;
  t.match(json('model_index.json'), { _class_name: 'ORTStableDiffusionPipeline', scheduler: ['diffusers', 'EulerDiscreteScheduler'], unet: ['diffusers', 'UNet2DConditionModel'], requires_safety_checker: false });
  t.match(json('scheduler/scheduler_config.json'), { num_train_timesteps: 1000, beta_schedule: 'scaled_linear', steps_offset: 1 });
  t.match(json('unet/config.json'), { in_channels: 4, out_channels: 4, sample_size: 8, cross_attention_dim: 32 });
  t.match(json('vae_decoder/config.json'), { latent_channels: 4, scaling_factor: 0.18215, block_out_channels: [8, 8, 8, 8] });
  t.match(json('tokenizer/tokenizer_config.json'), { model_max_length: 77, bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', pad_token: '<|endoftext|>' });
  const vocab = json('tokenizer/vocab.json') as Record<string, number>;
  const ids = Object.values(vocab);
  t.same(ids.toSorted((a, b) => a - b), ids.map((_, i) => i), 'ids are 0..n-1, each once');
  t.equal(vocab['<|endoftext|>'], ids.length - 1, 'EOS is the highest id, as CLIP pools on argmax');
  t.match(json('text_encoder/config.json'), { vocab_size: ids.length, hidden_size: 32, max_position_embeddings: 77 });
  t.ok(vocab['!'] === 0 && vocab['Ā'] === 188 && vocab['!</w>'] === 256, 'byte-level base characters and their </w> forms');
  const merges = readFileSync(join(dir, 'tokenizer/merges.txt'), 'utf8').split('\n');
  t.equal(merges[0], '#version: 0.2');
  for (const w of ['a', 'photo', 'of', 'red', 'cat', 'astronaut']) t.type(vocab[`${w}</w>`], 'number', `"${w}" is one token`);
  t.ok(merges.slice(1).filter(Boolean).every((m) => m.split(' ').every((part) => part in vocab)), 'every merge joins vocabulary tokens');

  const over = pipeline({ schedulerConfig: { prediction_type: 'v_prediction' }, modelIndex: { requires_safety_checker: true } });
  t.match(JSON.parse(readFileSync(join(over.dir, 'scheduler/scheduler_config.json'), 'utf8')), { _class_name: 'EulerDiscreteScheduler', prediction_type: 'v_prediction' });
  t.match(JSON.parse(readFileSync(join(over.dir, 'model_index.json'), 'utf8')), { requires_safety_checker: true });
});

t.test('tiny sd — the same seed writes byte-identical files, another seed other weights', async (t) => {
  const a = pipeline(), b = pipeline(), c = pipeline({ seed: 2 });
  for (const f of a.files) t.ok(readFileSync(join(a.dir, f)).equals(readFileSync(join(b.dir, f))), f);
  t.notOk(readFileSync(join(a.dir, 'unet/model.onnx')).equals(readFileSync(join(c.dir, 'unet/model.onnx'))));
});

t.test('tiny sd — text encoder: int32 input_ids [batch, sequence] to last_hidden_state and EOS-pooled pooler_output', async (t) => {
  const { dir } = pipeline();
  const vocab = JSON.parse(readFileSync(join(dir, 'tokenizer/vocab.json'), 'utf8')) as Record<string, number>;
  const s = await session(t, join(dir, 'text_encoder/model.onnx'));
  t.same(s.inputNames, ['input_ids']);
  t.same(s.outputNames, ['last_hidden_state', 'pooler_output']);
  const r = await s.run({ input_ids: promptIds(vocab, ['', 'a photo of a red cat']) });
  t.same(r.last_hidden_state?.dims, [2, 77, 32]);
  t.same(r.pooler_output?.dims, [2, 32]);
  const hidden = floats(r.last_hidden_state), pooled = floats(r.pooler_output);
  t.ok(allFinite(hidden) && allFinite(pooled));
  t.ok(std(hidden) > 0.5 && std(hidden) < 2, 'LayerNorm output is O(1)');
  // Row 1 has EOS at position 7 (BOS + six words): pooler_output is that position's hidden state.
  t.same([...pooled.subarray(32, 64)], [...hidden.subarray((77 + 7) * 32, (77 + 8) * 32)]);
  t.ok(meanAbsDiff(hidden.subarray(0, 77 * 32), hidden.subarray(77 * 32)) > 0.01, 'prompts change the states');
  const padded = promptIds(vocab, ['red cat']);
  const short = await s.run({ input_ids: new ort.Tensor('int32', (padded.data as Int32Array).slice(0, 4), [1, 4]) });
  t.same(short.last_hidden_state?.dims, [1, 4, 32], 'the sequence length is dynamic');
  // Causal attention, as CLIP's: padding after EOS does not change the states before it.
  const full = floats((await s.run({ input_ids: padded })).last_hidden_state);
  t.ok(meanAbsDiff(floats(short.last_hidden_state), full.subarray(0, 4 * 32)) < 1e-5, 'causal: padding does not leak backwards');
});

t.test('tiny sd — unet: batch 2 (classifier-free guidance) with the time embedding wired and dynamic sizes', async (t) => {
  const { dir } = pipeline();
  const s = await session(t, join(dir, 'unet/model.onnx'));
  t.same(s.inputNames, ['sample', 'timestep', 'encoder_hidden_states']);
  t.same(s.outputNames, ['out_sample']);
  const text = f32(randomNormal(2 * 77 * 32, 1, 3), [2, 77, 32]);
  const run = async (timestep: ort.Tensor, h = 8, w = 8) => {
    const sample = f32(randomNormal(2 * 4 * h * w, 1, 4), [2, 4, h, w]);
    const r = await s.run({ sample, timestep, encoder_hidden_states: text });
    t.same(r.out_sample?.dims, [2, 4, h, w]);
    return floats(r.out_sample);
  };
  const ts = (v: number, n = 2) => new ort.Tensor('int64', new BigInt64Array(n).fill(BigInt(v)), [n]);
  const a = await run(ts(981));
  t.ok(allFinite(a), 'finite');
  t.ok(std(a) > 0.3 && Math.max(...a.map(Math.abs)) < 50, `O(1): std ${std(a).toFixed(3)}`);
  t.same(await run(ts(981)), a, 'deterministic');
  t.same(await run(ts(981, 1)), a, 'a [1] timestep broadcasts over the batch, as the diffusers ONNX pipelines pass it');
  const late = await run(ts(1));
  t.ok(meanAbsDiff(a, late) > 0.05, `timestep changes the output by ${meanAbsDiff(a, late).toFixed(3)}`);
  const halves = await s.run({ sample: f32(randomNormal(2 * 4 * 64, 1, 4), [2, 4, 8, 8]), timestep: ts(981), encoder_hidden_states: f32(randomNormal(2 * 77 * 32, 1, 9), [2, 77, 32]) });
  t.ok(meanAbsDiff(a, floats(halves.out_sample)) > 0.01, 'the text conditioning changes the output');
  const wide = await run(ts(500), 12, 16);
  t.ok(allFinite(wide), 'a 12×16 latent (96×128 image) runs');
  const feeds = { sample: f32(randomNormal(2 * 4 * 64, 1, 4), [2, 4, 8, 8]), timestep: ts(500), encoder_hidden_states: text };
  await s.run(feeds);
  const started = performance.now();
  for (let i = 0; i < 50; i++) await s.run(feeds);
  t.comment(`unet batch 2, 8×8 latents: ${((performance.now() - started) / 50).toFixed(2)} ms per run`);

  const float = pipeline({ timestepType: 'float32' });
  const fs = await session(t, join(float.dir, 'unet/model.onnx'));
  const fr = await fs.run({ sample: f32(randomNormal(2 * 4 * 64, 1, 4), [2, 4, 8, 8]), timestep: f32([981, 981], [2]), encoder_hidden_states: text });
  t.same(floats(fr.out_sample), a, 'a float32 timestep gives the same result as int64 for the same value');
});

t.test('tiny sd — external data: unet weights in model.onnx_data load from the path and give the same output', async (t) => {
  const inline = pipeline(), ext = pipeline({ externalData: true });
  t.ok(ext.files.includes('unet/model.onnx_data'));
  const graph = statSync(join(ext.dir, 'unet/model.onnx')).size, data = statSync(join(ext.dir, 'unet/model.onnx_data')).size;
  t.ok(data > 4 * graph, `the weights are in model.onnx_data (${data} bytes; graph ${graph})`);
  const feeds = {
    sample: f32(randomNormal(2 * 4 * 64, 1, 4), [2, 4, 8, 8]), timestep: new ort.Tensor('int64', BigInt64Array.of(500n, 500n), [2]),
    encoder_hidden_states: f32(randomNormal(2 * 77 * 32, 1, 3), [2, 77, 32]),
  };
  const a = await (await session(t, join(inline.dir, 'unet/model.onnx'))).run(feeds);
  const b = await (await session(t, join(ext.dir, 'unet/model.onnx'))).run(feeds);
  t.same(floats(b.out_sample), floats(a.out_sample));
  await t.rejects(ort.InferenceSession.create(readFileSync(join(ext.dir, 'unet/model.onnx'))), 'from bytes alone the weights are missing');
});

t.test(`tiny sd — vae: decode(encode(x)) keeps a smooth image within mean abs error ${VAE_ROUND_TRIP_MAE}`, async (t) => {
  const { dir } = pipeline();
  const dec = await session(t, join(dir, 'vae_decoder/model.onnx'));
  const enc = await session(t, join(dir, 'vae_encoder/model.onnx'));
  t.same(dec.inputNames, ['latent_sample']);
  t.same(dec.outputNames, ['sample']);
  t.same(enc.inputNames, ['sample']);
  t.same(enc.outputNames, ['latent_parameters']);

  // Scaled latents ~N(0, 1), as the pipeline hands them over after dividing by scaling_factor.
  const noise = (await dec.run({ latent_sample: f32(randomNormal(2 * 4 * 64, 1 / 0.18215, 5), [2, 4, 8, 8]) })).sample;
  t.same(noise?.dims, [2, 3, 64, 64]);
  const px = floats(noise);
  t.ok(px.every((v) => v >= -1 && v <= 1) && std(px) > 0.1, `pixels in [-1, 1], std ${std(px).toFixed(3)}`);

  const H = 64, W = 128;
  const img = new Float32Array(3 * H * W);
  for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const u = x / (W - 1), v = y / (H - 1);
    img[(c * H + y) * W + x] = 0.9 * (c === 0 ? 2 * u - 1 : c === 1 ? 1 - 2 * v : u - v);
  }
  const params = (await enc.run({ sample: f32(img, [1, 3, H, W]) })).latent_parameters;
  t.same(params?.dims, [1, 8, H / 8, W / 8]);
  const latents = floats(params);
  const plane = (H / 8) * (W / 8);
  t.ok(latents.subarray(4 * plane).every((v) => v === -20), 'logvar -20: sampling adds nothing visible');
  const mean = latents.slice(0, 4 * plane);
  t.ok(Math.max(...mean.map(Math.abs)) * 0.18215 < 5, 'scaled latents are O(1)');
  const back = floats((await dec.run({ latent_sample: f32(mean, [1, 4, H / 8, W / 8]) })).sample);
  const mae = meanAbsDiff(back, img);
  t.ok(mae < VAE_ROUND_TRIP_MAE, `round-trip mean abs error ${mae.toFixed(4)}`);

  const flat = Float32Array.from({ length: 3 * 64 * 64 }, (_, i) => [0.6, -0.3, 0.1][Math.floor(i / 4096)] ?? 0);
  const flatLatent = (await enc.run({ sample: f32(flat, [1, 3, 64, 64]) })).latent_parameters;
  const flatBack = floats((await dec.run({ latent_sample: f32(floats(flatLatent).slice(0, 4 * 64), [1, 4, 8, 8]) })).sample);
  t.ok(meanAbsDiff(flatBack, flat) < 1e-5, 'a flat colour comes back exactly');

  const sampled = pipeline({ encoderOutput: 'latent_sample' });
  const enc2 = await session(t, join(sampled.dir, 'vae_encoder/model.onnx'));
  t.same(enc2.outputNames, ['latent_sample']);
  const r2 = await enc2.run({ sample: f32(img, [1, 3, H, W]) });
  t.same(r2.latent_sample?.dims, [1, 4, H / 8, W / 8]);
  t.same(floats(r2.latent_sample), mean, 'the same mean');
});
