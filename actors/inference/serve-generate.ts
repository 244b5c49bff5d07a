// The generate op: validates the request's shape beyond its schema, streams { text } chunks, ends with usage.
import type { CallContext } from '../../bus/service.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import type { ChatMessage } from '../../workers/protocol.js';
import type { GenerateInput } from '../../workers/llm/client.js';
import type { ModelHost } from './models.js';

export interface GenerateRequest {
  model: string;
  mode: 'chat' | 'completion';
  messages?: ChatMessage[];
  prompt?: string;
  maxTokens: number;
  temperature: number;
  topP?: number;
  seed?: number;
  stop?: string[];
  client?: string;
  requestId: string;
}

export function toInput(req: GenerateRequest): GenerateInput {
  const params = {
    maxTokens: req.maxTokens, temperature: req.temperature,
    ...(req.topP !== undefined && { topP: req.topP }), ...(req.seed !== undefined && { seed: req.seed }), ...(req.stop?.length && { stop: req.stop }),
  };
  if (req.mode === 'chat') {
    if (!req.messages?.length) throw new SecaiError(ErrorCode.SCHEMA, 'a chat needs at least one message');
    return { mode: 'chat', messages: req.messages, ...params };
  }
  if (req.prompt === undefined) throw new SecaiError(ErrorCode.SCHEMA, 'a completion needs a prompt');
  return { mode: 'completion', prompt: req.prompt, ...params };
}

/**
 * Text pieces are coalesced: the first goes out at once (time to first token), later ones are sent
 * together at most every `windowMs`, so the bus, the gateway and the HTTP client handle a message per
 * few tokens instead of one per token, and leave the cores to llama.cpp.
 */
export function coalesce(send: (text: string) => void, windowMs = 25): { push(text: string): void; flush(): void } {
  let pending = '';
  let timer: NodeJS.Timeout | undefined;
  let first = true;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending) send(pending);
    pending = '';
  };
  return {
    push(text) {
      if (first) {
        first = false;
        send(text);
        return;
      }
      pending += text;
      timer ??= setTimeout(flush, windowMs);
    },
    flush,
  };
}

export async function serveGenerate(host: ModelHost, req: GenerateRequest, call: CallContext): Promise<Record<string, unknown>> {
  const input = toInput(req);
  const out = coalesce((text) => call.chunk?.({ text }));
  let r;
  try {
    r = await host.generate(req.model, input, (text) => out.push(text), {
      requestId: req.requestId, ...(req.client !== undefined && { client: req.client }),
    });
  } finally {
    out.flush();
  }
  return { model: req.model, finishReason: r.finishReason, usage: r.usage, firstTokenMs: r.firstTokenMs, totalMs: r.totalMs };
}
