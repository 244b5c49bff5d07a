// The typed messages between an actor and its llm worker (Node IPC channel), checked on receipt on both
// sides; errors cross as { code, message }. One TypeBox declaration gives the check and the static type.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { checkJsonSchema } from './json-schema-subset.js';

// Bounds: the inference actor's generate request (actors/inference/manifest.ts) is the largest input;
// the worker's answers are bounded here, because a compromised worker may send anything.
const closed = { additionalProperties: false } as const;
const Id = Type.String({ minLength: 1, maxLength: 128 });
const Count = Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 });
const Ms = Type.Number({ minimum: 0, maximum: 86_400_000 });

export const ChatMessage = Type.Object({
  role: Type.Union([Type.Literal('system'), Type.Literal('user'), Type.Literal('assistant')]),
  content: Type.String({ maxLength: 256 * 1024 }),
}, closed);
export type ChatMessage = Static<typeof ChatMessage>;

/** Sampling and limits of one generation; temperature 0 is greedy and reproducible. */
const generateParams = {
  maxTokens: Type.Integer({ minimum: 1, maximum: 131072 }),
  temperature: Type.Number({ minimum: 0, maximum: 2 }),
  topP: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 })),
  stop: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 8 })),
  /** Constrains the output to JSON matching this schema (the subset and bounds of json-schema-subset.ts, checked in parseToWorker). */
  jsonSchema: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
};
const GenerateParams = Type.Object(generateParams, closed);
export type GenerateParams = Static<typeof GenerateParams>;

/** Limits on a batch message, so a malformed one is refused before any work. */
export const BATCH_LIMITS = { items: 1000, idChars: 200, sequences: 64 } as const;
const BatchId = Type.String({ minLength: 1, maxLength: BATCH_LIMITS.idChars });

/** What an early stop watches for (workers/behavioral/early-stop.ts): the probe's planted strings. */
export const EarlyStopContext = Type.Object({
  canary: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  marker: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
}, closed);
export type EarlyStopContext = Static<typeof EarlyStopContext>;

/** One chat of a batch: its own token cap; with `earlyStop`, generation ends once a detector hit is certain. */
export const BatchItem = Type.Object({
  id: BatchId,
  messages: Type.Array(ChatMessage, { minItems: 1, maxItems: 512 }),
  maxTokens: Type.Integer({ minimum: 1, maximum: 32768 }),
  earlyStop: Type.Optional(EarlyStopContext),
}, closed);
export type BatchItem = Static<typeof BatchItem>;

export const ToWorker = Type.Union([
  Type.Object({
    type: Type.Literal('load'), modelPath: Type.String({ minLength: 1, maxLength: 4096 }), sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    threads: Type.Integer({ minimum: 0, maximum: 1024 }), contextSize: Type.Integer({ minimum: 1, maximum: 1 << 24 }),
    gpu: Type.Union([Type.Literal('auto'), Type.Literal(false)]),
    /** Parallel sequences of the one context (batch runs use them all; contextSize is per sequence). */
    sequences: Type.Optional(Type.Integer({ minimum: 1, maximum: BATCH_LIMITS.sequences })),
  }, closed),
  Type.Object({ type: Type.Literal('generate'), id: Id, mode: Type.Literal('chat'), messages: Type.Array(ChatMessage, { minItems: 1, maxItems: 512 }), ...generateParams }, closed),
  Type.Object({ type: Type.Literal('generate'), id: Id, mode: Type.Literal('completion'), prompt: Type.String({ maxLength: 1024 * 1024 }), ...generateParams }, closed),
  /** Greedy at temperature 0: items run over the context's sequences, each answered by an `item` message, then `batch-done`. */
  Type.Object({
    type: Type.Literal('batch'), id: BatchId, items: Type.Array(BatchItem, { minItems: 1, maxItems: BATCH_LIMITS.items }),
    temperature: Type.Number({ minimum: 0, maximum: 2 }), seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 })),
  }, closed),
  Type.Object({ type: Type.Literal('cancel'), id: Id }, closed),
  Type.Object({ type: Type.Literal('shutdown') }, closed),
]);
export type ToWorker = Static<typeof ToWorker>;

export const WorkerInfo = Type.Object({
  /** 'cuda' | 'vulkan' | 'metal' | false (CPU), as node-llama-cpp detected it. */
  gpu: Type.Union([Type.String({ minLength: 1, maxLength: 32 }), Type.Literal(false)]),
  threads: Count,
  contextSize: Count,
  architecture: Type.String({ maxLength: 64 }),
  trainContextSize: Count,
  /** Parallel sequences of the context (each has contextSize tokens). */
  sequences: Type.Integer({ minimum: 1, maximum: BATCH_LIMITS.sequences }),
  loadMs: Ms,
}, closed);
export type WorkerInfo = Static<typeof WorkerInfo>;

