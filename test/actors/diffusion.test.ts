// The diffusion actor's ops on a real bus over real sandboxed workers and a tiny ONNX pipeline: progress then the PNG
// in pieces, evidence without the prompt, policy bounds before any work, a changed folder refused, cancel, a killed
// worker restarted, and the memory limit.
import t, { type Test } from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allowedCallers } from '../../bus/acl.js';
import { defineManifest } from '../../bus/manifest.js';
import { serveOp } from '../../bus/op-ref.js';
import { serveManifest } from '../../bus/service.js';
import { diffusionKind, type DiffusionHostOptions } from '../../actors/diffusion/kind.js';
import { diffusionManifest, type ImageChunk, type ImageDone, type ImageRequest } from '../../actors/diffusion/manifest.js';
import { diffusionCommands, diffusionOps, type DiffusionHost } from '../../actors/diffusion/ops.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { folderDigest, folderFiles } from '../../common/hash-file.js';
import { createLogger } from '../../common/log.js';
import type { WorkerModel } from '../../machines/worker/worker.machine.js';
import type { DiffusionSection } from '../../policy/sections.js';
import { MANIFESTS } from '../../runtime/catalog.js';
import { WorkerHost } from '../../runtime/worker-host.js';
import { decodePng } from '../../workers/diffusion/png.js';
import { writeTinySdOnnx } from '../fixtures/tiny-sd-onnx.js';
import { startTestBus } from '../helpers/bus.js';
import { processTree } from '../helpers/proc-tree.js';
import { until } from '../helpers/until.js';

const POLICY: DiffusionSection = {
  allow_unsandboxed: false, restart_on_session_end: false, threads: 1, provider: 'cpu', memory_limit_mb: 4096,
  load_on_demand: true, keep_alive_minutes: 5, max_side: 256, max_steps: 30, default_steps: 4, default_guidance: 5,
};

