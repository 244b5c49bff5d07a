// The generate op: validates the request's shape beyond its schema, streams { text } chunks, ends with usage.
import type { CallContext } from '../../bus/service.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { checkJsonSchema } from '../../workers/json-schema-subset.js';
import type { GenerateInput } from '../../workers/llm/client.js';
import type { GenerateDone } from './manifest.js';
import type { ModelHost } from './models.js';
import type { GenerateRequest } from '../../contracts/generate-request.js';


export function toInput(req: GenerateRequest): GenerateInput {
  const params = {
    maxTokens: req.maxTokens, temperature: req.temperature,
    ...(req.topP !== undefined && { topP: req.topP }), ...(req.seed !== undefined && { seed: req.seed }), ...(req.stop?.length && { stop: req.stop }),
    // Refused here, before any queueing, with SECAI_E_JSON_SCHEMA_UNSUPPORTED: the worker checks it again.
    ...(req.jsonSchema !== undefined && { jsonSchema: checkJsonSchema(req.jsonSchema) }),
  };
  if (req.mode === 'chat') {
    if (!req.messages?.length) throw new SecaiError(ErrorCode.SCHEMA, 'a chat needs at least one message');
    return { mode: 'chat', messages: req.messages, ...params };
  }
  if (req.prompt === undefined) throw new SecaiError(ErrorCode.SCHEMA, 'a completion needs a prompt');
  return { mode: 'completion', prompt: req.prompt, ...params };
}

export async function serveGenerate(host: ModelHost, req: GenerateRequest, call: CallContext): Promise<GenerateDone> {
  const input = toInput(req);
  const r = await host.generate(req.model, input, (text) => call.chunk?.({ text }), {
    requestId: req.requestId, ...(req.client !== undefined && { client: req.client }),
  });
  return { model: req.model, finishReason: r.finishReason, usage: r.usage, firstTokenMs: r.firstTokenMs, totalMs: r.totalMs };
}
