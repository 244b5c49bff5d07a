// The llm worker: hosts node-llama-cpp behind the IPC channel. It is the blast wall: a llama.cpp abort kills only it.
import {
  getLlama, LlamaChat, LlamaCompletion, resolveChatWrapper, type ChatWrapper, type Llama, type LlamaContext, type LlamaModel,
} from 'node-llama-cpp';
import { ErrorCode, SecaiError, toErrorData } from '../../common/errors.js';
import { inferenceThreads } from '../cpu.js';
import { idOf, parseToWorker, type FromWorker, type ToWorker } from '../protocol.js';
import { runBatch } from './batch.js';
import { history } from './history.js';
import { checkHyperparameters } from './hyperparameters.js';
import { sha256File } from '../../common/hash-file.js';
import { actorChannel, serveActor } from '../worker-main.js';

type Generate = Extract<ToWorker, { type: 'generate' }>;

let llama: Llama | undefined;
let model: LlamaModel | undefined;
let context: LlamaContext | undefined;
/** Resolved once per load: building it (template checks) costs about a second on every LlamaChat otherwise. */
let chatWrapper: ChatWrapper | undefined;
const running = new Map<string, AbortController>();
let chain: Promise<void> = Promise.resolve();

const { send, sendAndExit } = actorChannel<FromWorker>();

async function load(m: Extract<ToWorker, { type: 'load' }>): Promise<void> {
  const t0 = performance.now();
  const actual = await sha256File(m.modelPath).catch((err: Error) => {
    throw new SecaiError(ErrorCode.MODEL_INVALID, `cannot read the model: ${err.message}`);
  });
  // The registry's hash is re-checked here, inside the sandbox, on the very bytes llama.cpp will map.
  if (actual !== m.sha256) throw new SecaiError(ErrorCode.DIGEST_MISMATCH, `model file changed since promotion: sha256 ${actual} != ${m.sha256}`);
  const hp = await checkHyperparameters(m.modelPath);
  const threads = m.threads > 0 ? m.threads : inferenceThreads();
  llama = await getLlama({ gpu: m.gpu, logLevel: 'error' as never, logger: (_level: unknown, text: string) => process.stderr.write(text + '\n') } as never);
  model = await llama.loadModel({ modelPath: m.modelPath });
  const contextSize = Math.min(m.contextSize, hp.contextLength);
  // contextSize is per sequence: a batch gives each of its sequences a whole window.
  context = await model.createContext({ contextSize, threads, sequences: m.sequences ?? 1 });
  chatWrapper = resolveChatWrapper(model);
  send({
    type: 'loaded',
    info: { gpu: llama.gpu, threads, contextSize, architecture: hp.architecture, trainContextSize: hp.contextLength, sequences: m.sequences ?? 1, loadMs: performance.now() - t0 },
  });
}

async function batch(m: Extract<ToWorker, { type: 'batch' }>): Promise<void> {
  if (!model || !context) throw new SecaiError(ErrorCode.NOT_READY, 'no model is loaded');
  const ac = running.get(m.id) ?? new AbortController();
  running.set(m.id, ac);
  const t0 = performance.now();
  try {
    const sequences = await runBatch(context, chatWrapper, m, ac.signal, (r) => send({ type: 'item', id: m.id, ...r }));
    send({ type: 'batch-done', id: m.id, sequences, totalMs: performance.now() - t0 });
  } finally {
    running.delete(m.id);
  }
}