export const FinishReason = Type.Union([Type.Literal('stop'), Type.Literal('length'), Type.Literal('cancelled')]);
export type FinishReason = Static<typeof FinishReason>;
export const Usage = Type.Object({ promptTokens: Count, completionTokens: Count }, closed);
export type Usage = Static<typeof Usage>;
export const BatchItemResult = Type.Object({
  item: BatchId,
  text: Type.String({ maxLength: 1024 * 1024 }),
  finishReason: FinishReason,
  /** The generation ended because a detector hit was already certain (finishReason is then 'stop'). */
  stoppedEarly: Type.Boolean(),
  usage: Usage,
  totalMs: Ms,
}, closed);
export type BatchItemResult = Static<typeof BatchItemResult>;
const ErrorDataSchema = Type.Object({ code: Type.String({ pattern: '^SECAI_E_[A-Z0-9_]{1,48}$' }), message: Type.String({ maxLength: 4096 }) }, closed);

export const FromWorker = Type.Union([
  Type.Object({ type: Type.Literal('started'), pid: Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 }) }, closed),
  Type.Object({ type: Type.Literal('loaded'), info: WorkerInfo }, closed),
  /** One piece of text: a token or a few (node-llama-cpp's chunks), never a whole answer in one message. */
  Type.Object({ type: Type.Literal('token'), id: Id, text: Type.String({ maxLength: 64 * 1024 }) }, closed),
  Type.Object({ type: Type.Literal('done'), id: Id, finishReason: FinishReason, usage: Usage, firstTokenMs: Ms, totalMs: Ms }, closed),
  Type.Object({ type: Type.Literal('item'), id: BatchId, item: BatchId, text: Type.String({ maxLength: 1024 * 1024 }), finishReason: FinishReason, stoppedEarly: Type.Boolean(), usage: Usage, totalMs: Ms }, closed),
  Type.Object({ type: Type.Literal('batch-done'), id: BatchId, sequences: Type.Integer({ minimum: 1, maximum: BATCH_LIMITS.sequences }), totalMs: Ms }, closed),
  /** `id` absent: the worker failed as a whole (load failed, bad message); it exits after sending it. */
  Type.Object({ type: Type.Literal('error'), id: Type.Optional(BatchId), error: ErrorDataSchema }, closed),
]);
export type FromWorker = Static<typeof FromWorker>;

function checker<S extends TSchema>(schema: S, side: string): (m: unknown) => Static<S> {
  const c = TypeCompiler.Compile(schema);
  return (m) => {
    if (c.Check(m)) return m;
    const e = c.Errors(m).First();
    // Say where, not what: the value may be huge or hostile; the path and the rule are enough.
    const type = m && typeof m === 'object' && typeof (m as { type?: unknown }).type === 'string' ? String((m as { type: string }).type).slice(0, 32) : typeof m;
    throw new SecaiError(ErrorCode.WORKER_PROTOCOL, `malformed ${side} (${type}): ${e?.path || '/'} ${e?.message ?? 'is invalid'}`.slice(0, 512));
  };
}

const checkToWorker = checker(ToWorker, 'message to the worker');

/** Checks a message arriving at the worker from its actor; anything else is SECAI_E_WORKER_PROTOCOL. */
export function parseToWorker(m: unknown): ToWorker {
  const msg = checkToWorker(m);
  // Batch results are keyed by item id: a duplicate would make one answer look like two.
  if (msg.type === 'batch' && new Set(msg.items.map((i) => i.id)).size !== msg.items.length) {
    throw new SecaiError(ErrorCode.WORKER_PROTOCOL, 'malformed message to the worker (batch): duplicate item ids');
  }
  // Checked again here, not only by the actor: the grammar is built in this process from it.
  if (msg.type === 'generate' && msg.jsonSchema !== undefined) checkJsonSchema(msg.jsonSchema);
  return msg;
}

/** The id of a message that failed validation, when it has a usable one: its error is sent back under it, so the caller never waits forever. */
export function idOf(m: unknown): string | undefined {
  const id = m && typeof m === 'object' ? (m as Record<string, unknown>).id : undefined;
  return typeof id === 'string' && id.length > 0 && id.length <= BATCH_LIMITS.idChars ? id : undefined;
}
/** Checks a message arriving at the actor from its worker (untrusted: it runs model code); SECAI_E_WORKER_PROTOCOL otherwise. */
export const parseFromWorker = checker(FromWorker, 'message from the worker');
