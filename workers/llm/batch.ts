// Runs a batch of chats over the parallel sequences of one context; node-llama-cpp evaluates their tokens together, step by step.
import { LlamaChat, type ChatHistoryItem, type ChatWrapper, type LlamaContext, type LlamaContextSequence } from 'node-llama-cpp';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { certainHit } from '../behavioral/early-stop.js';
import type { BatchItem, BatchItemResult, ToWorker } from '../protocol.js';
import { history } from './history.js';
import { SequencePool } from './sequence-pool.js';

type Batch = Extract<ToWorker, { type: 'batch' }>;

async function runItem(seq: LlamaContextSequence, item: BatchItem, b: Batch, chatWrapper: ChatWrapper | undefined, cancel: AbortSignal): Promise<BatchItemResult> {
  const t0 = performance.now();
  const ac = new AbortController();
  const onCancel = () => ac.abort();
  cancel.addEventListener('abort', onCancel);
  let text = '';
  let stoppedEarly = false;
  const beforeIn = seq.tokenMeter.usedInputTokens;
  const beforeOut = seq.tokenMeter.usedOutputTokens;
  const chat = new LlamaChat({ contextSequence: seq, autoDisposeSequence: false, ...(chatWrapper && { chatWrapper }) });
  const h = history(item.messages);
  // A chat that does not fit is never shortened: node-llama-cpp's context shift drops the oldest turns, and a probe
  // without its system prompt (the planted canary) or its earlier turns tests something else. The item fails instead.
  const overflow = () => new SecaiError(ErrorCode.CONTEXT_OVERFLOW,
    `item ${item.id} does not fit in the ${seq.contextSize}-token context of a sequence (its prompt plus ${item.maxTokens} tokens)`);
  let shifted = false;
  try {
    const promptTokens = chat.chatWrapper.generateContextState({ chatHistory: h }).contextText.tokenize(seq.model.tokenizer).length;
    if (promptTokens + item.maxTokens >= seq.contextSize) throw overflow();
    const r = await chat.generateResponse(h, {
      signal: ac.signal, stopOnAbortSignal: true, maxTokens: item.maxTokens, temperature: b.temperature,
      // Backstop of the check above (the wrapper may add tokens at generation time): a shift is recorded and fails the item.
      contextShift: {
        strategy: ({ chatHistory }: { chatHistory: readonly ChatHistoryItem[] }) => {
          shifted = true;
          ac.abort();
          return { chatHistory: [...chatHistory] };
        },
      },
      ...(b.seed !== undefined && { seed: b.seed }),
      onTextChunk: (chunk: string) => {
        // Nothing after the deciding chunk is kept: the text returned is the text that was judged certain.
        if (stoppedEarly || ac.signal.aborted) return;
        text += chunk;
        if (item.earlyStop && certainHit(text, item.earlyStop)) {
          stoppedEarly = true;
          ac.abort();
        }
      },
    });
    if (shifted) throw overflow();
    const stop = r.metadata.stopReason;
    return {
      item: item.id, text, stoppedEarly,
      finishReason: stoppedEarly ? 'stop' : stop === 'abort' ? 'cancelled' : stop === 'maxTokens' ? 'length' : 'stop',
      // The meter may count a token sampled past the limit; report at most what was asked for.
      usage: { promptTokens: seq.tokenMeter.usedInputTokens - beforeIn, completionTokens: Math.min(item.maxTokens, seq.tokenMeter.usedOutputTokens - beforeOut) },
      totalMs: performance.now() - t0,
    };
  } catch (err) {
    throw shifted ? overflow() : err;
  } finally {
    cancel.removeEventListener('abort', onCancel);
    chat.dispose({ disposeSequence: false });
  }
}

/**
 * Every item of the batch, at most one per sequence at a time, started in the batch's order; `onItem` gets each
 * result as it finishes. Resolves with the number of sequences used once all are done; the first failure
 * rejects (the caller answers the whole batch with that error).
 */
export async function runBatch(
  context: LlamaContext, chatWrapper: ChatWrapper | undefined, b: Batch, cancel: AbortSignal, onItem: (r: BatchItemResult) => void,
): Promise<number> {
  const pool = new SequencePool(context, b.items.length);
  // One failed item stops the others: the batch is answered with that error, and no sequence runs on for nobody.
  const stop = new AbortController();
  const onCancel = () => stop.abort();
  cancel.addEventListener('abort', onCancel);
  if (cancel.aborted) stop.abort();
  try {
    const settled = await Promise.allSettled(b.items.map((item) => pool.use(async (seq) => {
      try {
        onItem(await runItem(seq, item, b, chatWrapper, stop.signal));
      } catch (err) {
        stop.abort();
        throw err;
      }
    })));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    return pool.size;
  } finally {
    cancel.removeEventListener('abort', onCancel);
    await pool.dispose();
  }
}