async function generate(m: Generate): Promise<void> {
  if (!model || !context) throw new SecaiError(ErrorCode.NOT_READY, 'no model is loaded');
  const ac = running.get(m.id) ?? new AbortController();
  running.set(m.id, ac);
  if (ac.signal.aborted) {
    send({ type: 'done', id: m.id, finishReason: 'cancelled', usage: { promptTokens: 0, completionTokens: 0 }, firstTokenMs: 0, totalMs: 0 });
    return;
  }
  const t0 = performance.now();
  let first = 0;
  let completion = 0;
  const seq = context.getSequence();
  try {
    // The schema was checked on receipt (parseToWorker); the grammar forces every token to keep the text valid JSON of it.
    const grammar = m.jsonSchema && llama
      ? await llama.createGrammarForJsonSchema(m.jsonSchema as never).catch((err: Error) => {
        throw new SecaiError(ErrorCode.JSON_SCHEMA_UNSUPPORTED, `jsonSchema: no grammar could be built: ${err.message}`.slice(0, 512));
      })
      : undefined;
    const opts = {
      signal: ac.signal, ...(grammar && { grammar }), stopOnAbortSignal: true, maxTokens: m.maxTokens, temperature: m.temperature,
      ...(m.topP !== undefined && { topP: m.topP }), ...(m.seed !== undefined && { seed: m.seed }),
      ...(m.stop?.length && { customStopTriggers: m.stop }),
      onTextChunk: (text: string) => {
        if (!first) first = performance.now() - t0;
        send({ type: 'token', id: m.id, text });
      },
    };
    let stopReason: string;
    const before = seq.tokenMeter.usedInputTokens;
    const beforeOut = seq.tokenMeter.usedOutputTokens;
    if (m.mode === 'chat') {
      const chat = new LlamaChat({ contextSequence: seq, autoDisposeSequence: false, ...(chatWrapper && { chatWrapper }) });
      try {
        const r = await chat.generateResponse(history(m.messages), opts);
        stopReason = r.metadata.stopReason;
      } finally {
        chat.dispose({ disposeSequence: false });
      }
    } else {
      const c = new LlamaCompletion({ contextSequence: seq, autoDisposeSequence: false });
      try {
        const r = await c.generateCompletionWithMeta(m.prompt, opts);
        stopReason = r.metadata.stopReason;
      } finally {
        c.dispose({ disposeSequence: false });
      }
    }
    // The meter also counts a token sampled after the limit (completion mode); report what was returned.
    completion = Math.min(m.maxTokens, seq.tokenMeter.usedOutputTokens - beforeOut);
    send({
      type: 'done', id: m.id,
      finishReason: stopReason === 'abort' ? 'cancelled' : stopReason === 'maxTokens' ? 'length' : 'stop',
      usage: { promptTokens: seq.tokenMeter.usedInputTokens - before, completionTokens: completion },
      firstTokenMs: first, totalMs: performance.now() - t0,
    });
  } finally {
    running.delete(m.id);
    await seq.dispose();
  }
}

function onMessage(m: ToWorker): void {
  switch (m.type) {
    case 'load':
      chain = chain.then(() => load(m)).catch((err: unknown) => sendAndExit({ type: 'error', error: toErrorData(err) }));
      return;
    case 'generate':
      if (!running.has(m.id)) running.set(m.id, new AbortController());
      // One sequence: requests run one after another; the actor's queue decides the order.
      chain = chain.then(() => generate(m)).catch((err: unknown) => send({ type: 'error', id: m.id, error: toErrorData(err) }));
      return;
    case 'batch':
      if (!running.has(m.id)) running.set(m.id, new AbortController());
      chain = chain.then(() => batch(m)).catch((err: unknown) => send({ type: 'error', id: m.id, error: toErrorData(err) }));
      return;
    case 'cancel':
      running.get(m.id)?.abort();
      return;
    case 'shutdown':
      void chain.finally(async () => {
        await context?.dispose();
        await model?.dispose();
        await llama?.dispose();
        process.exit(0);
      });
  }
}

serveActor<ToWorker, FromWorker>({
  label: 'llm worker',
  parse: parseToWorker,
  // Answered under the message's own id when it has one: a caller waiting on that id must not wait forever.
  refuse: (raw, err) => {
    const id = idOf(raw);
    return { type: 'error', ...(id !== undefined && { id }), error: toErrorData(err) };
  },
  dispatch: onMessage,
  started: (pid) => ({ type: 'started', pid }),
});
