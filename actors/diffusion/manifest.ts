// The diffusion actor's bus contract: loaded pipelines, streamed image generation (progress, then the PNG in pieces),
// signed load/unload. Events never carry prompts or images: their SHA-256 only.
import { defineManifest } from '../../bus/manifest.js';
import { s, type Static } from '../../bus/schema.js';
import { DIFFUSION_LIMITS, SCHEDULER_KINDS } from '../../workers/diffusion/protocol.js';

const name = s.string({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' });
const sha256 = s.string({ pattern: '^[0-9a-f]{64}$' });
const side = s.integer({ minimum: DIFFUSION_LIMITS.minSide, maximum: DIFFUSION_LIMITS.maxSide });
const prompt = s.string({ maxLength: DIFFUSION_LIMITS.promptChars });
/** An init image in one bus message: the request stays under the bus's 1 MiB. */
export const INIT_IMAGE_MAX_BYTES = 768 * 1024;
/** The PNG travels as stream chunks of at most this many bytes, then the reply names its size and SHA-256. */
export const PNG_CHUNK_BYTES = 192 * 1024;

const modelInfo = s.object({
  name, state: s.string({ maxLength: 64 }), sha256: s.string({ maxLength: 64 }), sandboxed: s.boolean(), info: s.any(), error: s.any(), queued: s.integer({ minimum: 0 }),
}, ['info', 'error']);
export type DiffusionModelInfo = Static<typeof modelInfo>;

export const imageRequest = s.object({
  model: name,
  prompt,
  negativePrompt: prompt,
  width: side,
  height: side,
  steps: s.integer({ minimum: 1, maximum: DIFFUSION_LIMITS.maxSteps }),
  guidance: s.number({ minimum: 0, maximum: DIFFUSION_LIMITS.maxGuidance }),
  seed: s.integer({ minimum: 0, maximum: DIFFUSION_LIMITS.maxSeed }),
  scheduler: s.string({ enum: SCHEDULER_KINDS }),
  /** PNG bytes: image-to-image from this picture (resized to width × height). */
  initImage: s.bytes(INIT_IMAGE_MAX_BYTES, 8),
  strength: s.number({ minimum: 0, maximum: 1 }),
  /** Who asks: the queue is round-robin across clients. */
  client: s.string({ maxLength: 128 }),
  /** Chosen by the requester so it can cancel (random, 128 bits). */
  requestId: s.string({ minLength: 16, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
}, ['negativePrompt', 'seed', 'scheduler', 'initImage', 'strength', 'client']);
export type ImageRequest = Static<typeof imageRequest>;

/** A stream chunk: progress after each denoising step, then the PNG's bytes in order. */
export const imageChunk = s.object({
  step: s.integer({ minimum: 1, maximum: DIFFUSION_LIMITS.maxSteps }),
  steps: s.integer({ minimum: 1, maximum: DIFFUSION_LIMITS.maxSteps }),
  ms: s.number({ minimum: 0 }),
  png: s.bytes(PNG_CHUNK_BYTES, 1),
}, ['step', 'steps', 'ms', 'png']);
export type ImageChunk = Static<typeof imageChunk>;

export const imageDone = s.object({
  model: name,
  seed: s.integer({ minimum: 0, maximum: DIFFUSION_LIMITS.maxSeed }),
  width: side,
  height: side,
  /** Denoising steps run (fewer than asked for image-to-image; 0 at strength 0). */
  steps: s.integer({ minimum: 0, maximum: DIFFUSION_LIMITS.maxSteps }),
  scheduler: s.string({ enum: SCHEDULER_KINDS }),
  pngBytes: s.integer({ minimum: 1 }),
  pngSha256: sha256,
  firstProgressMs: s.nullable(s.number({ minimum: 0 })),
  totalMs: s.number({ minimum: 0 }),
});
export type ImageDone = Static<typeof imageDone>;

const loaded = s.object({ name, sha256: s.string({ maxLength: 64 }), sandboxed: s.boolean(), gpu: s.any(), threads: s.integer(), loadMs: s.number() });
const refused = s.object({ name, code: s.string({ maxLength: 64 }), reason: s.string({ maxLength: 1024 }) });

export const diffusionManifest = defineManifest({
  name: 'diffusion',
  kind: 'actor',
  description: 'Loads promoted diffusion pipelines (ONNX folders) into sandboxed onnxruntime workers and streams image generations.',
  entry: 'actors/diffusion/main.js',
  serves: {
    models: {
      request: s.empty(),
      reply: s.object({ models: s.array(modelInfo, 64), available: s.array(s.string({ maxLength: 128 }), 4096) }, ['available']),
      description: 'Loaded pipelines and their worker state; `available`: promoted ONNX pipelines a request loads on demand.',
    },
    status: { request: s.empty(), reply: s.record(), description: 'Sandbox availability, unsandboxed warning, pipelines, counts.' },
    generate: {
      request: imageRequest, reply: imageDone, chunk: imageChunk, stream: true, timeoutMs: 600_000, maxBytes: INIT_IMAGE_MAX_BYTES + 16 * 1024,
      description: 'Streams { step, steps, ms } after each denoising step, then { png } pieces in order; ends with the seed, size, and the PNG\'s size and SHA-256.',
    },
    cancel: { request: s.object({ requestId: s.string({ maxLength: 64 }) }), reply: s.object({ cancelled: s.boolean() }), description: 'Cancels a generation (queued or running).' },
  },
  commands: {
    load: { request: s.object({ name }), reply: modelInfo, description: 'Load a promoted diffusion pipeline into a fresh sandboxed worker.', roles: ['operator'], timeoutMs: 300_000 },
    unload: { request: s.object({ name }), reply: s.object({ unloaded: s.boolean() }), description: 'Stop a pipeline\'s worker.', roles: ['operator'] },
  },
  publishes: {
    model_loaded: loaded,
    model_unloaded: s.object({ name, reason: s.string({ maxLength: 256 }) }, ['reason']),
    /** A pipeline was refused: a file changed since promotion, or the folder is not a pipeline the worker runs. */
    model_refused: refused,
    worker_crashed: s.object({ name, code: s.string({ maxLength: 64 }), reason: s.string({ maxLength: 1024 }) }),
    /** Evidence of one generation: hashes, never the prompt or the picture. */
    generated: s.object({
      name, sha256, promptSha256: sha256, seed: s.integer({ minimum: 0 }), width: side, height: side, steps: s.integer({ minimum: 0 }),
      scheduler: s.string({ maxLength: 16 }), img2img: s.boolean(), pngSha256: sha256, totalMs: s.number({ minimum: 0 }),
    }),
  },
  // The registry answers where a promoted pipeline lives and its signed digest; nothing else is reachable.
  requests: ['registry.get', 'registry.list', 'policy.section', 'attestor.status'],
  subscribes: ['registry.removed', 'registry.suspended', 'policy.reloaded', 'attestor.attested', 'attestor.failed'],
});
