// bench:diffusion — UNet steps per second through HTTP → gateway routes → bus → diffusion host → sandboxed worker,
// seen by the client as the Generate page sees them (SSE progress events of POST /api/images/generate), against
// onnxruntime-node in this process running the same pipeline code on the same folder, request and seed, interleaved.
// Also the time from sending the request to its first progress event. Targets: steps/s ratio ≥ 0.95; first
// progress < 50 ms. A warm pipeline on both sides (loaded before the rounds), one thread each.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinySdOnnx } from '../test/fixtures/tiny-sd-onnx.js';
import { loadPipeline } from '../workers/diffusion/pipeline.js';
import { emit, round, summarize, table } from './stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const STEPS = Number(process.env.BENCH_STEPS ?? 24);
const SIDE = Number(process.env.BENCH_SIDE ?? 512);
const THREADS = Number(process.env.BENCH_THREADS ?? 1);
// The stand reads its worker threads from here; both sides run the same count.
process.env.SECAI_TEST_THREADS = String(THREADS);
const { startDiffusionStack, TINY_SD_NAME } = await import('../test/helpers/diffusion-stack.js');

interface Run { stepsPerSec: number; firstProgressMs: number; totalMs: number; steps: number }

/** Steps per second between the first and the last progress report (the UNet loop, not the encoders or the VAE). */
const rate = (at: number[]): number => (at.length - 1) / ((at.at(-1)! - at[0]!) / 1000);

const request = { prompt: 'a photo of a red cat', negativePrompt: 'blurry', width: SIDE, height: SIDE, steps: STEPS, guidance: 7.5, seed: 42, scheduler: 'euler' as const };

// Baseline: the pipeline in this process, on its own copy of the same folder.
const dir = mkdtempSync(join(tmpdir(), 'secai-bench-diffusion-'));
writeTinySdOnnx(join(dir, 'tiny-sd'));
const pipeline = await loadPipeline(join(dir, 'tiny-sd'), { threads: THREADS, provider: 'cpu' });
async function base(): Promise<Run> {
  const at: number[] = [];
  const t0 = performance.now();
  const r = await pipeline.generate(request, { onStep: () => at.push(performance.now()) });
  return { stepsPerSec: rate(at), firstProgressMs: at[0]! - t0, totalMs: performance.now() - t0, steps: r.steps };
}

// Ours: the HTTP route of the Generate page over the real bus to a sandboxed worker.
const stack = await startDiffusionStack({ section: { max_side: Math.max(SIDE, 256), max_steps: Math.max(STEPS, 30) } });
const headers = { 'content-type': 'application/json', cookie: `${stack.session.cookie.name}=${stack.session.cookie.value}`, 'x-csrf-token': stack.session.token, origin: stack.url };
async function ours(): Promise<Run> {
  const at: number[] = [];
  const t0 = performance.now();
  const res = await fetch(`${stack.url}/api/images/generate`, { method: 'POST', headers, body: JSON.stringify({ model: TINY_SD_NAME, ...request }) });
  if (res.status !== 200 || !res.body) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const decoder = new TextDecoder();
  let buffered = '';
  let done: { steps: number } | undefined;
  for await (const part of res.body) {
    buffered += decoder.decode(part, { stream: true });
    for (let i = buffered.indexOf('\n\n'); i >= 0; i = buffered.indexOf('\n\n')) {
      const block = buffered.slice(0, i);
      buffered = buffered.slice(i + 2);
      const event = /^event: (.+)$/m.exec(block)?.[1];
      const data = /^data: (.+)$/m.exec(block)?.[1];
      if (event === 'progress') at.push(performance.now());
      else if (event === 'done') done = JSON.parse(data!) as { steps: number };
      else if (event === 'error') throw new Error(`generation failed: ${data}`);
    }
  }
  if (!done || at.length !== STEPS) throw new Error(`expected ${STEPS} progress events and done, got ${at.length}`);
  return { stepsPerSec: rate(at), firstProgressMs: at[0]! - t0, totalMs: performance.now() - t0, steps: done.steps };
}

try {
  // Warm both: the worker's pipeline is loaded on demand by the first request.
  await ours();
  await base();
  const runs = { ours: [] as Run[], base: [] as Run[] };
  for (let i = 0; i < ROUNDS; i++) {
    // Interleaved, the order alternating: neither side always runs on a warmer cache.
    if (i % 2) { runs.ours.push(await ours()); runs.base.push(await base()); } else { runs.base.push(await base()); runs.ours.push(await ours()); }
  }
  const o = { rate: summarize(runs.ours.map((r) => r.stepsPerSec)), first: summarize(runs.ours.map((r) => r.firstProgressMs)), total: summarize(runs.ours.map((r) => r.totalMs)) };
  const b = { rate: summarize(runs.base.map((r) => r.stepsPerSec)), first: summarize(runs.base.map((r) => r.firstProgressMs)), total: summarize(runs.base.map((r) => r.totalMs)) };
  const ratio = round(o.rate.p50 / b.rate.p50, 3);
  console.log(`tiny SD pipeline, ${SIDE}×${SIDE}, ${STEPS} Euler steps, guidance 7.5 (UNet batch 2), ${THREADS} thread(s), ${ROUNDS} rounds each`);
  console.log(table([
    ['path', 'UNet steps/s p50', 'first progress p50 ms', 'first progress max ms', 'request p50 ms'],
    ['HTTP → gateway → bus → worker (sandboxed)', round(o.rate.p50, 1), round(o.first.p50, 1), round(Math.max(...runs.ours.map((r) => r.firstProgressMs)), 1), round(o.total.p50, 0)],
    ['onnxruntime-node in process (baseline)', round(b.rate.p50, 1), round(b.first.p50, 1), round(Math.max(...runs.base.map((r) => r.firstProgressMs)), 1), round(b.total.p50, 0)],
  ]));
  emit({
    bench: 'diffusion', side: SIDE, steps: STEPS, threads: THREADS,
    ours_steps_per_s: round(o.rate.p50, 2), base_steps_per_s: round(b.rate.p50, 2), ratio, target: 0.95, met: ratio >= 0.95,
    first_progress_p50_ms: round(o.first.p50, 1), base_first_progress_p50_ms: round(b.first.p50, 1), first_progress_target_ms: 50, first_progress_met: o.first.p50 < 50,
    ours_request_p50_ms: round(o.total.p50, 0), base_request_p50_ms: round(b.total.p50, 0),
  });
} finally {
  await stack.stop();
  await pipeline.release();
  rmSync(dir, { recursive: true, force: true });
}
