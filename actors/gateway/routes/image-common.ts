// Shared by the image routes: one generation streamed over the bus (progress, then the PNG's pieces reassembled and
// checked against the size and SHA-256 the reply names), cancelled when the HTTP client leaves; request field checks.
import { createHash, randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { serveOp, type ReplyOf, type RequestOf } from '../../../bus/op-ref.js';
import { ErrorCode, SecaiError } from '../../../common/errors.js';
import { diffusionManifest, INIT_IMAGE_MAX_BYTES } from '../../../runtime/catalog.js';
import { DIFFUSION_LIMITS, SCHEDULER_KINDS } from '../../../workers/diffusion/protocol.js';
import type { GatewayDeps } from '../deps.js';

const generateOp = serveOp(diffusionManifest, 'generate');
const cancelOp = serveOp(diffusionManifest, 'cancel');

/** The diffusion actor's generate request without the id the gateway adds per call. */
export type ImageCall = Omit<RequestOf<typeof generateOp>, 'requestId'>;
export type ImageDone = ReplyOf<typeof generateOp>;
export interface ImageResult { done: ImageDone; png: Buffer }
export interface ImageProgress { step: number; steps: number; ms: number }

/** The largest init image one bus request carries (the diffusion manifest's bound). */
export { INIT_IMAGE_MAX_BYTES };
/** The most PNG bytes accepted back: what the worker's own bound allows (a 2048² RGB PNG, stored). */
const MAX_PNG_BYTES = (DIFFUSION_LIMITS.pngBase64Chars / 4) * 3;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
export const bad = (msg: string): SecaiError => new SecaiError(ErrorCode.SCHEMA, msg);

/** A fresh request id: random, 128 bits, in the diffusion manifest's alphabet. */
export const newRequestId = (): string => randomBytes(16).toString('base64url');

/** Refuses keys the route does not know: a misspelt option must not silently mean its default. */
export function onlyKnown(body: unknown, known: readonly string[], what: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad(`${what} must be a JSON object`);
  const extra = Object.keys(body).find((k) => !known.includes(k));
  if (extra !== undefined) throw bad(`unknown field '${extra.slice(0, 64)}' in ${what}`);
  return body as Record<string, unknown>;
}

export function int(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(`${what} must be an integer from ${min} to ${max}`);
  return v;
}

export function num(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw bad(`${what} must be a number from ${min} to ${max}`);
  return v;
}

export function text(v: unknown, what: string, o: { min?: number } = {}): string {
  if (typeof v !== 'string' || v.length < (o.min ?? 0) || v.length > DIFFUSION_LIMITS.promptChars) throw bad(`${what} must be a string of ${o.min ?? 0} to ${DIFFUSION_LIMITS.promptChars} characters`);
  return v;
}

export function modelName(v: unknown): string {
  if (typeof v !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(v)) throw bad('model must name a promoted diffusion pipeline');
  return v;
}

export function scheduler(v: unknown): (typeof SCHEDULER_KINDS)[number] {
  if (!(SCHEDULER_KINDS as readonly unknown[]).includes(v)) throw bad(`scheduler must be one of ${SCHEDULER_KINDS.join(', ')}`);
  return v as (typeof SCHEDULER_KINDS)[number];
}

/** A side in pixels: a multiple of 8 (the VAE's factor) from the worker's minimum to policy diffusion.max_side. */
export function side(v: unknown, what: string, maxSide: number): number {
  const n = int(v, what, DIFFUSION_LIMITS.minSide, maxSide);
  if (n % DIFFUSION_LIMITS.sideMultiple) throw bad(`${what} must be a multiple of ${DIFFUSION_LIMITS.sideMultiple}`);
  return n;
}

/** An init image sent as base64: a PNG (the worker decodes PNG only) of at most one bus message. */
export function initImage(v: unknown): Buffer {
  if (typeof v !== 'string' || !v.length || v.length % 4 || !BASE64.test(v)) throw bad('initImage must be a base64-encoded PNG');
  const png = Buffer.from(v, 'base64');
  if (png.length > INIT_IMAGE_MAX_BYTES) throw new SecaiError(ErrorCode.PAYLOAD_TOO_LARGE, `the init image is ${png.length} bytes, more than the ${INIT_IMAGE_MAX_BYTES} one request carries`);
  if (png.length < 33 || !png.subarray(0, 8).equals(PNG_SIGNATURE)) throw new SecaiError(ErrorCode.IMAGE_INVALID, 'the init image is not a PNG');
  return png;
}

/**
 * Runs one generation: progress to onProgress as each step ends, the PNG reassembled from its pieces and checked
 * against the reply's size and SHA-256. If the HTTP client goes away first, the diffusion actor is told to cancel,
 * and the promise settles with CANCELLED.
 */
export async function runImage(d: GatewayDeps, res: ServerResponse, call: ImageCall, onProgress: (p: ImageProgress) => void, requestId = newRequestId()): Promise<ImageResult> {
  const cancel = () => void d.bus.call(cancelOp, { requestId }).catch((err: unknown) => d.log.warn({ requestId, err: (err as Error).message }, 'cancel not delivered'));
  let gone = false;
  const onClose = () => {
    if (res.writableFinished) return;
    gone = true;
    cancel();
  };
  res.once('close', onClose);
  const pieces: Buffer[] = [];
  let size = 0;
  let done: ImageDone | undefined;
  try {
    // The idle bound is the op's own (its queue wait and an on-demand load come before the first chunk).
    const it = d.bus.callStream(generateOp, { ...call, requestId });
    for (;;) {
      const r = await it.next();
      if (r.done) { done = r.value; break; }
      if (gone) {
        await it.return(undefined as never);
        throw new SecaiError(ErrorCode.CANCELLED, 'the client went away');
      }
      const c = r.value;
      if (c.png) {
        size += c.png.length;
        if (size > MAX_PNG_BYTES) throw new SecaiError(ErrorCode.WORKER_PROTOCOL, `the PNG is larger than ${MAX_PNG_BYTES} bytes`);
        pieces.push(Buffer.from(c.png));
      } else if (c.step !== undefined && c.steps !== undefined) {
        if (pieces.length) throw new SecaiError(ErrorCode.WORKER_PROTOCOL, 'progress after the PNG began');
        onProgress({ step: c.step, steps: c.steps, ms: c.ms ?? 0 });
      }
    }
  } catch (err) {
    // A timeout or a lost bus reply must not leave the generation running for nobody.
    if (!done && !gone) cancel();
    throw err;
  } finally {
    res.off('close', onClose);
  }
  const png = Buffer.concat(pieces);
  if (png.length !== done.pngBytes || sha256(png) !== done.pngSha256) {
    throw new SecaiError(ErrorCode.WORKER_PROTOCOL, `the PNG that arrived (${png.length} bytes) is not the one the diffusion actor describes (${done.pngBytes} bytes, sha256 ${done.pngSha256}): refused`);
  }
  return { done, png };
}
