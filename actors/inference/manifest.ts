// The inference actor's bus contract: loaded models, streamed generation, signed load/unload. Events never carry chat text.
import { defineManifest } from '../../bus/manifest.js';
import { s, type Static } from '../../bus/schema.js';
import { containModelRequest, evictReply } from '../../contracts/model-suspension.js';

/** Who may evict a model: the incident actor alone (the ACL compiler refuses any other manifest that asks). */
export const EVICT_CALLERS = ['incident'] as const;

const name = s.string({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' });
const message = s.object({ role: s.string({ enum: ['system', 'user', 'assistant'] }), content: s.string({ maxLength: 256 * 1024 }) });
const modelInfo = s.object({
  name, state: s.string({ maxLength: 64 }), sha256: s.string({ maxLength: 64 }), sandboxed: s.boolean(), info: s.any(), error: s.any(), queued: s.integer({ minimum: 0 }),
}, ['info', 'error']);
/** One loaded model as `models` and `status` list it. */
export type ModelInfo = Static<typeof modelInfo>;

export const generateRequest = s.object({
  model: name,
  mode: s.string({ enum: ['chat', 'completion'] }),
  messages: s.array(message, 512),
  prompt: s.string({ maxLength: 1024 * 1024 }),
  maxTokens: s.integer({ minimum: 1, maximum: 131072 }),
  temperature: s.number({ minimum: 0, maximum: 2 }),
  topP: s.number({ minimum: 0, maximum: 1 }),
  seed: s.integer({ minimum: 0, maximum: 2 ** 31 - 1 }),
  stop: s.array(s.string({ minLength: 1, maxLength: 256 }), 8),
  /** Constrains the output to JSON matching this schema: a bounded subset, checked by the op (SECAI_E_JSON_SCHEMA_UNSUPPORTED). */
  jsonSchema: s.record(),
  /** Who asks: the fair queue is round-robin across clients. */
  client: s.string({ maxLength: 128 }),
  /** Chosen by the requester so it can cancel (random, 128 bits). */
  requestId: s.string({ minLength: 16, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
}, ['messages', 'prompt', 'topP', 'seed', 'stop', 'jsonSchema', 'client']);

/** The end of a generation; before it, `generateChunk`s carry the text as it comes. */
const generateDone = s.object({
  model: name,
  finishReason: s.string({ enum: ['stop', 'length', 'cancelled'] }),
  usage: s.object({ promptTokens: s.integer({ minimum: 0 }), completionTokens: s.integer({ minimum: 0 }) }),
  firstTokenMs: s.number(),
  totalMs: s.number(),
});
export type GenerateDone = Static<typeof generateDone>;
const generateChunk = s.object({ text: s.string({ maxLength: 1024 * 1024 }) });

const loaded = s.object({ name, sha256: s.string({ maxLength: 64 }), sandboxed: s.boolean(), gpu: s.any(), threads: s.integer(), loadMs: s.number() });
const refused = s.object({ name, code: s.string({ maxLength: 64 }), reason: s.string({ maxLength: 1024 }) });

export const inferenceManifest = defineManifest({
  name: 'inference',
  kind: 'actor',
  description: 'Loads promoted models into sandboxed llm workers (one per model) and streams generations.',
  entry: 'actors/inference/main.js',
  serves: {
    models: {
      request: s.empty(),
      reply: s.object({ models: s.array(modelInfo, 64), available: s.array(s.string({ maxLength: 128 }), 4096) }, ['available']),
      description: 'Loaded models and their worker state; `available`: promoted models a request loads on demand (policy inference.load_on_demand).',
    },
    status: { request: s.empty(), reply: s.record(), description: 'Sandbox availability, unsandboxed warning, GPU, models.' },
    generate: {
      request: generateRequest, reply: generateDone, chunk: generateChunk, stream: true, timeoutMs: 120_000, maxBytes: 2 * 1024 * 1024,
      description: 'Streams { text } chunks, then { finishReason, usage, firstTokenMs, totalMs }.',
    },
    cancel: { request: s.object({ requestId: s.string({ maxLength: 64 }) }), reply: s.object({ cancelled: s.boolean() }), description: 'Cancels a generation (client went away).' },
    end_session: { request: s.object({ client: s.string({ maxLength: 128 }) }), reply: s.object({ restarted: s.integer() }), description: 'A chat session ended: workers restart per policy.' },
    evict: {
      request: containModelRequest, reply: evictReply, callers: EVICT_CALLERS, maxBytes: 4096, timeoutMs: 60_000,
      description: 'Incident containment: unload a model (by name or SHA-256: every loaded name of those bytes) now; its generations end with SECAI_E_MODEL_SUSPENDED.',
    },
  },
  commands: {
    load: { request: s.object({ name }), reply: modelInfo, description: 'Load a promoted model into a fresh sandboxed worker.', roles: ['operator'] },
    unload: { request: s.object({ name }), reply: s.object({ unloaded: s.boolean() }), description: 'Stop a model\'s worker.', roles: ['operator'] },
  },
  publishes: {
    model_loaded: loaded,
    model_unloaded: s.object({ name, reason: s.string({ maxLength: 256 }) }, ['reason']),
    /** A model was refused: its file changed since promotion, or its header is invalid. */
    model_refused: refused,
    worker_crashed: s.object({ name, code: s.string({ maxLength: 64 }), reason: s.string({ maxLength: 1024 }) }),
  },
  // The registry answers where a promoted model lives and its signed SHA-256; nothing else is reachable.
  requests: ['registry.get', 'registry.list', 'policy.section', 'attestor.status'],
  // A model removed from the registry, or suspended by an incident, is unloaded at once (runtime/unload-removed.ts);
  // its policy section follows reloads.
  subscribes: ['registry.removed', 'registry.suspended', 'policy.reloaded', 'attestor.attested', 'attestor.failed'],
});
