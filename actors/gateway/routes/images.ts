// Image generation over HTTP: OpenAI-compatible POST /v1/images/generations (b64_json, or a url into the gallery); for the
// Generate page its pipelines, a generation streamed as server-sent events (progress per step) and its cancel; the same
// stream for local programs (securectl generate).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { serveOp } from '../../../bus/op-ref.js';
import { ErrorCode, SecaiError, toErrorData } from '../../../common/errors.js';
import type { DiffusionSection } from '../../../policy/sections.js';
import { configSection, type ConfigSection } from '../../../runtime/config-section.js';
import { diffusionManifest } from '../../../runtime/catalog.js';
import { DIFFUSION_LIMITS, SCHEDULER_KINDS } from '../../../workers/diffusion/protocol.js';
import { sessionCookie } from '../auth-guard.js';
import type { GatewayDeps } from '../deps.js';
import { MAX_FORWARDED_BODY, readJson, sendJson, type Route } from '../http.js';
import type { StreamSlots } from '../stream-slots.js';
import { gallery as openGallery, type Gallery } from './gallery.js';
import {
  bad, INIT_IMAGE_MAX_BYTES, initImage, int, modelName, newRequestId, num, onlyKnown, runImage, scheduler, sha256, side, text, type ImageCall,
} from './image-common.js';
import { clientId, readApiJson } from './llm-common.js';
import { requireJsonBody } from '../origin-check.js';
import { openaiErrorShape } from './openai.js';

const V1_FIELDS = ['model', 'prompt', 'n', 'size', 'response_format', 'negative_prompt', 'steps', 'guidance_scale', 'seed', 'scheduler', 'user'] as const;
const WEB_FIELDS = ['model', 'prompt', 'negativePrompt', 'width', 'height', 'steps', 'guidance', 'seed', 'scheduler', 'initImage', 'strength', 'save'] as const;
/** OpenAI's own bound on `n` is 10; images here are made one after another on this machine. */
export const MAX_N = 4;
const REQUEST_ID = /^[A-Za-z0-9_-]{16,64}$/;
const HEARTBEAT_MS = 15_000;

/** OpenAI clients send null for "the default": the same as leaving the key out. */
const withoutNulls = (o: unknown): unknown => (typeof o === 'object' && o !== null && !Array.isArray(o) ? Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null)) : o);

/** `WxH` in pixels, each side a multiple of 8 up to policy diffusion.max_side. */
function size(v: unknown, maxSide: number): [number, number] {
  const m = typeof v === 'string' ? /^(\d{1,5})x(\d{1,5})$/.exec(v) : null;
  if (!m) throw bad(`size must be "WIDTHxHEIGHT" in pixels, such as "512x512"`);
  return [side(Number(m[1]), 'size width', maxSide), side(Number(m[2]), 'size height', maxSide)];
}

/** The parts of a request both APIs share, checked against the policy in force. */
function common(b: Record<string, unknown>, p: DiffusionSection, names: { negative: string; guidance: string }): Omit<ImageCall, 'width' | 'height' | 'client'> {
  const neg = b[names.negative];
  const seed = b['seed'];
  const sched = b['scheduler'];
  return {
    model: modelName(b['model']),
    prompt: text(b['prompt'], 'prompt', { min: 1 }),
    steps: b['steps'] === undefined ? p.default_steps : int(b['steps'], 'steps', 1, p.max_steps),
    guidance: b[names.guidance] === undefined ? p.default_guidance : num(b[names.guidance], names.guidance, 0, DIFFUSION_LIMITS.maxGuidance),
    ...(neg !== undefined && { negativePrompt: text(neg, names.negative) }),
    ...(seed !== undefined && { seed: int(seed, 'seed', 0, DIFFUSION_LIMITS.maxSeed) }),
    ...(sched !== undefined && { scheduler: scheduler(sched) }),
  };
}