const root = mkdtempSync(join(tmpdir(), 'secai-diffusion-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const pipeline = join(root, 'tiny-sd');
writeTinySdOnnx(pipeline);
const digest = folderDigest(await folderFiles(pipeline));

const client = defineManifest({
  name: 'imageclient', kind: 'client', description: 'test client of the diffusion actor', serves: {}, commands: {}, publishes: {},
  requests: ['diffusion.generate', 'diffusion.cancel', 'diffusion.models', 'diffusion.status'], subscribes: [],
});
const manifests = [...MANIFESTS, client];
const bus = await startTestBus(manifests);
t.teardown(() => bus.stop());
const log = createLogger('test-diffusion');
const events: { event: string; payload: Record<string, unknown> }[] = [];
const registry = new Map<string, WorkerModel>([['tiny-sd', { name: 'tiny-sd', path: pipeline, sha256: digest }]]);
const policy = { ...POLICY };
const options: DiffusionHostOptions = {
  policy, log, memoryCheckMs: 100,
  resolve: async (name) => {
    const m = registry.get(name);
    if (!m) throw new SecaiError(ErrorCode.MODEL_NOT_LOADED, `no promoted pipeline ${name}`);
    return m;
  },
  emit: async (event, payload) => { events.push({ event, payload }); },
  available: async () => [...registry.keys()],
};
const host: DiffusionHost = new WorkerHost(options, diffusionKind(options));
const db = await bus.connect('diffusion');
const emit = async (event: string, payload: Record<string, unknown>) => { events.push({ event, payload }); };
const unserve = serveManifest({
  bus: db, manifest: diffusionManifest, log, operators: { lookup: () => undefined }, callers: allowedCallers(manifests),
  ops: { ...diffusionOps(() => host, emit), ping: () => ({}), describe: () => ({}), snapshot: () => ({}) },
  commands: { ...diffusionCommands(() => host), ping: () => ({}) },
});
await db.nc.flush();
t.teardown(async () => { await host.stopAll(); unserve(); });
const c = await bus.connect('imageclient');
const generateOp = serveOp(diffusionManifest, 'generate');

const request = (o: Partial<ImageRequest> = {}): ImageRequest => ({
  model: 'tiny-sd', prompt: 'a red cat', width: 64, height: 64, steps: 4, guidance: 5, seed: 7, requestId: randomBytes(16).toString('hex'), ...o,
});

/** Runs one generation over the bus: the progress chunks, the PNG reassembled from its pieces, and the reply. */
async function generate(req: ImageRequest, onChunk?: (c: ImageChunk) => void): Promise<{ progress: ImageChunk[]; png: Buffer; done: ImageDone }> {
  const progress: ImageChunk[] = [];
  const pieces: Buffer[] = [];
  const it = c.callStream(generateOp, req, 120_000);
  for (;;) {
    const n = await it.next();
    if (n.done) return { progress, png: Buffer.concat(pieces), done: n.value };
    onChunk?.(n.value);
    if (n.value.png) pieces.push(Buffer.from(n.value.png));
    else progress.push(n.value);
  }
}

t.test('a generation streams one progress chunk per step, then the PNG; the reply names its size and hash', async (t) => {
  const r = await generate(request());
  t.same(r.progress.map((p) => [p.step, p.steps]), [[1, 4], [2, 4], [3, 4], [4, 4]], 'steps 1..4 of 4, in order');
  t.equal(r.png.length, r.done.pngBytes);
  t.equal(createHash('sha256').update(r.png).digest('hex'), r.done.pngSha256, 'the pieces make the PNG the reply hashes');
  const img = decodePng(r.png, { maxWidth: 1024, maxHeight: 1024, maxBytes: 1 << 24 });
  t.same([img.width, img.height], [64, 64]);
  t.match(r.done, { model: 'tiny-sd', seed: 7, width: 64, height: 64, steps: 4, scheduler: 'euler' });
  t.ok(r.done.firstProgressMs !== null && r.done.firstProgressMs <= r.done.totalMs);
  const loaded = events.find((e) => e.event === 'model_loaded');
  t.match(loaded?.payload, { name: 'tiny-sd', sha256: digest, sandboxed: true }, 'loaded on demand, sandboxed, with the registry digest');
  const ev = events.filter((e) => e.event === 'generated').at(-1)!;
  t.match(ev.payload, { name: 'tiny-sd', sha256: digest, seed: 7, pngSha256: r.done.pngSha256, img2img: false });
  t.equal(ev.payload['promptSha256'], createHash('sha256').update('a red cat').digest('hex'), 'the event holds the prompt\'s hash');
  t.notOk(JSON.stringify(ev.payload).includes('red cat'), 'and never the prompt');
  const again = await generate(request());
  t.equal(again.done.pngSha256, r.done.pngSha256, 'the same seed gives the same PNG');
  const other = await generate(request({ seed: 8, scheduler: 'ddim' }));
  t.not(other.done.pngSha256, r.done.pngSha256, 'another seed and scheduler give another');
  t.equal(other.done.scheduler, 'ddim');
});

t.test('image-to-image at strength 0 runs no step and keeps the picture', async (t) => {
  const first = await generate(request());
  const r = await generate(request({ initImage: first.png, strength: 0 }));
  t.equal(r.progress.length, 0, 'no denoising step');
  t.equal(r.done.steps, 0);
  t.match(events.filter((e) => e.event === 'generated').at(-1)?.payload, { img2img: true });
});

t.test('policy bounds are checked before anything is queued or loaded', async (t) => {
  const before = events.length;
  await t.rejects(generate(request({ width: 512, height: 512 })), { code: 'SECAI_E_SCHEMA', message: /max_side 256/ });
  await t.rejects(generate(request({ steps: 31 })), { code: 'SECAI_E_SCHEMA', message: /max_steps 30/ });
  await t.rejects(generate(request({ width: 100 })), { code: 'SECAI_E_SCHEMA' }, 'not a multiple of 8');
  await t.rejects(generate(request({ strength: 0.5 })), { code: 'SECAI_E_SCHEMA', message: /init image/ });
  await t.rejects(generate(request({ model: 'nope' })), { code: 'SECAI_E_MODEL_NOT_LOADED' });
  await t.rejects(generate(request({ initImage: Buffer.from('GIF89a, not a PNG at all'), strength: 0.5 })), { code: 'SECAI_E_IMAGE_INVALID' }, 'the worker refuses a picture that is not a PNG');
  t.same(events.slice(before).filter((e) => e.event === 'generated'), [], 'no generation happened');
});

/**
 * A run long enough that what a test does on seeing an early step lands inside it on any machine: 150 steps at 1024²
 * take seconds even for the tiny pipeline, while 30 at 256² can be over before the step-2 chunk reaches this test.
 */
function longRequest(t: Test): ImageRequest {
  Object.assign(policy, { max_side: 1024, max_steps: 150 });
  t.teardown(() => { Object.assign(policy, { max_side: POLICY.max_side, max_steps: POLICY.max_steps }); });
  return request({ width: 1024, height: 1024, steps: 150 });
}

t.test('cancel ends a running generation; the next one runs', async (t) => {
  const req = longRequest(t);
  let cancelled = false;
  const seen: number[] = [];
  const run = generate(req, (ch) => {
    if (ch.step !== undefined) seen.push(ch.step);
    if (ch.step === 2 && !cancelled) { cancelled = true; void c.request('diffusion', 'cancel', { requestId: req.requestId }); }
  });
  await t.rejects(run, { code: 'SECAI_E_CANCELLED' });
  t.ok(Math.max(...seen) < 150, `stopped at step ${Math.max(...seen)} of 150`);
  const next = await generate(request());
  t.equal(next.done.steps, 4);
});

t.test('a worker killed mid-run fails that generation; the next starts a fresh worker', async (t) => {
  const req = longRequest(t);
  const before = host.list().find((m) => m.name === 'tiny-sd')!;
  const pid = (before.info as { pid: number }).pid;
  let killed = false;
  const run = generate(req, (ch) => {
    if (ch.step === 1 && !killed) { killed = true; for (const p of processTree(pid).reverse()) try { process.kill(p, 'SIGKILL'); } catch { /* lint-ok: the process exited meanwhile */ } }
  });
  await t.rejects(run, { code: 'SECAI_E_WORKER_CRASHED' });
  const next = await generate(request());
  t.equal(next.done.steps, 4, 'served by a restarted worker');
  const after = host.list().find((m) => m.name === 'tiny-sd')!;
  t.not((after.info as { pid: number }).pid, pid, 'another process');
  t.ok(events.some((e) => e.event === 'worker_crashed' || e.event === 'model_loaded'), 'the restart left evidence');
});

t.test('with restart_on_session_end every picture is made by a fresh worker', async (t) => {
  await host.unload('tiny-sd');
  policy.restart_on_session_end = true;
  t.teardown(async () => { policy.restart_on_session_end = false; await host.unload('tiny-sd'); });
  const pids: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await generate(request());
    t.equal(r.done.steps, 4);
    const m = await until('a fresh worker ready', () => host.list().find((x) => x.name === 'tiny-sd' && x.state === 'ready' && !pids.includes((x.info as { pid: number }).pid)));
    pids.push((m.info as { pid: number }).pid);
  }
  t.equal(new Set(pids).size, 3, 'three generations, three worker processes');
});

t.test('a pipeline folder changed since promotion is refused before any worker loads it', async (t) => {
  const copy = join(root, 'changed');
  cpSync(pipeline, copy, { recursive: true });
  registry.set('changed', { name: 'changed', path: copy, sha256: digest });
  appendFileSync(join(copy, 'scheduler', 'scheduler_config.json'), ' ');
  await t.rejects(generate(request({ model: 'changed' })), { code: 'SECAI_E_DIGEST_MISMATCH', message: /changed since promotion/ });
  t.match(events.filter((e) => e.event === 'model_refused').at(-1)?.payload, { name: 'changed', code: 'SECAI_E_DIGEST_MISMATCH' });
  t.notOk(host.list().some((m) => m.name === 'changed'), 'nothing loaded');
});

t.test('a worker over the memory limit is killed and its load fails with SECAI_E_WORKER_MEMORY', async (t) => {
  await host.unload('tiny-sd');
  policy.memory_limit_mb = 8; // below what any Node process needs: the first check kills it
  t.teardown(() => { policy.memory_limit_mb = POLICY.memory_limit_mb; });
  await t.rejects(generate(request()), { code: 'SECAI_E_WORKER_MEMORY', message: /memory_limit_mb 8/ });
  t.notOk(host.list().some((m) => m.name === 'tiny-sd' && m.state === 'ready'));
});
