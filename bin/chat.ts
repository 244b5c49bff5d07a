// securectl chat: a terminal chat over the appliance's own OpenAI-compatible HTTP API (loopback only).
import { parseEnv, secaiEnv } from '../common/env.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { homePaths, secaiHome } from '../common/paths.js';

export interface ChatOptions {
  model?: string;
  /** One message, answer, exit (scripts and tests); otherwise an interactive loop until /exit or EOF. */
  message?: string;
  json: boolean;
  /** Longest answer, in tokens (default: the API's). */
  maxTokens?: number;
  env?: NodeJS.ProcessEnv;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
}

export function applianceUrl(env?: NodeJS.ProcessEnv): string {
  const file = join(homePaths(secaiHome(env)).run, 'http.url');
  if (!existsSync(file)) throw new SecaiError(ErrorCode.NOT_RUNNING, `no appliance HTTP API for this SECAI_HOME (${file} is missing): run 'secai up'`);
  const url = readFileSync(file, 'utf8').trim();
  if (!/^http:\/\/(127\.0\.0\.1|\[::1\]):\d+$/.test(url)) throw new SecaiError(ErrorCode.CONFIG_INVALID, `refusing a non-loopback API URL '${url}'`);
  return url;
}

/** The API's address, and the token of policy local_api.api_token_sha256 when one is set (SECAI_API_TOKEN). */
interface Target { url: string; token: string | undefined }

async function api(to: Target, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { ...(to.token && { authorization: `Bearer ${to.token}` }), ...(body !== undefined && { 'content-type': 'application/json' }) };
  const res = await fetch(to.url + path, body === undefined ? { headers } : { method: 'POST', headers, body: JSON.stringify(body) });
  if (!res.ok) {
    const e = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
    throw new SecaiError(e.error?.code ?? ErrorCode.INTERNAL, e.error?.message ?? `HTTP ${res.status} on ${path}`);
  }
  return res;
}

/** Streams one answer, writing tokens as they come; returns the whole text. */
async function turn(url: Target, model: string, session: string, history: { role: string; content: string }[], write: (s: string) => void, maxTokens?: number): Promise<string> {
  const res = await api(url, '/v1/chat/completions', { model, messages: history, stream: true, user: session, ...(maxTokens && { max_tokens: maxTokens }) });
  let text = '';
  let buf = '';
  const decoder = new TextDecoder();
  for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(part, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = event.replace(/^data: /, '');
      if (data === '[DONE]') return text;
      const j = JSON.parse(data) as { error?: { code: string; message: string }; choices?: { delta?: { content?: string } }[] };
      if (j.error) throw new SecaiError(j.error.code, j.error.message);
      const t = j.choices?.[0]?.delta?.content ?? '';
      text += t;
      write(t);
    }
  }
  return text;
}

export async function runChat(o: ChatOptions): Promise<number> {
  const url: Target = { url: applianceUrl(o.env), token: (o.env ? parseEnv(o.env) : secaiEnv()).apiToken };
  const out = o.output ?? process.stdout;
  let model = o.model;
  if (!model) {
    const list = (await (await api(url, '/v1/models')).json()) as { data: { id: string }[] };
    model = list.data[0]?.id;
    if (!model) throw new SecaiError(ErrorCode.MODEL_NOT_LOADED, 'no model is loaded: securectl models load <name>');
  }
  const session = `chat-${randomBytes(8).toString('hex')}`;
  const history: { role: string; content: string }[] = [];
  try {
    if (o.message !== undefined) {
      history.push({ role: 'user', content: o.message });
      const text = await turn(url, model, session, history, (t) => { if (!o.json) out.write(t); }, o.maxTokens);
      if (o.json) out.write(JSON.stringify({ model, reply: text }) + '\n');
      else out.write('\n');
      return 0;
    }
    out.write(`chatting with ${model} (sealed: no network in its worker). /exit to leave.\n`);
    const rl = createInterface({ input: o.input ?? process.stdin, terminal: false });
    out.write('> ');
    for await (const line of rl) {
      if (line.trim() === '/exit') break;
      if (!line.trim()) { out.write('> '); continue; }
      history.push({ role: 'user', content: line });
      const text = await turn(url, model, session, history, (t) => out.write(t), o.maxTokens);
      history.push({ role: 'assistant', content: text });
      out.write('\n> ');
    }
    out.write('\n');
    return 0;
  } finally {
    // The session is over: per policy the model's worker restarts, so nothing of this chat stays in it.
    await api(url, '/api/secai/sessions/end', { user: session }).catch((err: unknown) => process.stderr.write(`warning: could not end the chat session: ${(err as Error).message}\n`));
  }
}
