// Stable Diffusion over four onnxruntime sessions (Optimum's ONNX layout): prompt → text embeddings → denoised
// latents → PNG, and img2img from an init image. Runs in the diffusion worker; the tests run it in process too.
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { inferenceThreads } from '../cpu.js';
import { createClipTokenizer, type ClipTokenizer } from './clip-tokenizer.js';
import { combineGuidance, usesGuidance } from './guidance.js';
import { checkPipelineIo, type PipelineIo } from './model-io.js';
import { FOLDER, readModelFolder } from './model-folder.js';
import { decodePng, encodePng, rgbToTensor, tensorToRgb } from './png.js';
import { DIFFUSION_LIMITS, SCHEDULER_KINDS, type GenerateParams, type PipelineInfo, type Provider, type SchedulerKind } from './protocol.js';
import { resizeRgb } from './resize.js';
import { createRng } from './rng.js';
import { createScheduler, img2imgStart, kindFromConfig, parseSchedulerConfig, type SchedulerConfig } from './schedulers/index.js';

export interface PipelineOptions {
  /** intra-op threads; 0: one per physical core but one (workers/cpu.ts). */
  threads: number;
  provider: Provider;
}

/** One generation, as the protocol's `generate` less its id, with the init image as PNG bytes. */
export type GenerateRequest = Omit<GenerateParams, 'initImage'> & { initImage?: Uint8Array };

export interface GenerateHooks {
  /** After each denoising step: `step` of `steps` (those this request runs), and how long that step took. */
  onStep?: (step: number, steps: number, ms: number) => void;
  /** Checked between steps: an abort ends the generation with SECAI_E_CANCELLED and leaves the pipeline usable. */
  signal?: AbortSignal;
}

export interface GenerateResult {
  png: Buffer;
  /** The seed used: the request's, or one chosen here (report it: it reproduces the image). */
  seed: number;
  width: number;
  height: number;
  /** Denoising steps run (fewer than asked for img2img; 0 at strength 0). */
  steps: number;
  ms: number;
}

export interface Pipeline {
  readonly info: PipelineInfo;
  generate(req: GenerateRequest, hooks?: GenerateHooks): Promise<GenerateResult>;
  release(): Promise<void>;
}

/** img2img's default strength, as diffusers' StableDiffusionImg2ImgPipeline. */
export const DEFAULT_STRENGTH = 0.8;

const schema = (m: string) => new SecaiError(ErrorCode.SCHEMA, m);
const errMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The request's bounds, checked before any session runs (the protocol checks them too: this is for in-process callers). */
export function checkRequest(req: GenerateRequest, img2img: boolean): void {
  const L = DIFFUSION_LIMITS;
  for (const [k, v] of [['prompt', req.prompt], ['negativePrompt', req.negativePrompt]] as const) {
    if (v === undefined && k === 'negativePrompt') continue;
    if (typeof v !== 'string') throw schema(`${k} must be a string`);
    if (v.length > L.promptChars) throw schema(`${k} has ${v.length} characters, more than ${L.promptChars}`);
  }
  for (const [k, v] of [['width', req.width], ['height', req.height]] as const) {
    if (!Number.isInteger(v) || v < L.minSide || v > L.maxSide || v % L.sideMultiple !== 0) {
      throw schema(`${k} must be a multiple of ${L.sideMultiple} from ${L.minSide} to ${L.maxSide}, got ${String(v)}`);
    }
  }
  if (!Number.isInteger(req.steps) || req.steps < 1 || req.steps > L.maxSteps) throw schema(`steps must be an integer from 1 to ${L.maxSteps}, got ${String(req.steps)}`);
  if (typeof req.guidance !== 'number' || !(req.guidance >= 0 && req.guidance <= L.maxGuidance)) {
    throw schema(`guidance must be a number from 0 to ${L.maxGuidance}, got ${String(req.guidance)}`);
  }
  if (req.seed !== undefined && (!Number.isInteger(req.seed) || req.seed < 0 || req.seed > L.maxSeed)) {
    throw schema(`seed must be an integer from 0 to ${L.maxSeed}, got ${String(req.seed)}`);
  }
  if (req.scheduler !== undefined && !(SCHEDULER_KINDS as readonly string[]).includes(req.scheduler)) {
    throw schema(`scheduler must be one of ${SCHEDULER_KINDS.join(', ')}, got ${String(req.scheduler).slice(0, 40)}`);
  }
  if (req.strength !== undefined) {
    if (req.initImage === undefined) throw schema('strength is for img2img: it needs an initImage');
    if (typeof req.strength !== 'number' || !(req.strength >= 0 && req.strength <= 1)) throw schema(`strength must be a number from 0 to 1, got ${String(req.strength)}`);
  }
  if (req.initImage !== undefined) {
    if (!(req.initImage instanceof Uint8Array)) throw schema('initImage must be PNG bytes');
    if (!img2img) throw new SecaiError(ErrorCode.MODEL_INVALID, 'this model folder has no vae_encoder: img2img is not available');
  }
}

