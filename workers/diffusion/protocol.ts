// The typed messages between the diffusion actor and its worker (Node IPC channel, json), checked on receipt on
// both sides; errors cross as { code, message }. One TypeBox declaration gives the check and the static type.
import { Type, type Static, type TObject, type TUnion } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ErrorCode, SecaiError } from '../../common/errors.js';

/** The bounds of one generation (policy may cap them lower in the actor); the pipeline checks them again. */
export const DIFFUSION_LIMITS = {
  promptChars: 2000,
  minSide: 64,
  maxSide: 2048,
  /** Width and height are multiples of this: the VAE downsamples by 8. */
  sideMultiple: 8,
  maxSteps: 150,
  maxGuidance: 30,
  maxSeed: 2 ** 32 - 1,
  /** An init image (base64 PNG) and its decoded size; it is resized to the requested size inside the worker. */
  initImageBase64Chars: 16 * 1024 * 1024,
  initImageMaxSide: 4096,
  /** The worker's answer: a 2048x2048 RGB PNG is at most ~12.6 MB stored, ~16.8 M chars in base64. */
  pngBase64Chars: 24 * 1024 * 1024,
  /** Files one model folder may list (every file the pipeline reads, external weight data included). */
  files: 256,
} as const;

/** The scheduler kinds the worker runs (workers/diffusion/schedulers). */
export const SCHEDULER_KINDS = ['euler', 'euler_a', 'ddim', 'lcm'] as const;
export const SchedulerKind = Type.Union(SCHEDULER_KINDS.map((k) => Type.Literal(k)));
export type SchedulerKind = Static<typeof SchedulerKind>;

const closed = { additionalProperties: false } as const;
const Id = Type.String({ minLength: 1, maxLength: 128 });
const Ms = Type.Number({ minimum: 0, maximum: 86_400_000 });
const Count = Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 });
const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });
const Base64 = (maxLength: number) => Type.String({ minLength: 4, maxLength, pattern: '^[A-Za-z0-9+/]+={0,2}$' });
/** A path inside the model folder: relative, '/'-separated, no '.', '..' or empty segments. */
const Rel = Type.String({ minLength: 1, maxLength: 512, pattern: '^(?!.*(^|/)\\.{1,2}(/|$))(?!/)(?!.*//)[A-Za-z0-9._/+-]+$' });
const Side = Type.Integer({ minimum: DIFFUSION_LIMITS.minSide, maximum: DIFFUSION_LIMITS.maxSide, multipleOf: DIFFUSION_LIMITS.sideMultiple });
const Seed = Type.Integer({ minimum: 0, maximum: DIFFUSION_LIMITS.maxSeed });
const Prompt = Type.String({ maxLength: DIFFUSION_LIMITS.promptChars });
export const Provider = Type.Union([Type.Literal('cpu'), Type.Literal('cuda')]);
export type Provider = Static<typeof Provider>;

export const ModelFile = Type.Object({ rel: Rel, sha256: Sha256 }, closed);
export type ModelFile = Static<typeof ModelFile>;

/** One generation; with `initImage` it is img2img (`strength` 0..1, default 0.8, needs a vae_encoder). */
export const GenerateParams = Type.Object({
  prompt: Prompt,
  negativePrompt: Type.Optional(Prompt),
  width: Side,
  height: Side,
  steps: Type.Integer({ minimum: 1, maximum: DIFFUSION_LIMITS.maxSteps }),
  guidance: Type.Number({ minimum: 0, maximum: DIFFUSION_LIMITS.maxGuidance }),
  seed: Type.Optional(Seed),
  scheduler: Type.Optional(SchedulerKind),
  initImage: Type.Optional(Base64(DIFFUSION_LIMITS.initImageBase64Chars)),
  strength: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
}, closed);
export type GenerateParams = Static<typeof GenerateParams>;

export const ToWorker = Type.Union([
  /** Every file the pipeline reads is listed and re-hashed in the sandbox before any session is created. */
  Type.Object({
    type: Type.Literal('load'),
    modelDir: Type.String({ minLength: 2, maxLength: 4096, pattern: '^/' }),
    files: Type.Array(ModelFile, { minItems: 1, maxItems: DIFFUSION_LIMITS.files }),
    /** 0: one per physical core but one (workers/cpu.ts). */
    threads: Type.Integer({ minimum: 0, maximum: 1024 }),
    provider: Provider,
  }, closed),
  Type.Object({ type: Type.Literal('generate'), id: Id, ...GenerateParams.properties }, closed),
  Type.Object({ type: Type.Literal('cancel'), id: Id }, closed),
  /** Cancels what runs, releases the sessions and exits 0: a worker holds one model for its whole life. */
  Type.Object({ type: Type.Literal('unload') }, closed),
]);
export type ToWorker = Static<typeof ToWorker>;

