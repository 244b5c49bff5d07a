// The diffusion worker protocol: well-formed messages pass typed; garbage, oversized, out-of-bounds and path-escaping
// messages are refused with SECAI_E_WORKER_PROTOCOL in both directions.
import t, { type Test } from 'tap';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { DIFFUSION_LIMITS, idOf, parseFromWorker, parseToWorker, type FromWorker, type PipelineInfo, type ToWorker } from '../../workers/diffusion/protocol.js';

const sha = 'a'.repeat(64);
const png = Buffer.from('\x89PNG\r\n\x1a\nfake').toString('base64');
const refused = (t: Test, f: () => unknown, what: string) => {
  try {
    f();
    t.fail(`${what}: accepted`);
  } catch (err) {
    t.equal((err as SecaiError).code, ErrorCode.WORKER_PROTOCOL, `${what}: SECAI_E_WORKER_PROTOCOL`);
  }
};
const gen = { type: 'generate', id: 'g1', prompt: 'a cat', width: 64, height: 64, steps: 4, guidance: 7.5 } as const;
const info: PipelineInfo = {
  className: 'ORTStableDiffusionPipeline', provider: 'cpu', threads: 1, scheduler: 'euler', schedulerClass: 'EulerDiscreteScheduler',
  timestepType: 'int64', inputIdsType: 'int32', encoderOutput: 'latent_parameters', hidden: 32, latentChannels: 4, vaeScaleFactor: 8,
  scalingFactor: 0.18215, maxLength: 77, sampleSize: 8,
  io: {
    textEncoder: { inputs: ['input_ids'], outputs: ['last_hidden_state', 'pooler_output'] },
    unet: { inputs: ['sample', 'timestep', 'encoder_hidden_states'], outputs: ['out_sample'] },
    vaeDecoder: { inputs: ['latent_sample'], outputs: ['sample'] }, vaeEncoder: null,
  },
};

t.test('diffusion protocol — well-formed messages pass both ways, typed', async (t) => {
  const to: ToWorker[] = [
    { type: 'load', modelDir: '/var/lib/secure-ai/registry/sd', files: [{ rel: 'unet/model.onnx', sha256: sha }, { rel: 'unet/model.onnx_data', sha256: sha }], threads: 0, provider: 'cpu' },
    { type: 'load', modelDir: '/m', files: [{ rel: 'model_index.json', sha256: sha }], threads: 8, provider: 'cuda' },
    gen,
    { ...gen, negativePrompt: 'blurry', seed: 2 ** 32 - 1, scheduler: 'lcm', guidance: 0, steps: 150, width: 2048, height: 2048 },
    { ...gen, initImage: png, strength: 0.35, scheduler: 'euler_a' },
    { ...gen, prompt: '' },
    { type: 'cancel', id: 'g1' },
    { type: 'unload' },
  ];
  for (const m of to) t.same(parseToWorker(m), m, `to worker: ${m.type}`);
  const from: FromWorker[] = [
    { type: 'ready', pid: 2 },
    { type: 'loaded', ms: 310.5, info },
    { type: 'loaded', ms: 1, info: { ...info, encoderOutput: null, timestepType: 'float32', scheduler: 'ddim' } },
    { type: 'progress', id: 'g1', step: 1, steps: 4, ms: 0.4 },
    { type: 'done', id: 'g1', png, seed: 42, width: 64, height: 96, ms: 50, steps: 4 },
    { type: 'done', id: 'g1', png, seed: 0, width: 64, height: 64, ms: 5, steps: 0 },
    { type: 'failed', id: 'g1', code: 'SECAI_E_SCHEMA', message: 'width must be a multiple of 8' },
    { type: 'cancelled', id: 'g1' },
    { type: 'error', code: 'SECAI_E_DIGEST_MISMATCH', message: 'unet/model.onnx changed since promotion' },
  ];
  for (const m of from) t.same(parseFromWorker(m), m, `from worker: ${m.type}`);
});

