// Ollama-compatible API: GET /api/tags, POST /api/chat and /api/generate (NDJSON streaming, the default).
import type { ServerResponse } from 'node:http';
import { ErrorCode, SecaiError, type ErrorData } from '../../../common/errors.js';
import { MAX_FORWARDED_BODY, sendJson, type ErrorShape, type Route } from '../http.js';
import type { GatewayDeps } from '../deps.js';
import { clientId, generate, readApiJson, listModels, messages, optNum, optStop, str, type GenerateCall, type GenerateDone } from './llm-common.js';

/** Ollama answers errors as { error: "message" }. */
export const ollamaErrorShape: ErrorShape = (_status: number, e: ErrorData) => ({ error: e.message, code: e.code });


function options(body: Record<string, unknown>): Omit<GenerateCall, 'mode' | 'messages' | 'prompt' | 'client' | 'model'> {
  const o = (body['options'] ?? {}) as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new SecaiError(ErrorCode.SCHEMA, 'options must be an object');
  const topP = optNum(o['top_p'], 'options.top_p', 0, 1);
  const seed = optNum(o['seed'], 'options.seed', 0, 2 ** 31 - 1, true);
  const stop = optStop(o['stop']);
  const n = optNum(o['num_predict'], 'options.num_predict', -2, 131072, true);
  return {
    maxTokens: n === undefined || n < 1 ? 512 : n,
    temperature: optNum(o['temperature'], 'options.temperature', 0, 2) ?? 0.8,
    ...(topP !== undefined && { topP }), ...(seed !== undefined && { seed }), ...(stop && { stop }),
  };
}

function final(r: GenerateDone) {
  return {
    done: true, done_reason: r.finishReason === 'length' ? 'length' : 'stop',
    total_duration: Math.round(r.totalMs * 1e6), load_duration: 0,
    prompt_eval_count: r.usage.promptTokens, eval_count: r.usage.completionTokens,
    eval_duration: Math.round(Math.max(0, r.totalMs - r.firstTokenMs) * 1e6),
  };
}

async function run(d: GatewayDeps, res: ServerResponse, call: GenerateCall, stream: boolean, kind: 'chat' | 'generate'): Promise<void> {
  const now = () => new Date().toISOString();
  const piece = (text: string) => (kind === 'chat' ? { message: { role: 'assistant', content: text } } : { response: text });
  if (!stream) {
    let text = '';
    const r = await generate(d, res, call, (t) => { text += t; });
    sendJson(res, 200, { model: call.model, created_at: now(), ...piece(text), ...final(r) });
    return;
  }
  let started = false;
  const line = (o: unknown) => {
    if (!started) {
      res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8' });
      started = true;
    }
    res.write(JSON.stringify(o) + '\n');
  };
  try {
    const r = await generate(d, res, call, (t) => line({ model: call.model, created_at: now(), ...piece(t), done: false }));
    line({ model: call.model, created_at: now(), ...piece(''), ...final(r) });
    res.end();
  } catch (err) {
    if (!started) throw err;
    const e = err as { code?: string; message?: string };
    line(ollamaErrorShape(500, { code: e.code ?? ErrorCode.INTERNAL, message: e.message ?? 'generation failed' }));
    res.end();
  }
}

export function ollamaRoutes(d: GatewayDeps): Route[] {
  return [
    {
      method: 'GET', path: '/api/tags', access: 'local-client', errorShape: ollamaErrorShape,
      handler: async ({ res }) => {
        const models = await listModels(d);
        sendJson(res, 200, {
          models: models.map((m) => ({
            name: m.name, model: m.name, modified_at: new Date(0).toISOString(), size: 0, digest: m.sha256,
            details: { format: 'gguf', family: 'llama', families: ['llama'], parameter_size: '', quantization_level: '' },
          })),
        });
      },
    },
    {
      method: 'POST', path: '/api/chat', access: 'local-client', errorShape: ollamaErrorShape,
      handler: async ({ req, res }) => {
        const body = await readApiJson(req, MAX_FORWARDED_BODY);
        const call: GenerateCall = { model: str(body['model'], 'model', 128), mode: 'chat', messages: messages(body['messages']), client: clientId(req, undefined), ...options(body) };
        await run(d, res, call, body['stream'] !== false, 'chat');
      },
    },
    {
      method: 'POST', path: '/api/generate', access: 'local-client', errorShape: ollamaErrorShape,
      handler: async ({ req, res }) => {
        const body = await readApiJson(req, MAX_FORWARDED_BODY);
        const model = str(body['model'], 'model', 128);
        if (typeof body['prompt'] !== 'string') throw new SecaiError(ErrorCode.SCHEMA, 'prompt must be a string');
        const system = typeof body['system'] === 'string' ? body['system'] : undefined;
        const call: GenerateCall = system !== undefined || body['raw'] !== true
          ? { model, mode: 'chat', messages: [...(system ? [{ role: 'system' as const, content: system }] : []), { role: 'user', content: body['prompt'] }], client: clientId(req, undefined), ...options(body) }
          : { model, mode: 'completion', prompt: body['prompt'], client: clientId(req, undefined), ...options(body) };
        await run(d, res, call, body['stream'] !== false, 'generate');
      },
    },
  ];
}