const Name = Type.String({ minLength: 1, maxLength: 128 });
const Io = Type.Object({ inputs: Type.Array(Name, { maxItems: 16 }), outputs: Type.Array(Name, { maxItems: 16 }) }, closed);

export const PipelineInfo = Type.Object({
  /** model_index.json `_class_name` ('' when absent). */
  className: Type.String({ maxLength: 128 }),
  provider: Provider,
  threads: Count,
  /** The folder's own scheduler (from scheduler_config.json), used when a request names none. */
  scheduler: SchedulerKind,
  schedulerClass: Type.String({ maxLength: 128 }),
  timestepType: Type.Union([Type.Literal('int64'), Type.Literal('float32')]),
  inputIdsType: Type.Union([Type.Literal('int32'), Type.Literal('int64')]),
  /** The VAE encoder's output; null when the folder has no vae_encoder (then img2img is refused). */
  encoderOutput: Type.Union([Type.Literal('latent_parameters'), Type.Literal('latent_sample'), Type.Null()]),
  hidden: Count,
  latentChannels: Count,
  vaeScaleFactor: Count,
  scalingFactor: Type.Number({ minimum: 0, maximum: 1000 }),
  maxLength: Count,
  /** The UNet's native latent size (unet/config.json sample_size; 0 when unknown): pixels = sampleSize * vaeScaleFactor. */
  sampleSize: Count,
  io: Type.Object({ textEncoder: Io, unet: Io, vaeDecoder: Io, vaeEncoder: Type.Union([Io, Type.Null()]) }, closed),
}, closed);
export type PipelineInfo = Static<typeof PipelineInfo>;

const ErrorFields = { code: Type.String({ pattern: '^SECAI_E_[A-Z0-9_]{1,48}$' }), message: Type.String({ maxLength: 4096 }) };

export const FromWorker = Type.Union([
  Type.Object({ type: Type.Literal('ready'), pid: Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 }) }, closed),
  Type.Object({ type: Type.Literal('loaded'), ms: Ms, info: PipelineInfo }, closed),
  /** After each denoising step: `step` of `steps` (the steps this request runs: fewer than asked for img2img), `ms` that step took. */
  Type.Object({ type: Type.Literal('progress'), id: Id, step: Type.Integer({ minimum: 1, maximum: DIFFUSION_LIMITS.maxSteps }), steps: Type.Integer({ minimum: 1, maximum: DIFFUSION_LIMITS.maxSteps }), ms: Ms }, closed),
  Type.Object({
    type: Type.Literal('done'), id: Id, png: Base64(DIFFUSION_LIMITS.pngBase64Chars), seed: Seed, width: Side, height: Side, ms: Ms,
    /** Denoising steps run (0 for img2img at strength 0). */
    steps: Type.Integer({ minimum: 0, maximum: DIFFUSION_LIMITS.maxSteps }),
  }, closed),
  Type.Object({ type: Type.Literal('failed'), id: Id, ...ErrorFields }, closed),
  Type.Object({ type: Type.Literal('cancelled'), id: Id }, closed),
  /** Not about one generation: a load that failed (the worker then exits), a malformed message (it goes on). */
  Type.Object({ type: Type.Literal('error'), ...ErrorFields }, closed),
]);
export type FromWorker = Static<typeof FromWorker>;

function checker<S extends TUnion>(schema: S, side: string): (m: unknown) => Static<S> {
  const c = TypeCompiler.Compile(schema);
  // A union's own error says only "Expected union value": the member of the message's type names the path.
  const members = new Map(schema.anyOf.map((s) => [(s as TObject).properties.type?.const as string, TypeCompiler.Compile(s)]));
  return (m) => {
    if (c.Check(m)) return m;
    const type = m && typeof m === 'object' && typeof (m as { type?: unknown }).type === 'string' ? String((m as { type: string }).type).slice(0, 32) : typeof m;
    const e = (members.get(type) ?? c).Errors(m).First();
    // Say where, not what: the value may be huge or hostile; the path and the rule are enough.
    throw new SecaiError(ErrorCode.WORKER_PROTOCOL, `malformed ${side} (${type}): ${e?.path || '/'} ${e?.message ?? 'is invalid'}`.slice(0, 512));
  };
}

/** Checks a message arriving at the worker from its actor; anything else is SECAI_E_WORKER_PROTOCOL. */
export const parseToWorker = checker(ToWorker, 'message to the diffusion worker');
/** Checks a message arriving at the actor from its worker (untrusted: it parses model files and images); SECAI_E_WORKER_PROTOCOL otherwise. */
export const parseFromWorker = checker(FromWorker, 'message from the diffusion worker');

/** The id of a message that failed validation, when it has a usable one: its failure is sent back under it. */
export function idOf(m: unknown): string | undefined {
  const id = m && typeof m === 'object' ? (m as Record<string, unknown>).id : undefined;
  return typeof id === 'string' && id.length > 0 && id.length <= 128 ? id : undefined;
}
