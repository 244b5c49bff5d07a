// Image routes on a real bus with the diffusion actor's ops over sandboxed workers and a tiny SD pipeline, and the real
// policy and vault actors: the OpenAI-compatible form (b64_json, url into the gallery), the Generate page's event stream
// (progress per step, done, cancel), the gallery in the vault, and securectl generate.
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import OpenAI from 'openai';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { sseEvents } from '../../common/sse-parse.js';
import { decodePng } from '../../workers/diffusion/png.js';
import { runGenerate } from '../../bin/generate.js';
import { startDiffusionStack, STACK_DIFFUSION, TINY_SD_NAME } from '../helpers/diffusion-stack.js';

const stack = await startDiffusionStack();
const work = mkdtempSync(join(tmpdir(), 'secai-images-'));
t.teardown(async () => { await stack.stop(); rmSync(work, { recursive: true, force: true }); });
const LIMITS = { maxWidth: 2048, maxHeight: 2048, maxBytes: 1 << 26 };
const png = (b64: string) => decodePng(Buffer.from(b64, 'base64'), LIMITS);
const generated = () => stack.events.filter((e) => e.event === 'generated').length;

/** A request as the stand-in session's page sends it (cookie + proof), or as a local program (neither). */
async function call(method: string, path: string, body?: unknown, o: { session?: boolean; csrf?: boolean; headers?: Record<string, string> } = {}) {
  const r = await fetch(`${stack.url}${path}`, {
    method,
    headers: {
      ...(o.session !== false && { cookie: `secai_test=${stack.session.cookie.value}` }),
      ...(o.session !== false && o.csrf !== false && { 'x-csrf-token': stack.session.token }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
      ...o.headers,
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const type = r.headers.get('content-type') ?? '';
  const bytes = Buffer.from(await r.arrayBuffer());
  return { status: r.status, type, headers: r.headers, bytes, json: type.startsWith('application/json') ? JSON.parse(bytes.toString('utf8')) : null };
}
const v1 = (body: Record<string, unknown>) => call('POST', '/v1/images/generations', body, { session: false });
const base = { model: TINY_SD_NAME, prompt: 'a red cat', size: '64x64', steps: 2 };

interface SseEvent { event: string; data: Record<string, unknown> }
/** Reads an event stream to its end; `onEvent` sees each event as it arrives (a cancel, an abort). */
async function events(path: string, body: unknown, onEvent: (e: SseEvent, ctl: AbortController) => void | Promise<void> = () => undefined, headers: Record<string, string> = {}) {
  const ctl = new AbortController();
  const r = await fetch(`${stack.url}${path}`, {
    method: 'POST', signal: ctl.signal, body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', cookie: `secai_test=${stack.session.cookie.value}`, 'x-csrf-token': stack.session.token, ...headers },
  });
  const out: SseEvent[] = [];
  if (!r.ok) return { status: r.status, events: out, error: (await r.json()) as { error: { code: string; message: string } } };
  try {
    for await (const { event, data } of sseEvents(r.body as unknown as AsyncIterable<Uint8Array>)) {
      const e = { event, data: JSON.parse(data) as Record<string, unknown> };
      out.push(e);
      await onEvent(e, ctl);
    }
  } catch (err) {
    if (!ctl.signal.aborted) throw err;
  }
  return { status: r.status, type: r.headers.get('content-type') ?? '', events: out, error: null };
}

/**
 * Holds a finished generation open until it is cancelled (as chat.test.ts does for replies): the tiny pipeline makes a
 * 64×64 picture in milliseconds, so a cancel could otherwise come after the end. Undone by the returned function.
 */
function holdUntilCancelled(): { undo: () => void; cancelled: string[] } {
  const generate = stack.host.generate.bind(stack.host);
  const cancel = stack.host.cancel.bind(stack.host);
  const held = new Map<string, () => void>();
  const cancelled: string[] = [];
  stack.host.generate = async (model, input, onPart, o = {}) => {
    const r = await generate(model, input, onPart, o);
    if (!o.requestId) return r;
    await new Promise<void>((release) => held.set(o.requestId!, release));
    throw new SecaiError(ErrorCode.CANCELLED, 'the generation was cancelled');
  };
  stack.host.cancel = (requestId) => {
    const release = held.get(requestId);
    if (!release) return cancel(requestId);
    held.delete(requestId);
    cancelled.push(requestId);
    release();
    return true;
  };
  return { cancelled, undo: () => { stack.host.generate = generate; stack.host.cancel = cancel; for (const r of held.values()) r(); } };
}

t.test('images v1 — b64_json: a PNG of the size asked; the same seed gives the same bytes; n runs seed, seed + 1', async (t) => {
  const a = await v1({ ...base, size: '64x128', seed: 7 });
  t.equal(a.status, 200, 'generated');
  t.match(a.json, { created: Number, data: [{ b64_json: String }] });
  t.notOk('url' in a.json.data[0], 'no url in the b64_json form');
  const img = png(a.json.data[0].b64_json);
  t.same([img.width, img.height], [64, 128], 'the size asked (width x height)');
  const again = await v1({ ...base, size: '64x128', seed: 7 });
  t.equal(again.json.data[0].b64_json, a.json.data[0].b64_json, 'the same seed: the same bytes');
  const two = await v1({ ...base, seed: 11, n: 2 });
  t.equal(two.json.data.length, 2);
  t.not(two.json.data[0].b64_json, two.json.data[1].b64_json, 'two different pictures');
  t.equal((await v1({ ...base, seed: 12 })).json.data[0].b64_json, two.json.data[1].b64_json, 'the second is seed + 1');
  const dflt = await v1({ model: TINY_SD_NAME, prompt: 'x', steps: 1, response_format: null, negative_prompt: 'blurry', guidance_scale: 3, scheduler: 'ddim', user: 'app-1' });
  t.equal(dflt.status, 200, 'null means the default; every OpenAI-style option accepted');
  t.same([png(dflt.json.data[0].b64_json).width, png(dflt.json.data[0].b64_json).height], [512, 512], 'the default size is 512x512');
  const ev = stack.events.filter((e) => e.event === 'generated').at(-1)!.payload;
  t.match(ev, { steps: 1, scheduler: 'ddim' }, 'the options reached the actor');
});

t.test('images v1 — the official openai client: b64_json, the url form, and a refusal as its BadRequestError', async (t) => {
  const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: 'local', maxRetries: 0 });
  // Sizes and the extra options (steps, seed) are ours: the client sends the body as given.
  const params = { model: TINY_SD_NAME, prompt: 'a red cat', size: '64x64', steps: 2, seed: 7 } as unknown as OpenAI.ImageGenerateParamsNonStreaming;
  const r = await client.images.generate({ ...params, response_format: 'b64_json' });
  t.same([png(r.data![0]!.b64_json!).width, png(r.data![0]!.b64_json!).height], [64, 64]);
  t.equal(r.data![0]!.b64_json, (await v1({ ...base, seed: 7 })).json.data[0].b64_json, 'the same picture as a plain request');
  const u = await client.images.generate({ ...params, response_format: 'url' });
  t.match(u.data![0]!.url, /\/api\/gallery\//);
  const bad = await client.images.generate({ ...params, size: '65x65' } as unknown as OpenAI.ImageGenerateParamsNonStreaming).catch((e: unknown) => e);
  t.ok(bad instanceof OpenAI.BadRequestError, `a bad size: the client's BadRequestError (${String(bad).slice(0, 120)})`);
});

t.test('images v1 — bad sizes, steps, fields and values: 400 with the OpenAI error body, nothing generated', async (t) => {
  const before = generated();
  const cases: [string, Record<string, unknown>][] = [
    ['size not WxH', { ...base, size: '64' }], ['size not a multiple of 8', { ...base, size: '65x64' }], ['size under 64', { ...base, size: '32x32' }],
    ['size over policy max_side', { ...base, size: `${STACK_DIFFUSION.max_side + 8}x64` }], ['size auto', { ...base, size: 'auto' }],
    ['0 steps', { ...base, steps: 0 }], ['steps over policy max_steps', { ...base, steps: STACK_DIFFUSION.max_steps + 1 }], ['fractional steps', { ...base, steps: 2.5 }],
    ['an unknown field', { ...base, quality: 'hd' }], ['another unknown field', { ...base, width: 64 }], ['n 5', { ...base, n: 5 }], ['n 0', { ...base, n: 0 }],
    ['response_format png', { ...base, response_format: 'png' }], ['an unknown scheduler', { ...base, scheduler: 'pndm' }],
    ['an empty prompt', { ...base, prompt: '' }], ['no prompt', { model: TINY_SD_NAME }], ['no model', { prompt: 'x' }], ['a model name with a slash', { ...base, model: '../x' }],
    ['a negative seed', { ...base, seed: -1 }], ['guidance over 30', { ...base, guidance_scale: 31 }], ['a prompt over 2000 characters', { ...base, prompt: 'x'.repeat(2001) }],
  ];
  for (const [what, body] of cases) {
    const r = await v1(body);
    t.equal(r.status, 400, `${what}: 400`);
    t.match(r.json, { error: { type: 'invalid_request_error', code: 'SECAI_E_SCHEMA', message: String, param: null } }, what);
  }
  t.match((await v1({ ...base, quality: 'hd' })).json.error.message, /unknown field 'quality'/, 'the unknown field is named');
  const text = await fetch(`${stack.url}/v1/images/generations`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(base) });
  t.equal(text.status, 400, 'a body that is not declared JSON is refused (a foreign page could send it without asking)');
  const missing = await v1({ ...base, model: 'no-such-pipeline' });
  t.equal(missing.status, 404, 'an unknown pipeline: 404');
  t.equal(missing.json.error.type, 'not_found_error');
  t.equal(generated(), before, 'nothing was generated');
});

t.test('images v1 — the url form needs the vault: 423 while locked; unlocked, the url serves the same PNG from the gallery', async (t) => {
  await stack.lockVault();
  const before = generated();
  const locked = await v1({ ...base, seed: 21, response_format: 'url' });
  t.equal(locked.status, 423);
  t.match(locked.json.error, { code: 'SECAI_E_VAULT_LOCKED', message: /vault is locked/ });
  t.equal(generated(), before, 'refused before any work');
  await stack.unlockVault();
  const r = await v1({ ...base, seed: 21, response_format: 'url' });
  t.equal(r.status, 200, 'generated and stored');
  const url = r.json.data[0].url as string;
  t.match(url, new RegExp(`^${stack.url}/api/gallery/[A-Za-z0-9_-]{16,64}$`), 'a local URL of the gallery record');
  t.notOk('b64_json' in r.json.data[0]);
  const got = await fetch(url);
  t.equal(got.status, 200, 'a local program follows the url (the local API\'s own access)');
  t.equal(got.headers.get('content-type'), 'image/png', 'content-type exactly image/png');
  t.equal(got.headers.get('x-content-type-options'), 'nosniff');
  const bytes = Buffer.from(await got.arrayBuffer());
  t.equal(bytes.toString('base64'), (await v1({ ...base, seed: 21 })).json.data[0].b64_json, 'the same PNG as the b64_json form');
  const id = url.split('/').pop()!;
  const keys = (await stack.gateway.request<{ keys: string[] }>('vault', 'list', { prefix: `gallery/${id}/` })).keys.sort();
  t.same(keys, [`gallery/${id}/meta`, `gallery/${id}/png.0`], 'vault records in the gateway namespace: the PNG beside its metadata');
  const list = (await call('GET', '/api/gallery')).json.images as Record<string, unknown>[];
  t.match(list.find((i) => i['id'] === id), { id, prompt: 'a red cat', seed: 21, width: 64, height: 64, model: TINY_SD_NAME, steps: 2, created: Number });
  await stack.lockVault();
  t.equal((await fetch(url)).status, 423, 'the gallery is unreadable while the vault is locked');
  t.equal((await call('GET', '/api/gallery')).status, 423);
  await stack.unlockVault();
  t.same((await call('DELETE', `/api/gallery/${id}`)).json, { deleted: true });
  const gone = await fetch(url);
  t.equal(gone.status, 404, 'deleted');
  t.match(await gone.json(), { error: { code: ErrorCode.IMAGE_NOT_FOUND } }, 'with its own code');
  t.same((await stack.gateway.request<{ keys: string[] }>('vault', 'list', { prefix: `gallery/${id}/` })).keys, [], 'every record of it is gone');
  t.match(await call('DELETE', `/api/gallery/${id}`), { status: 404, json: { error: { code: ErrorCode.IMAGE_NOT_FOUND } } });
  for (const bad of ['short', 'a'.repeat(65), 'x%2F..%2Fchats', 'aaaaaaaaaaaaaaaa.']) t.equal((await fetch(`${stack.url}/api/gallery/${bad}`)).status, 400, `id ${bad} refused`);
});

t.test('images web — the event stream: started, one progress event per step, then done with the PNG; saved to the gallery', async (t) => {
  const r = await events('/api/images/generate', { model: TINY_SD_NAME, prompt: 'a blue house', width: 64, height: 64, steps: 4, guidance: 5, seed: 3, scheduler: 'euler_a', save: true });
  t.equal(r.status, 200);
  t.match(r.type, /^text\/event-stream/);
  t.same(r.events.map((e) => e.event), ['started', 'progress', 'progress', 'progress', 'progress', 'done']);
  t.match(r.events[0]!.data, { requestId: /^[A-Za-z0-9_-]{16,64}$/ });
  t.same(r.events.filter((e) => e.event === 'progress').map((e) => [e.data['step'], e.data['steps']]), [[1, 4], [2, 4], [3, 4], [4, 4]]);
  const done = r.events.at(-1)!.data;
  t.match(done, { seed: 3, width: 64, height: 64, steps: 4, scheduler: 'euler_a', png: String, galleryId: String });
  t.same([png(done['png'] as string).width, png(done['png'] as string).height], [64, 64]);
  const stored = await call('GET', `/api/gallery/${done['galleryId'] as string}`);
  t.equal(stored.bytes.toString('base64'), done['png'], 'the gallery holds the picture shown');
  const unsaved = await events('/api/images/generate', { model: TINY_SD_NAME, prompt: 'x', width: 64, height: 64, steps: 1, guidance: 5 });
  t.notOk('galleryId' in unsaved.events.at(-1)!.data, 'not saved unless asked');
  await stack.lockVault();
  const refused = await events('/api/images/generate', { model: TINY_SD_NAME, prompt: 'x', width: 64, height: 64, steps: 1, guidance: 5, save: true });
  t.equal(refused.status, 423, 'saving with the vault locked: refused before the stream');
  t.equal(refused.error?.error.code, 'SECAI_E_VAULT_LOCKED');
  const plain = await events('/api/images/generate', { model: TINY_SD_NAME, prompt: 'x', width: 64, height: 64, steps: 1, guidance: 5 });
  t.equal(plain.events.at(-1)!.event, 'done', 'without saving, the locked vault does not matter');
  await stack.unlockVault();
});

t.test('images web — image-to-image: a PNG to start from, strength 0 runs no step; what is not a PNG is refused', async (t) => {
  const first = await v1({ ...base, seed: 5 });
  const r = await events('/api/images/generate', { model: TINY_SD_NAME, prompt: 'x', width: 64, height: 64, steps: 4, guidance: 5, initImage: first.json.data[0].b64_json, strength: 0 });
  t.same(r.events.map((e) => e.event), ['started', 'done'], 'no denoising step at strength 0');
  t.equal(r.events.at(-1)!.data['steps'], 0);
  t.match(stack.events.filter((e) => e.event === 'generated').at(-1)?.payload, { img2img: true });
  const half = await events('/api/images/generate', { model: TINY_SD_NAME, prompt: 'x', width: 64, height: 64, steps: 4, guidance: 5, initImage: first.json.data[0].b64_json, strength: 0.5 });
  t.equal(half.events.filter((e) => e.event === 'progress').length, 2, 'strength 0.5 of 4 steps: 2 steps');
  const notPng = await events('/api/images/generate', { model: TINY_SD_NAME, prompt: 'x', width: 64, height: 64, initImage: Buffer.from('GIF89a not a png at all, not at all').toString('base64') });
  t.equal(notPng.status, 422);
  t.equal(notPng.error?.error.code, 'SECAI_E_IMAGE_INVALID');
  const noInit = await events('/api/images/generate', { model: TINY_SD_NAME, prompt: 'x', width: 64, height: 64, strength: 0.5 });
  t.equal(noInit.status, 400, 'strength without an init image');
  const big = await events('/api/images/generate', { model: TINY_SD_NAME, prompt: 'x', initImage: 'A'.repeat(1000 * 1024) });
  t.equal(big.status, 413, 'an init image over what one bus request carries');
  const unknown = await events('/api/images/generate', { model: TINY_SD_NAME, prompt: 'x', size: '64x64' });
  t.equal(unknown.status, 400, 'the OpenAI-style field is unknown here');
});

t.test('images web — cancel: by its id from the session that started it (a stream ends with CANCELLED), and by leaving', async (t) => {
  const hold = holdUntilCancelled();
  t.teardown(hold.undo);
  let cancelReply: { status: number; json: unknown } | undefined;
  let requestId = '';
  const r = await events('/api/images/generate', { model: TINY_SD_NAME, prompt: 'x', width: 64, height: 64, steps: 3, guidance: 5 }, async (e) => {
    if (e.event === 'started') requestId = e.data['requestId'] as string;
    if (e.event !== 'progress' || e.data['step'] !== 3) return;
    t.equal((await call('POST', '/api/images/cancel', { requestId: 'A'.repeat(22) })).status, 404, 'an id this session did not start: 404');
    t.equal((await call('POST', '/api/images/cancel', { requestId }, { csrf: false })).status, 403, 'the cookie alone cancels nothing');
    cancelReply = await call('POST', '/api/images/cancel', { requestId });
  });
  t.same(cancelReply?.json, { cancelled: true });
  t.same(r.events.map((e) => e.event), ['started', 'progress', 'progress', 'progress', 'error']);
  t.match(r.events.at(-1)!.data, { code: 'SECAI_E_CANCELLED' });

  // The client that leaves: the gateway tells the diffusion actor to cancel (the held generation is released by it).
  t.same(hold.cancelled, [requestId], 'the diffusion actor was told');
  let left = '';
  await events('/api/images/generate', { model: TINY_SD_NAME, prompt: 'x', width: 64, height: 64, steps: 2, guidance: 5 }, (e, ctl) => {
    if (e.event === 'started') left = e.data['requestId'] as string;
    if (e.event === 'progress' && e.data['step'] === 2) ctl.abort();
  });
  for (let i = 0; i < 100 && hold.cancelled.length < 2; i++) await new Promise((res) => setTimeout(res, 50));
  t.same(hold.cancelled, [requestId, left], 'the generation of a client that left is cancelled');
});

t.test('images web — session routes need the cookie and the proof; the local API form needs neither', async (t) => {
  const body = { model: TINY_SD_NAME, prompt: 'x', width: 64, height: 64, steps: 1, guidance: 5 };
  for (const [m, path, b] of [['POST', '/api/images/generate', body], ['POST', '/api/images/cancel', { requestId: 'A'.repeat(22) }], ['GET', '/api/images/models', undefined], ['GET', '/api/gallery', undefined], ['DELETE', '/api/gallery/AAAAAAAAAAAAAAAAAAAAAA', undefined]] as const) {
    t.equal((await call(m, path, b, { session: false })).status, 401, `${m} ${path}: no cookie, 401`);
    t.equal((await call(m, path, b, { csrf: false })).status, 403, `${m} ${path}: the cookie alone, 403`);
  }
  const models = await call('GET', '/api/images/models');
  t.match(models.json, { models: [{ name: TINY_SD_NAME, state: String }], defaults: { steps: STACK_DIFFUSION.default_steps, guidance: STACK_DIFFUSION.default_guidance, maxSide: STACK_DIFFUSION.max_side, maxSteps: STACK_DIFFUSION.max_steps, schedulers: ['euler', 'euler_a', 'ddim', 'lcm'] }, warning: null });
});

t.test('securectl generate — writes the PNG through the local API; refuses to overwrite without --force; exit 2 on error', async (t) => {
  const home = join(work, 'home');
  mkdirSync(join(home, 'run'), { recursive: true });
  writeFileSync(join(home, 'run', 'http.url'), stack.url + '\n');
  const out = join(work, 'cat.png');
  const progress = new PassThrough();
  let said = '';
  progress.on('data', (d: Buffer) => { said += d.toString(); });
  const stdout = new PassThrough();
  let printed = '';
  stdout.on('data', (d: Buffer) => { printed += d.toString(); });
  const opts = { model: TINY_SD_NAME, prompt: 'a red cat', size: '64x64', steps: '3', seed: '9', out, json: true, env: { SECAI_HOME: home }, progress, output: stdout };
  t.equal(await runGenerate(opts), 0);
  t.equal(said, 'step 1/3\nstep 2/3\nstep 3/3\n', 'progress on stderr, one line per step');
  t.match(JSON.parse(printed), { out, model: TINY_SD_NAME, seed: 9, width: 64, height: 64, steps: 3, scheduler: 'euler' });
  const bytes = readFileSync(out);
  t.same([decodePng(bytes, LIMITS).width, decodePng(bytes, LIMITS).height], [64, 64]);
  t.equal(statSync(out).mode & 0o777, 0o600, 'written for its owner only');
  t.equal(bytes.toString('base64'), (await v1({ ...base, steps: 3, seed: 9 })).json.data[0].b64_json, 'the same picture as the API makes');
  await t.rejects(runGenerate({ ...opts, seed: '10' }), { code: 'SECAI_E_USAGE', message: /exists/ }, 'an existing file is not replaced');
  t.equal(readFileSync(out).toString('base64'), bytes.toString('base64'), 'and is unchanged');
  t.equal(await runGenerate({ ...opts, seed: '10', force: true }), 0, '--force replaces it');
  t.not(readFileSync(out).toString('base64'), bytes.toString('base64'));
  const init = await runGenerate({ ...opts, out: join(work, 'img2img.png'), init: out, strength: '0.5', steps: '4' });
  t.equal(init, 0, 'image-to-image from a file');
  await t.rejects(runGenerate({ ...opts, out: join(work, 'x.png'), size: '65x64' }), { code: 'SECAI_E_SCHEMA' }, 'the gateway\'s refusal is the error');
  await t.rejects(runGenerate({ ...opts, out: join(work, 'y.png'), strength: '0.5' }), { code: 'SECAI_E_USAGE' }, '--strength needs --init');
  await t.rejects(runGenerate({ ...opts, out: join(work, 'no-such-dir', 'z.png') }), { code: 'SECAI_E_USAGE' });
  t.same(['x.png', 'y.png'].filter((f) => { try { statSync(join(work, f)); return true; } catch { return false; } }), [], 'nothing written on an error');
});