/** What the gallery keeps beside a picture. */
function about(call: ImageCall, done: { seed: number; width: number; height: number; steps: number; scheduler: string }) {
  return {
    model: call.model, prompt: call.prompt, ...(call.negativePrompt && { negativePrompt: call.negativePrompt }), seed: done.seed, width: done.width,
    height: done.height, steps: done.steps, guidance: call.guidance, scheduler: scheduler(done.scheduler), img2img: call.initImage !== undefined,
  };
}

function eventStream(res: ServerResponse): (event: string, data: unknown) => void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.flushHeaders();
  return (event, data) => { if (!res.destroyed && !res.writableEnded) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`); };
}

export function imageRoutes(d: GatewayDeps, slots: StreamSlots, g: Gallery = openGallery(d)): Route[] {
  // policy.yaml `diffusion`, fetched at the first image request and followed on reloads; a failed fetch is tried again next time.
  let section: Promise<ConfigSection<'diffusion'>> | undefined;
  const policy = async (): Promise<DiffusionSection> => {
    section ??= configSection(d, 'diffusion', () => undefined);
    try {
      return (await section).value;
    } catch (err) {
      section = undefined;
      throw err;
    }
  };
  /** Generations the page runs, by request id → the session that started it (only it may cancel). */
  const running = new Map<string, string>();
  const sessionOf = (req: IncomingMessage) => (sessionCookie(req) ?? '').slice(0, 64);

  /**
   * Server-sent events: `started` { requestId }, `progress` { step, steps, ms } per denoising step, then `done`
   * { seed, width, height, steps, scheduler, png (base64), galleryId? | galleryError? } or `error` { code, message }.
   * `session`: the page's session (its streams are counted, and only it may cancel); none for a local program.
   */
  const streamed = async (req: IncomingMessage, res: ServerResponse, session?: string): Promise<void> => {
    if (session === undefined) requireJsonBody(req);
    const b = onlyKnown(await readJson<unknown>(req, MAX_FORWARDED_BODY), WEB_FIELDS, 'an image request');
    const p = await policy();
    const init = b['initImage'] === undefined ? undefined : initImage(b['initImage']);
    if (b['strength'] !== undefined && !init) throw bad('strength needs an init image');
    if (b['save'] !== undefined && typeof b['save'] !== 'boolean') throw bad('save must be true or false');
    const dflt = Math.min(512, p.max_side);
    const call: ImageCall = {
      ...common(b, p, { negative: 'negativePrompt', guidance: 'guidance' }),
      width: side(b['width'] ?? dflt, 'width', p.max_side), height: side(b['height'] ?? dflt, 'height', p.max_side),
      client: session === undefined ? clientId(req, undefined) : `web:${sha256(session).slice(0, 16)}`,
      ...(init && { initImage: init }), ...(b['strength'] !== undefined && { strength: num(b['strength'], 'strength', 0, 1) }),
    };
    const save = b['save'] === true;
    if (save) await g.requireOpen('saving to the gallery');
    // Counted with every other event stream (the caps hold for all of them together): per session, or per connection.
    const release = slots.take(session ?? `local:${req.socket.remotePort ?? 0}`);
    const requestId = newRequestId();
    if (session !== undefined) running.set(requestId, session);
    const send = eventStream(res);
    const beat = setInterval(() => { if (!res.destroyed) res.write(': keep-alive\n\n'); }, HEARTBEAT_MS);
    try {
      send('started', { requestId });
      const { done, png } = await runImage(d, res, call, (pr) => send('progress', pr), requestId);
      // The picture is the answer; a save that fails (the vault locked meanwhile) is said beside it.
      const stored = save ? await g.save(png, about(call, done)).then((galleryId) => ({ galleryId }), (err: unknown) => ({ galleryError: toErrorData(err) })) : {};
      send('done', { seed: done.seed, width: done.width, height: done.height, steps: done.steps, scheduler: done.scheduler, png: png.toString('base64'), ...stored });
    } catch (err) {
      send('error', toErrorData(err));
    } finally {
      clearInterval(beat);
      running.delete(requestId);
      release();
      res.end();
    }
  };

  return [
    {
      method: 'POST', path: '/v1/images/generations', access: 'local-client', errorShape: openaiErrorShape,
      handler: async ({ req, res }) => {
        const b = onlyKnown(withoutNulls(await readApiJson<unknown>(req, MAX_FORWARDED_BODY)), V1_FIELDS, 'an image request');
        const p = await policy();
        const base = common(b, p, { negative: 'negative_prompt', guidance: 'guidance_scale' });
        const n = b['n'] === undefined ? 1 : int(b['n'], 'n', 1, MAX_N);
        const dflt = Math.min(512, p.max_side);
        const [width, height] = size(b['size'] ?? `${dflt}x${dflt}`, p.max_side);
        const format = b['response_format'] ?? 'b64_json';
        if (format !== 'b64_json' && format !== 'url') throw bad('response_format must be b64_json or url');
        if (b['user'] !== undefined && (typeof b['user'] !== 'string' || b['user'].length > 100)) throw bad('user must be a string of at most 100 characters');
        // The url form stores each picture in the gallery: refused before any work while the vault cannot take it.
        if (format === 'url') await g.requireOpen('response_format url');
        const data: ({ b64_json: string } | { url: string })[] = [];
        let seed = base.seed;
        for (let i = 0; i < n; i++) {
          const call: ImageCall = { ...base, width, height, client: clientId(req, b['user']), ...(seed !== undefined && { seed }) };
          const { done, png } = await runImage(d, res, call, () => undefined);
          // n > 1: the seeds follow one another (seed, seed + 1, …), so any one picture can be made again alone.
          seed = (done.seed + 1) % (DIFFUSION_LIMITS.maxSeed + 1);
          // The Host header passed the router's loopback check: it names this gateway.
          if (format === 'url') data.push({ url: `http://${req.headers.host}/api/gallery/${await g.save(png, about(call, done))}` });
          else data.push({ b64_json: png.toString('base64') });
        }
        sendJson(res, 200, { created: Math.floor(Date.now() / 1000), data });
      },
    },
    {
      method: 'GET', path: '/api/images/models', access: 'session',
      handler: async ({ res }) => {
        const [m, st, p] = await Promise.all([d.bus.call(serveOp(diffusionManifest, 'models'), {}), d.bus.call(serveOp(diffusionManifest, 'status'), {}), policy()]);
        sendJson(res, 200, {
          models: [...m.models.map((x) => ({ name: x.name, state: x.state })), ...(m.available ?? []).map((name) => ({ name, state: 'available' }))],
          defaults: { steps: p.default_steps, guidance: p.default_guidance, maxSide: p.max_side, maxSteps: p.max_steps, schedulers: SCHEDULER_KINDS, initImageMaxBytes: INIT_IMAGE_MAX_BYTES },
          warning: typeof st['warning'] === 'string' ? st['warning'] : null,
        });
      },
    },
    // The Generate page's generation (its session, cancellable by id), and the same for local programs (securectl generate).
    { method: 'POST', path: '/api/images/generate', access: 'session', handler: ({ req, res }) => streamed(req, res, sessionOf(req)) },
    { method: 'POST', path: '/api/secai/images/generate', access: 'local-client', handler: ({ req, res }) => streamed(req, res) },
    {
      method: 'POST', path: '/api/images/cancel', access: 'session',
      handler: async ({ req, res }) => {
        const b = onlyKnown(await readJson<unknown>(req, 4096), ['requestId'], 'a cancel request');
        const id = b['requestId'];
        if (typeof id !== 'string' || !REQUEST_ID.test(id)) throw bad('requestId must be the id the started event named');
        // Another session's generation is not this one's to cancel, nor to learn about.
        if (running.get(id) !== sessionOf(req)) throw new SecaiError(ErrorCode.UNKNOWN_OP, 'no generation of this session has that id');
        sendJson(res, 200, await d.bus.call(serveOp(diffusionManifest, 'cancel'), { requestId: id }));
      },
    },
  ];
}