/** The init image as the VAE encoder's input: decoded with bounds, resized to the requested size (see resizeRgb). */
function initImageTensor(png: Uint8Array, width: number, height: number): Float32Array {
  const maxBytes = Math.floor((DIFFUSION_LIMITS.initImageBase64Chars / 4) * 3);
  const img = decodePng(png, { maxWidth: DIFFUSION_LIMITS.initImageMaxSide, maxHeight: DIFFUSION_LIMITS.initImageMaxSide, maxBytes });
  return rgbToTensor(resizeRgb(img.rgb, img.width, img.height, width, height), width, height);
}

async function openSession(dir: string, rel: string, o: { threads: number; provider: Provider }): Promise<InferenceSession> {
  try {
    return await InferenceSession.create(join(dir, rel), {
      executionProviders: o.provider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
      intraOpNumThreads: o.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // Warnings (unused initializers, a node placed on the CPU) would fill the worker's stderr on every load.
      logSeverityLevel: 3,
    });
  } catch (err) {
    const msg = errMessage(err).replace(/\s+/g, ' ').slice(0, 600);
    if (o.provider === 'cuda' && /cuda|providers_shared|execution ?provider/i.test(msg)) {
      throw new SecaiError(ErrorCode.GPU_UNAVAILABLE, `${rel}: the CUDA execution provider is not available here: ${msg}`, { cause: err });
    }
    throw new SecaiError(ErrorCode.MODEL_INVALID, `${rel}: onnxruntime could not load it: ${msg}`, { cause: err });
  }
}

const ioNames = (s: InferenceSession) => ({ inputs: s.inputNames.slice(0, 16).map((n) => n.slice(0, 128)), outputs: s.outputNames.slice(0, 16).map((n) => n.slice(0, 128)) });

/** One tensor output of a run, as float32: a model that answers something else is refused, not reinterpreted. */
function floats(out: InferenceSession.ReturnType, name: string, size: number, what: string): Float32Array {
  const t = out[name];
  if (!(t instanceof Tensor) || t.type !== 'float32' || !(t.data instanceof Float32Array)) throw new SecaiError(ErrorCode.MODEL_INVALID, `${what}: "${name}" is not a float32 tensor`);
  if (t.data.length !== size) throw new SecaiError(ErrorCode.MODEL_INVALID, `${what}: "${name}" has ${t.data.length} values, not ${size} (dims ${t.dims.join('x')})`);
  return t.data;
}

/**
 * Opens the folder's sessions and checks that they fit together. The caller verified the files' hashes first
 * (model-folder.ts verifyModelFiles); a folder that lacks what the pipeline needs is SECAI_E_MODEL_INVALID.
 */
