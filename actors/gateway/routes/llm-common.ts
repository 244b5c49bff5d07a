// Shared by the OpenAI- and Ollama-compatible routes: one streamed generation over the bus, cancelled when the client leaves.
import { serveOp, type ReplyOf } from '../../../bus/op-ref.js';
import { inferenceManifest } from '../../../runtime/catalog.js';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, SecaiError } from '../../../common/errors.js';
import type { ChatMessage } from '../../../workers/protocol.js';
import type { GatewayDeps } from '../deps.js';
import { readJson } from '../http.js';
import { requireJsonBody } from '../origin-check.js';
import type { GenerateRequest } from '../../../contracts/generate-request.js';


/** The inference actor's generate request (its wire type), without the id the gateway adds per call. */
export type GenerateCall = Omit<GenerateRequest, 'requestId' | 'client'> & { client: string };

const generateOp = serveOp(inferenceManifest, 'generate');
export type GenerateDone = ReplyOf<typeof generateOp>;

const bad = (msg: string) => new SecaiError(ErrorCode.SCHEMA, msg);

/** A request body of the local model API: application/json only (a foreign page cannot send that without asking first). */
export function readApiJson<T = Record<string, unknown>>(req: IncomingMessage, maxBytes: number): Promise<T> {
  requireJsonBody(req);
  return readJson<T>(req, maxBytes);
}

export function str(v: unknown, what: string, max = 256): string {
  if (typeof v !== 'string' || !v.length || v.length > max) throw bad(`${what} must be a non-empty string`);
  return v;
}

export function optNum(v: unknown, what: string, min: number, max: number, int = false): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (int && !Number.isInteger(v))) throw bad(`${what} must be a number in [${min}, ${max}]`);
  return v;
}

export function optStop(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  const a = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(a) || a.length > 8 || !a.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 256)) throw bad('stop must be a string or up to 8 strings');
  return a as string[];
}

/** OpenAI content may be a string or text parts; other parts (images) are refused. */
export function messages(v: unknown): ChatMessage[] {
  if (!Array.isArray(v) || !v.length || v.length > 512) throw bad('messages must be a non-empty array');
  return v.map((m, i) => {
    const role = (m as { role?: unknown })?.role;
    if (role !== 'system' && role !== 'user' && role !== 'assistant') throw bad(`messages[${i}].role must be system, user or assistant`);
    let content = (m as { content?: unknown }).content;
    if (Array.isArray(content)) {
      content = content.map((p: unknown) => {
        if ((p as { type?: unknown })?.type !== 'text' || typeof (p as { text?: unknown }).text !== 'string') throw bad(`messages[${i}].content: only text parts are supported`);
        return (p as { text: string }).text;
      }).join('');
    }
    if (typeof content !== 'string') throw bad(`messages[${i}].content must be a string`);
    return { role, content };
  });
}

export function clientId(req: IncomingMessage, user: unknown): string {
  return typeof user === 'string' && user.length && user.length <= 100 ? `user:${user}` : `conn:${req.socket.remotePort ?? 0}`;
}

/**
 * Runs one generation: chunks to onText, the final result returned. If the HTTP client goes away
 * first, the inference actor is told to cancel, and the promise settles with CANCELLED.
 */
export async function generate(d: GatewayDeps, res: ServerResponse, call: GenerateCall, onText: (text: string) => void): Promise<GenerateDone> {
  const requestId = randomBytes(16).toString('base64url');
  const payload = withoutUndefined({ ...call, requestId });
  let gone = false;
  const onClose = () => {
    if (res.writableFinished) return;
    gone = true;
    void d.bus.call(serveOp(inferenceManifest, 'cancel'), { requestId }).catch((err: unknown) => d.log.warn({ requestId, err: (err as Error).message }, 'cancel not delivered'));
  };
  res.once('close', onClose);
  let finished = false;
  try {
    const it = d.bus.callStream(generateOp, payload, 120_000);
    for (;;) {
      const r = await it.next();
      if (r.done) { finished = true; return r.value; }
      if (gone) {
        await it.return(undefined as never);
        throw new SecaiError(ErrorCode.CANCELLED, 'the client went away');
      }
      onText(r.value.text);
    }
  } catch (err) {
    // A timeout or a lost bus reply must not leave the generation running for nobody.
    if (!finished && !gone) void d.bus.call(serveOp(inferenceManifest, 'cancel'), { requestId }).catch((e: unknown) => d.log.warn({ requestId, err: (e as Error).message }, 'cancel not delivered'));
    throw err;
  } finally {
    res.off('close', onClose);
  }
}

/** Keys set to undefined are left out: the request schema is closed and a key means a value. */
function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Loaded models, then the promoted ones a request would load on demand (state `available`). */
export async function listModels(d: GatewayDeps): Promise<{ name: string; sha256: string; state: string }[]> {
  const r = await d.bus.call(serveOp(inferenceManifest, 'models'), {});
  return [...r.models, ...(r.available ?? []).map((name) => ({ name, sha256: '', state: 'available' }))];
}
