// The diffusion worker for real: spawned under bubblewrap with only its model folder bound, it re-hashes the files,
// streams progress, cancels, refuses a tampered folder and garbage, and has no network.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinySdOnnx } from '../fixtures/tiny-sd-onnx.js';
import { processTree } from '../helpers/proc-tree.js';
import { loadPipeline } from '../../workers/diffusion/pipeline.js';
import { decodePng } from '../../workers/diffusion/png.js';
import { parseFromWorker, type FromWorker, type ModelFile, type ToWorker } from '../../workers/diffusion/protocol.js';
import { DIFFUSION_WORKER_ENTRY, spawnWorker, type SandboxedWorker } from '../../workers/sandbox.js';

const root = mkdtempSync(join(tmpdir(), 'secai-diffusion-worker-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
let folders = 0;
function folder(): { dir: string; files: ModelFile[] } {
  const dir = join(root, `m${folders++}`);
  const { files } = writeTinySdOnnx(dir);
  return { dir, files: files.map((rel) => ({ rel, sha256: createHash('sha256').update(readFileSync(join(dir, rel))).digest('hex') })) };
}
const limits = { maxWidth: 4096, maxHeight: 4096, maxBytes: 64 << 20 };
const gen = { type: 'generate', prompt: 'a photo of a red cat', width: 64, height: 64, steps: 8, guidance: 7.5, seed: 42 } as const;

/** A test-side client: every message checked with the protocol, as the actor will; the worker dies with the test. */
class Worker {
  readonly w: SandboxedWorker;
  readonly exited: Promise<number | null>;
  private readonly inbox: FromWorker[] = [];
  private wake: () => void = () => {};
  stderr = '';

  constructor(t: Test, dir: string) {
    this.w = spawnWorker({ entry: DIFFUSION_WORKER_ENTRY, readOnly: [dir] });
    this.w.child.stdout?.resume();
    this.w.child.stderr?.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString('utf8')).slice(-4000); });
    this.w.child.on('message', (m: unknown) => { this.inbox.push(parseFromWorker(m)); this.wake(); });
    this.exited = new Promise((r) => this.w.child.once('exit', (code) => { r(code); this.wake(); }));
    t.teardown(() => { this.w.child.kill('SIGKILL'); });
  }

  send(m: ToWorker | unknown): void {
    this.w.child.send(m as object);
  }

  async next(): Promise<FromWorker> {
    for (;;) {
      const m = this.inbox.shift();
      if (m) return m;
      if (this.w.child.exitCode !== null || this.w.child.signalCode !== null) throw new Error(`the worker exited; stderr: ${this.stderr}`);
      await new Promise<void>((r) => { this.wake = r; });
    }
  }

  async loaded(dir: string, files: ModelFile[]): Promise<Extract<FromWorker, { type: 'loaded' }>> {
    const ready = await this.next();
    if (ready.type !== 'ready') throw new Error(`expected ready, got ${ready.type}`);
    this.send({ type: 'load', modelDir: dir, files, threads: 1, provider: 'cpu' } satisfies ToWorker);
    const m = await this.next();
    if (m.type !== 'loaded') throw new Error(`expected loaded, got ${JSON.stringify(m).slice(0, 300)}`);
    return m;
  }

  /** Messages of one generation up to its end (done, cancelled, failed). */
  async until(id: string, onProgress?: (m: Extract<FromWorker, { type: 'progress' }>) => void): Promise<{ progress: Extract<FromWorker, { type: 'progress' }>[]; end: FromWorker }> {
    const progress: Extract<FromWorker, { type: 'progress' }>[] = [];
    for (;;) {
      const m = await this.next();
      if (m.type === 'progress' && m.id === id) {
        progress.push(m);
        onProgress?.(m);
      } else if ((m.type === 'done' || m.type === 'cancelled' || m.type === 'failed') && m.id === id) {
        return { progress, end: m };
      } else {
        throw new Error(`unexpected during ${id}: ${JSON.stringify(m).slice(0, 300)}`);
      }
    }
  }
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1]!;
const main = folder();

t.test('diffusion worker — loads a hash-checked folder in the sandbox, streams progress, answers the same PNG as in process', async (t) => {
  const w = new Worker(t, main.dir);
  t.ok(w.w.sandboxed, 'bubblewrap is available here, so the worker runs sandboxed');
  const loaded = await w.loaded(main.dir, main.files);
  t.match(loaded.info, { provider: 'cpu', threads: 1, scheduler: 'euler', timestepType: 'int64', encoderOutput: 'latent_parameters', latentChannels: 4 });
  t.ok(loaded.ms > 0, `loaded in ${loaded.ms.toFixed(0)} ms (hashing included)`);

  w.send({ ...gen, id: 'g1' } satisfies ToWorker);
  const { progress, end } = await w.until('g1');
  t.same(progress.map((p) => [p.step, p.steps]), Array.from({ length: 8 }, (_, i) => [i + 1, 8]), 'progress 1..8 of 8, in order');
  if (end.type !== 'done') throw new Error(`expected done, got ${JSON.stringify(end)}`);
  t.same([end.seed, end.width, end.height, end.steps], [42, 64, 64, 8]);
  const png = Buffer.from(end.png, 'base64');
  t.same([decodePng(png, limits).width, decodePng(png, limits).height], [64, 64], 'the PNG decodes at 64x64');

  const p = await loadPipeline(main.dir, { threads: 1, provider: 'cpu' });
  t.teardown(() => p.release());
  const local = await p.generate({ ...gen });
  t.ok(local.png.equals(png), 'byte-identical to the same request in process');

  // Timing, worker vs in process, same machine, same request: 20 guided steps at 64x64, median of steps 3..20.
  w.send({ ...gen, id: 'g2', steps: 20 } satisfies ToWorker);
  const timed = await w.until('g2');
  const inWorker = median(timed.progress.slice(2).map((m) => m.ms));
  const ms: number[] = [];
  await p.generate({ ...gen, steps: 20 }, { onStep: (_s, _n, m) => ms.push(m) });
  t.comment(`ms per UNet step (64x64, batch 2, 1 thread): worker ${inWorker.toFixed(3)}, in process ${median(ms.slice(2)).toFixed(3)}`);

  w.send({ type: 'unload' } satisfies ToWorker);
  t.equal(await w.exited, 0, 'unload releases the sessions and exits 0');
});