export async function loadPipeline(dir: string, opts: PipelineOptions): Promise<Pipeline> {
  const folder = await readModelFolder(dir);
  let schedulerConfig: SchedulerConfig;
  try {
    schedulerConfig = parseSchedulerConfig(folder.schedulerJson);
  } catch (err) {
    throw new SecaiError(ErrorCode.MODEL_INVALID, errMessage(err), { cause: err });
  }
  const threads = opts.threads > 0 ? opts.threads : inferenceThreads();
  const o = { threads, provider: opts.provider };
  const sessions: InferenceSession[] = [];
  const open = async (rel: string) => {
    const s = await openSession(dir, rel, o);
    sessions.push(s);
    return s;
  };
  try {
    const textEncoder = await open(FOLDER.textEncoder);
    const unet = await open(FOLDER.unet);
    const vaeDecoder = await open(FOLDER.vaeDecoder);
    const vaeEncoder = folder.hasVaeEncoder ? await open(FOLDER.vaeEncoder) : undefined;
    const io = checkPipelineIo({ textEncoder, unet, vaeDecoder, vaeEncoder }, folder.unetInChannels);
    let tokenizer: ClipTokenizer;
    try {
      tokenizer = createClipTokenizer(folder.tokenizer, io.sequenceLength);
    } catch (err) {
      throw new SecaiError(ErrorCode.MODEL_INVALID, `tokenizer: ${errMessage(err)}`, { cause: err });
    }
    const info: PipelineInfo = {
      className: folder.className,
      provider: opts.provider,
      threads,
      scheduler: kindFromConfig(schedulerConfig),
      schedulerClass: schedulerConfig.className,
      timestepType: io.timestepType,
      inputIdsType: io.inputIdsType,
      encoderOutput: io.encoderOutput,
      hidden: io.hidden,
      latentChannels: io.latentChannels,
      vaeScaleFactor: folder.vaeScaleFactor,
      scalingFactor: folder.scalingFactor,
      maxLength: tokenizer.maxLength,
      sampleSize: folder.sampleSize ?? 0,
      io: { textEncoder: ioNames(textEncoder), unet: ioNames(unet), vaeDecoder: ioNames(vaeDecoder), vaeEncoder: vaeEncoder ? ioNames(vaeEncoder) : null },
    };
    return createPipeline({ textEncoder, unet, vaeDecoder, vaeEncoder, io, tokenizer, schedulerConfig, info });
  } catch (err) {
    await Promise.allSettled(sessions.map((s) => s.release()));
    throw err;
  }
}

interface Parts {
  textEncoder: InferenceSession;
  unet: InferenceSession;
  vaeDecoder: InferenceSession;
  vaeEncoder: InferenceSession | undefined;
  io: PipelineIo;
  tokenizer: ClipTokenizer;
  schedulerConfig: SchedulerConfig;
  info: PipelineInfo;
}