t.test('diffusion protocol — malformed messages to the worker are refused', async (t) => {
  const load = { type: 'load', modelDir: '/m', files: [{ rel: 'unet/model.onnx', sha256: sha }], threads: 1, provider: 'cpu' };
  const cases: [string, unknown][] = [
    ['undefined', undefined], ['a string', 'unload'], ['an unknown type', { type: 'eval', code: '1' }],
    ['a load with a relative modelDir', { ...load, modelDir: 'models/sd' }],
    ['a load with no files', { ...load, files: [] }],
    ['a load with too many files', { ...load, files: Array.from({ length: DIFFUSION_LIMITS.files + 1 }, (_, i) => ({ rel: `f${i}`, sha256: sha })) }],
    ['a load with a short hash', { ...load, files: [{ rel: 'unet/model.onnx', sha256: 'abc' }] }],
    ['a load with an upper-case hash', { ...load, files: [{ rel: 'unet/model.onnx', sha256: 'A'.repeat(64) }] }],
    ['a file path that climbs out', { ...load, files: [{ rel: '../../etc/passwd', sha256: sha }] }],
    ['a file path that climbs out midway', { ...load, files: [{ rel: 'unet/../../x', sha256: sha }] }],
    ['an absolute file path', { ...load, files: [{ rel: '/etc/passwd', sha256: sha }] }],
    ['a file path with an empty segment', { ...load, files: [{ rel: 'unet//model.onnx', sha256: sha }] }],
    ['a file path with a dot segment', { ...load, files: [{ rel: './unet/model.onnx', sha256: sha }] }],
    ['a provider it does not have', { ...load, provider: 'tensorrt' }],
    ['an extra key on load', { ...load, env: { LD_PRELOAD: '/x' } }],
    ['a width not a multiple of 8', { ...gen, width: 65 }],
    ['a width above 2048', { ...gen, width: 2056 }],
    ['a height below 64', { ...gen, height: 56 }],
    ['steps 0', { ...gen, steps: 0 }],
    ['steps 151', { ...gen, steps: 151 }],
    ['fractional steps', { ...gen, steps: 4.5 }],
    ['guidance 31', { ...gen, guidance: 31 }],
    ['negative guidance', { ...gen, guidance: -1 }],
    ['a prompt over 2000 characters', { ...gen, prompt: 'x'.repeat(2001) }],
    ['a number for the prompt', { ...gen, prompt: 42 }],
    ['a seed over 2^32-1', { ...gen, seed: 2 ** 32 }],
    ['a scheduler it does not have', { ...gen, scheduler: 'pndm' }],
    ['strength 1.5', { ...gen, initImage: png, strength: 1.5 }],
    ['an init image that is not base64', { ...gen, initImage: 'not base64!' }],
    ['an oversized init image', { ...gen, initImage: 'A'.repeat(DIFFUSION_LIMITS.initImageBase64Chars + 4) }],
    ['a generate without an id', { ...gen, id: undefined }],
    ['an oversized id', { ...gen, id: 'x'.repeat(129) }],
    ['an extra key on cancel', { type: 'cancel', id: 'g1', also: 'unload' }],
  ];
  for (const [what, m] of cases) refused(t, () => parseToWorker(m), what);
});

t.test('diffusion protocol — garbage, oversized and wrong-typed messages from the worker are refused', async (t) => {
  const cases: [string, unknown][] = [
    ['null', null], ['an array', [{ type: 'ready', pid: 1 }]], ['no type', { id: 'g1' }], ['an unknown type', { type: 'exec', command: 'sh' }],
    ['a ready pid of 0', { type: 'ready', pid: 0 }],
    ['progress past 150 steps', { type: 'progress', id: 'g1', step: 151, steps: 151, ms: 1 }],
    ['progress with negative ms', { type: 'progress', id: 'g1', step: 1, steps: 4, ms: -1 }],
    ['a done PNG that is not base64', { type: 'done', id: 'g1', png: '<script>', seed: 1, width: 64, height: 64, ms: 1, steps: 4 }],
    ['an oversized done PNG', { type: 'done', id: 'g1', png: 'A'.repeat(DIFFUSION_LIMITS.pngBase64Chars + 4), seed: 1, width: 64, height: 64, ms: 1, steps: 4 }],
    ['a done size off the grid', { type: 'done', id: 'g1', png, seed: 1, width: 63, height: 64, ms: 1, steps: 4 }],
    ['a done with an extra key', { type: 'done', id: 'g1', png, seed: 1, width: 64, height: 64, ms: 1, steps: 4, html: '<b>' }],
    ['a failure code outside SECAI_E_*', { type: 'failed', id: 'g1', code: 'rm -rf /', message: 'x' }],
    ['an oversized error message', { type: 'error', code: 'SECAI_E_INTERNAL', message: 'x'.repeat(4097) }],
    ['loaded info with an unknown timestep type', { type: 'loaded', ms: 1, info: { ...info, timestepType: 'float16' } }],
    ['loaded info with a huge io name', { type: 'loaded', ms: 1, info: { ...info, io: { ...info.io, unet: { inputs: ['x'.repeat(129)], outputs: [] } } } }],
    ['loaded info with an extra key', { type: 'loaded', ms: 1, info: { ...info, shell: '/bin/sh' } }],
  ];
  for (const [what, m] of cases) refused(t, () => parseFromWorker(m), what);
});

t.test('diffusion protocol — idOf takes only a usable id', async (t) => {
  t.equal(idOf({ type: 'generate', id: 'g1', prompt: 42 }), 'g1');
  t.equal(idOf({ id: 'x'.repeat(129) }), undefined);
  t.equal(idOf({ id: 7 }), undefined);
  t.equal(idOf('g1'), undefined);
});