t.test('diffusion worker — cancel stops a run between steps; a second generate while busy is refused; it goes on', async (t) => {
  const w = new Worker(t, main.dir);
  await w.loaded(main.dir, main.files);
  w.send({ ...gen, id: 'long', width: 256, height: 256, steps: 150 } satisfies ToWorker);
  w.send({ ...gen, id: 'second' } satisfies ToWorker);
  const refused = await w.next();
  t.match(refused, { type: 'failed', id: 'second', code: 'SECAI_E_INVALID_STATE', message: /long is running/ }, 'one generation at a time');
  const { progress, end } = await w.until('long', (m) => { if (m.step === 2) w.send({ type: 'cancel', id: 'long' } satisfies ToWorker); });
  t.same(end, { type: 'cancelled', id: 'long' });
  t.ok(progress.length >= 2 && progress.length < 150, `stopped after ${progress.length} of 150 steps`);
  w.send({ type: 'cancel', id: 'long' } satisfies ToWorker); // a late cancel is no error
  w.send({ ...gen, id: 'after' } satisfies ToWorker);
  t.match((await w.until('after')).end, { type: 'done', id: 'after' }, 'the next generation runs');
});

t.test('diffusion worker — a file changed since promotion is refused at load, before any session is created', async (t) => {
  const m = folder();
  appendFileSync(join(m.dir, 'unet', 'model.onnx'), Buffer.from([0]));
  const w = new Worker(t, m.dir);
  t.match(await w.next(), { type: 'ready' });
  w.send({ type: 'load', modelDir: m.dir, files: m.files, threads: 1, provider: 'cpu' } satisfies ToWorker);
  t.match(await w.next(), { type: 'error', code: 'SECAI_E_DIGEST_MISMATCH', message: /unet\/model\.onnx changed since promotion/ });
  t.equal(await w.exited, 3, 'a worker whose load failed exits');
});

t.test('diffusion worker — garbage is answered with an error, a malformed generate under its id; the worker goes on', async (t) => {
  const w = new Worker(t, main.dir);
  t.match(await w.next(), { type: 'ready' });
  w.send({ ...gen, id: 'early' } satisfies ToWorker);
  t.match(await w.next(), { type: 'failed', id: 'early', code: 'SECAI_E_MODEL_NOT_LOADED' }, 'a generate before load');
  for (const bad of [{ type: 'eval', code: 'process.exit(1)' }, 'unload', [1, 2], { type: 'load', modelDir: main.dir, files: [{ rel: '../../etc/passwd', sha256: 'a'.repeat(64) }], threads: 1, provider: 'cpu' }]) {
    w.send(bad);
    t.match(await w.next(), { type: 'error', code: 'SECAI_E_WORKER_PROTOCOL' }, `refused: ${JSON.stringify(bad).slice(0, 60)}`);
  }
  w.send({ type: 'load', modelDir: main.dir, files: main.files, threads: 1, provider: 'cpu' } satisfies ToWorker);
  t.match(await w.next(), { type: 'loaded' });
  w.send({ type: 'load', modelDir: main.dir, files: main.files, threads: 1, provider: 'cpu' } satisfies ToWorker);
  t.match(await w.next(), { type: 'error', code: 'SECAI_E_INVALID_STATE' }, 'a second load: one model per worker');
  w.send({ ...gen, id: 'bad', width: 65 });
  t.match(await w.next(), { type: 'failed', id: 'bad', code: 'SECAI_E_WORKER_PROTOCOL', message: /width/ }, 'a malformed generate fails under its own id');
  w.send({ ...gen, id: 'img', initImage: Buffer.from('not a png').toString('base64') } satisfies ToWorker);
  t.match(await w.next(), { type: 'failed', id: 'img', code: 'SECAI_E_IMAGE_INVALID', message: /not a usable PNG/ }, 'a bad init image fails that request only');
  t.equal(w.w.child.exitCode, null, 'still running');
  w.send({ ...gen, id: 'ok' } satisfies ToWorker);
  t.match((await w.until('ok')).end, { type: 'done', id: 'ok' }, 'and still generates');
});

t.test('diffusion worker — no network: its own network namespace, with only lo', async (t) => {
  const w = new Worker(t, main.dir);
  t.match(await w.next(), { type: 'ready' });
  t.ok(w.w.argv.includes('--unshare-all'), 'bubblewrap unshares every namespace, the network included');
  // The node process inside bwrap (ready.pid is its pid in the sandbox's own pid namespace).
  const pids = processTree(w.w.child.pid!);
  const worker = pids.find((p) => { try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(DIFFUSION_WORKER_ENTRY) && !readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('--unshare-all'); } catch { return false; } }); // lint-ok: a process that exited meanwhile is not it
  t.ok(worker, `found the worker process in the tree ${pids.join(',')}`);
  t.not(readlinkSync(`/proc/${worker}/ns/net`), readlinkSync('/proc/self/ns/net'), 'another network namespace than ours');
  const ifaces = readFileSync(`/proc/${worker}/net/dev`, 'utf8').split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean);
  t.same(ifaces, ['lo'], 'its only interface is lo');
});