function createPipeline(p: Parts): Pipeline {
  const { io, info } = p;
  let busy = false;
  let released = false;

  /** last_hidden_state of the prompts in one batch: [n, seq, hidden]. */
  const encodeText = async (prompts: readonly string[]): Promise<Tensor> => {
    const seq = p.tokenizer.maxLength;
    const ids = io.inputIdsType === 'int64' ? new BigInt64Array(prompts.length * seq) : new Int32Array(prompts.length * seq);
    prompts.forEach((text, b) => {
      const row = p.tokenizer.encode(text);
      for (let i = 0; i < seq; i++) {
        if (ids instanceof BigInt64Array) ids[b * seq + i] = BigInt(row[i]!);
        else ids[b * seq + i] = row[i]!;
      }
    });
    const out = await p.textEncoder.run({ input_ids: new Tensor(io.inputIdsType, ids, [prompts.length, seq]) }, ['last_hidden_state']);
    const t = out.last_hidden_state;
    if (!(t instanceof Tensor) || t.type !== 'float32' || t.dims.length !== 3 || t.dims[0] !== prompts.length || t.dims[1] !== seq) {
      throw new SecaiError(ErrorCode.MODEL_INVALID, `text_encoder: last_hidden_state came back as ${t instanceof Tensor ? `${t.type} ${t.dims.join('x')}` : 'no tensor'}`);
    }
    return t;
  };

  const timestepTensor = (t: number, batch: number): Tensor => {
    // diffusers' ONNX pipeline: np.array([t], dtype=timestep_dtype), which truncates Euler's fractional timesteps for int64.
    const n = io.timestepShape === 'batch' ? batch : 1;
    const dims = io.timestepShape === 'scalar' ? [] : [n];
    return io.timestepType === 'int64'
      ? new Tensor('int64', new BigInt64Array(n).fill(BigInt(Math.trunc(t))), dims)
      : new Tensor('float32', new Float32Array(n).fill(t), dims);
  };

  const encodeImage = async (pixels: Float32Array, width: number, height: number, latentSize: number): Promise<Float32Array> => {
    if (!p.vaeEncoder || !io.encoderOutput) throw new SecaiError(ErrorCode.MODEL_INVALID, 'this model folder has no vae_encoder: img2img is not available');
    const out = await p.vaeEncoder.run({ sample: new Tensor('float32', pixels, [1, 3, height, width]) }, [io.encoderOutput]);
    const params = io.encoderOutput === 'latent_parameters';
    const data = floats(out, io.encoderOutput, params ? 2 * latentSize : latentSize, 'vae_encoder');
    // The distribution's mean (the first C channels of mean ‖ logvar), not a sample: the same image always gives
    // the same latent, and a seed alone decides the noise (diffusers' `latent_dist.mode()`, retrieve_latents' "argmax").
    const mean = params ? data.subarray(0, latentSize) : data;
    const latents = new Float32Array(latentSize);
    for (let i = 0; i < latentSize; i++) latents[i] = mean[i]! * info.scalingFactor;
    return latents;
  };

  const decodeImage = async (latents: Float32Array, width: number, height: number, lh: number, lw: number): Promise<Buffer> => {
    const scaled = new Float32Array(latents.length);
    for (let i = 0; i < latents.length; i++) scaled[i] = latents[i]! / info.scalingFactor;
    const out = await p.vaeDecoder.run({ latent_sample: new Tensor('float32', scaled, [1, io.latentChannels, lh, lw]) }, ['sample']);
    const chw = floats(out, 'sample', 3 * width * height, 'vae_decoder');
    return encodePng(tensorToRgb(chw, width, height), width, height);
  };

  const run = async (req: GenerateRequest, hooks: GenerateHooks): Promise<GenerateResult> => {
    const t0 = performance.now();
    const cancelled = () => {
      if (hooks.signal?.aborted) throw new SecaiError(ErrorCode.CANCELLED, 'the generation was cancelled');
    };
    const { width, height, steps } = req;
    const seed = req.seed ?? randomInt(0, DIFFUSION_LIMITS.maxSeed + 1);
    const rng = createRng(seed);
    const scheduler = createScheduler(p.schedulerConfig, steps, req.scheduler ?? info.scheduler);
    // Decoded first: a bad image is refused before any session runs.
    const pixels = req.initImage === undefined ? undefined : initImageTensor(req.initImage, width, height);
    const lh = height / info.vaeScaleFactor;
    const lw = width / info.vaeScaleFactor;
    const latentSize = io.latentChannels * lh * lw;
    const guided = usesGuidance(req.guidance);
    cancelled();

    const text = await encodeText(guided ? [req.negativePrompt ?? '', req.prompt] : [req.prompt]);
    cancelled();
    let latents: Float32Array;
    let start = 0;
    if (pixels) {
      start = img2imgStart(steps, req.strength ?? DEFAULT_STRENGTH);
      const init = await encodeImage(pixels, width, height, latentSize);
      latents = start < steps ? scheduler.addNoise(init, rng.gaussian(latentSize), start) : init;
    } else {
      latents = rng.gaussian(latentSize);
      for (let i = 0; i < latentSize; i++) latents[i]! *= scheduler.initNoiseSigma;
    }

    const batch = guided ? 2 : 1;
    const run = steps - start;
    for (let i = start; i < steps; i++) {
      cancelled();
      const ts = performance.now();
      const input = scheduler.scaleModelInput(latents, i);
      let sample = input;
      if (guided) {
        sample = new Float32Array(2 * latentSize);
        sample.set(input);
        sample.set(input, latentSize);
      }
      const out = await p.unet.run({
        sample: new Tensor('float32', sample, [batch, io.latentChannels, lh, lw]),
        timestep: timestepTensor(scheduler.timesteps[i]!, batch),
        encoder_hidden_states: text,
      }, ['out_sample']);
      const noise = floats(out, 'out_sample', batch * latentSize, 'unet');
      latents = scheduler.step(guided ? combineGuidance(noise, req.guidance) : noise, i, latents, rng);
      hooks.onStep?.(i - start + 1, run, performance.now() - ts);
    }
    cancelled();
    const png = await decodeImage(latents, width, height, lh, lw);
    return { png, seed, width, height, steps: run, ms: performance.now() - t0 };
  };

  return {
    info,
    async generate(req, hooks = {}) {
      if (released) throw new SecaiError(ErrorCode.MODEL_NOT_LOADED, 'the pipeline was released');
      // One at a time: the sessions are shared, and onnxruntime-node runs each session call on the main thread anyway.
      if (busy) throw new SecaiError(ErrorCode.INVALID_STATE, 'a generation is already running: one at a time (the actor queues)');
      checkRequest(req, io.encoderOutput !== null);
      busy = true;
      try {
        return await run(req, hooks);
      } finally {
        busy = false;
      }
    },
    async release() {
      if (released) return;
      released = true;
      await Promise.allSettled([p.textEncoder, p.unet, p.vaeDecoder, p.vaeEncoder].map((s) => s?.release()));
    },
  };
}
