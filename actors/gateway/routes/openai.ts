// OpenAI-compatible API: GET /v1/models, POST /v1/chat/completions and /v1/completions (SSE when stream is true).
import { serveOp } from '../../../bus/op-ref.js';
import { inferenceManifest } from '../../../runtime/catalog.js';
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { ErrorData } from '../../../common/errors.js';
import { ErrorCode, SecaiError } from '../../../common/errors.js';
import { MAX_FORWARDED_BODY, sendJson, type ErrorShape, type Route } from '../http.js';
import type { GatewayDeps } from '../deps.js';
import { clientId, generate, readApiJson, listModels, messages, optNum, optStop, str, type GenerateCall, type GenerateDone } from './llm-common.js';

/** The shape the official clients parse: { error: { message, type, param, code } }. */
export const openaiErrorShape: ErrorShape = (status: number, e: ErrorData) => ({
  error: {
    message: e.message,
    type: status === 404 ? 'not_found_error' : status < 500 ? 'invalid_request_error' : 'server_error',
    param: null,
    code: e.code,
  },
});

const DEFAULT_MAX_TOKENS = 512;

function finish(r: GenerateDone['finishReason']): string {
  return r === 'length' ? 'length' : 'stop';
}

function usage(r: GenerateDone) {
  return { prompt_tokens: r.usage.promptTokens, completion_tokens: r.usage.completionTokens, total_tokens: r.usage.promptTokens + r.usage.completionTokens };
}

function sse(res: ServerResponse): (data: unknown) => void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.flushHeaders();
  return (data) => { res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`); };
}

function params(body: Record<string, unknown>): Omit<GenerateCall, 'mode' | 'messages' | 'prompt' | 'client' | 'model'> {
  const maxTokens = optNum(body['max_completion_tokens'] ?? body['max_tokens'], 'max_tokens', 1, 131072, true) ?? DEFAULT_MAX_TOKENS;
  const topP = optNum(body['top_p'], 'top_p', 0, 1);
  const seed = optNum(body['seed'], 'seed', 0, 2 ** 31 - 1, true);
  const stop = optStop(body['stop']);
  return {
    maxTokens, temperature: optNum(body['temperature'], 'temperature', 0, 2) ?? 1,
    ...(topP !== undefined && { topP }), ...(seed !== undefined && { seed }), ...(stop && { stop }),
  };
}

async function run(d: GatewayDeps, res: ServerResponse, call: GenerateCall, stream: boolean, kind: 'chat' | 'text', includeUsage = false): Promise<void> {
  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomBytes(12).toString('hex')}`;
  const created = Math.floor(Date.now() / 1000);
  if (!stream) {
    let text = '';
    const r = await generate(d, res, call, (t) => { text += t; });
    sendJson(res, 200, kind === 'chat'
      ? { id, object: 'chat.completion', created, model: call.model, choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: finish(r.finishReason), logprobs: null }], usage: usage(r) }
      : { id, object: 'text_completion', created, model: call.model, choices: [{ index: 0, text, finish_reason: finish(r.finishReason), logprobs: null }], usage: usage(r) });
    return;
  }
  let send: ((data: unknown) => void) | undefined;
  const open = () => (send ??= sse(res));
  const chunk = (delta: string | null, finishReason: string | null) => (kind === 'chat'
    ? { id, object: 'chat.completion.chunk', created, model: call.model, choices: [{ index: 0, delta: delta === null ? {} : { role: 'assistant', content: delta }, finish_reason: finishReason, logprobs: null }] }
    : { id, object: 'text_completion', created, model: call.model, choices: [{ index: 0, text: delta ?? '', finish_reason: finishReason, logprobs: null }] });
  try {
    const r = await generate(d, res, call, (t) => open()(chunk(t, null)));
    open()(chunk(null, finish(r.finishReason)));
    // stream_options.include_usage: one more chunk with empty choices and the usage, as OpenAI sends it.
    if (includeUsage) open()({ id, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model: call.model, choices: [], usage: usage(r) });
    open()('[DONE]');
    res.end();
  } catch (err) {
    // Before the first byte the router answers with a proper status; after it, the error travels in the stream.
    if (!send) throw err;
    const e = err as { code?: string; message?: string };
    send(openaiErrorShape(500, { code: e.code ?? ErrorCode.INTERNAL, message: e.message ?? 'generation failed' }));
    res.end();
  }
}

function includeUsage(body: Record<string, unknown>): boolean {
  const o = body['stream_options'];
  return !!o && typeof o === 'object' && (o as { include_usage?: unknown }).include_usage === true;
}

export function openaiRoutes(d: GatewayDeps): Route[] {
  return [
    {
      // A chat client says its session is over; per policy the model's worker restarts (no state outlives it).
      method: 'POST', path: '/api/secai/sessions/end', access: 'local-client',
      handler: async ({ req, res }) => {
        const body = await readApiJson(req, 4096);
        sendJson(res, 200, await d.bus.call(serveOp(inferenceManifest, 'end_session'), { client: clientId(req, str(body['user'], 'user', 100)) }));
      },
    },
    {
      method: 'GET', path: '/v1/models', access: 'local-client', errorShape: openaiErrorShape,
      handler: async ({ res }) => {
        const models = await listModels(d);
        sendJson(res, 200, { object: 'list', data: models.map((m) => ({ id: m.name, object: 'model', created: 0, owned_by: 'secai' })) });
      },
    },
    {
      method: 'POST', path: '/v1/chat/completions', access: 'local-client', errorShape: openaiErrorShape,
      handler: async ({ req, res }) => {
        const body = await readApiJson(req, MAX_FORWARDED_BODY);
        const call: GenerateCall = { model: str(body['model'], 'model', 128), mode: 'chat', messages: messages(body['messages']), client: clientId(req, body['user']), ...params(body) };
        await run(d, res, call, body['stream'] === true, 'chat', includeUsage(body));
      },
    },
    {
      method: 'POST', path: '/v1/completions', access: 'local-client', errorShape: openaiErrorShape,
      handler: async ({ req, res }) => {
        const body = await readApiJson(req, MAX_FORWARDED_BODY);
        const prompt = Array.isArray(body['prompt']) && body['prompt'].length === 1 ? body['prompt'][0] : body['prompt'];
        if (typeof prompt !== 'string') throw new SecaiError(ErrorCode.SCHEMA, 'prompt must be a string');
        const call: GenerateCall = { model: str(body['model'], 'model', 128), mode: 'completion', prompt, client: clientId(req, body['user']), ...params(body) };
        await run(d, res, call, body['stream'] === true, 'text', includeUsage(body));
      },
    },
  ];
}
