// bench:behavioral — quarantine stage 6 on a ~1 GiB Q8_0 model (policy defaults: sandboxed worker, parallel sequences,
// early stop, per-category caps) versus node-llama-cpp in this process generating the same tokens for the same prompts.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getLlama, LlamaChat, resolveChatWrapper, type LlamaContextSequence } from 'node-llama-cpp';
import { behavioralPolicy, behavioralStage } from '../actors/quarantine/stages/behavioral.js';
import { loadConfig } from '../policy/load.js';
import type { InferenceSection } from '../policy/sections.js';
import { judge, SUITE, type ProbeEvidence } from '../workers/behavioral/suite.js';
import { inferenceThreads } from '../workers/cpu.js';
import { history } from '../workers/llm/history.js';
import { ONE_GIB_SHAPE, writeBehavioralBenchModel } from './behavioral-model.js';
import { emit, round, table } from './stats.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const policy = behavioralPolicy(loadConfig<{ inference: InferenceSection }>(join(root, 'policy'), 'policy').value.inference).options;
// BENCH_THREADS / BENCH_SEQUENCES override the policy's (both sides use the same); BENCH_LAYERS shrinks the model for a smoke run.
const threads = Number(process.env.BENCH_THREADS ?? 0) || policy.threads || inferenceThreads();
const sequences = Number(process.env.BENCH_SEQUENCES ?? 0) || policy.sequences || 1;
const shape = { ...ONE_GIB_SHAPE, layers: Number(process.env.BENCH_LAYERS ?? ONE_GIB_SHAPE.layers) };
const TARGET_RATIO = 1.1;
const TARGET_S = 90;

const dir = mkdtempSync(join(tmpdir(), 'secai-bench-bhv-'));
const modelPath = join(dir, 'bench-behavioral.gguf');
try {
  const w0 = performance.now();
  writeBehavioralBenchModel(modelPath, shape);
  const bytes = statSync(modelPath).size;
  console.log(`wrote a ${shape.layers}-layer, ${shape.dims}-dim Q8_0 llama GGUF of ${round(bytes / 2 ** 30, 3)} GiB in ${round((performance.now() - w0) / 1000, 1)} s`);
  console.log(`stage 6: ${sequences} sequences, ${threads} threads, early stop ${policy.earlyStop}, caps ${JSON.stringify(policy.categoryMaxTokens)}; load average ${loadavg().map((x) => round(x, 1)).join(' ')}`);

  // 1. Stage 6 as the quarantine runs it: hash, sandboxed worker, load, the whole suite, judging.
  const stage = await behavioralStage(
    { path: modelPath, kind: 'file', name: 'bench.gguf', origin: { type: 'local' }, size: bytes },
    { ...policy, threads, sequences, loadTimeoutMs: 600_000 }, () => {},
  );
  const ev = stage.evidence as { probes: ProbeEvidence[]; worker: { loadMs: number; gpu: string | false }; run: { generateMs: number }; sandboxed: boolean; error?: string };
  if (stage.verdict === 'error') throw new Error(`stage 6 could not run: ${stage.reason}`);
  const stageS = stage.durationMs / 1000;
  const completion = ev.probes.reduce((a, p) => a + (p.completionTokens ?? 0), 0);
  const prompt = ev.probes.reduce((a, p) => a + (p.promptTokens ?? 0), 0);
  console.log(`stage 6: ${stage.verdict} (${stage.reason}) in ${round(stageS, 1)} s; load average ${loadavg().map((x) => round(x, 1)).join(' ')}`);

  // 2. Baseline: node-llama-cpp here, same context shape, same prompts, each probe capped at the tokens stage 6 generated.
  const b0 = performance.now();
  const llama = await getLlama({ gpu: 'auto', logLevel: 'error' as never });
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize: policy.contextSize ?? 1024, threads, sequences });
  const chatWrapper = resolveChatWrapper(model);
  const loadS = (performance.now() - b0) / 1000;
  const free: LlamaContextSequence[] = Array.from({ length: sequences }, () => context.getSequence());
  const waiting: ((s: LlamaContextSequence) => void)[] = [];
  let baseTokens = 0;
  let mismatches = 0;
  let verdictMismatches = 0;
  const g0 = performance.now();
  await Promise.all(SUITE.map(async (p, i) => {
    const e = ev.probes[i]!;
    const seq = free.shift() ?? await new Promise<LlamaContextSequence>((r) => waiting.push(r));
    try {
      // As stage 6's pool does: the sequence keeps its last probe's tokens, and the shared prefix is not read again.
      const chat = new LlamaChat({ contextSequence: seq, autoDisposeSequence: false, ...(chatWrapper && { chatWrapper }) });
      let text = '';
      const out = seq.tokenMeter.usedOutputTokens;
      await chat.generateResponse(history(p.messages), { maxTokens: Math.max(1, e.completionTokens ?? 0), temperature: 0, seed: 0, onTextChunk: (t) => { text += t; } });
      baseTokens += Math.min(Math.max(1, e.completionTokens ?? 0), seq.tokenMeter.usedOutputTokens - out);
      chat.dispose({ disposeSequence: false });
      if (createHash('sha256').update(text, 'utf8').digest('hex') !== e.responseSha256) mismatches++;
      if ((judge(p, text).hits.length > 0) !== (e.hits.length > 0)) verdictMismatches++;
    } finally {
      const next = waiting.shift();
      if (next) next(seq); else free.push(seq);
    }
  }));
  const genS = (performance.now() - g0) / 1000;
  const baseS = loadS + genS;
  await context.dispose();
  await model.dispose();
  await llama.dispose();

  const ratio = stageS / baseS;
  console.log('');
  console.log(table([
    ['path', 'wall s', 'load s', 'generate s', 'completion tokens', 'tokens/s'],
    ['stage 6 (hash, sandbox, load, suite, judge)', round(stageS, 1), round(ev.worker.loadMs / 1000, 1), round(ev.run.generateMs / 1000, 1), completion, round(completion / (ev.run.generateMs / 1000), 1)],
    ['node-llama-cpp in-process, same tokens', round(baseS, 1), round(loadS, 1), round(genS, 1), baseTokens, round(baseTokens / genS, 1)],
    ['ratio stage 6 / direct', round(ratio, 3), round(ev.worker.loadMs / 1000 / loadS, 3), round(ev.run.generateMs / 1000 / genS, 3), '', ''],
  ]));
  console.log(`\n${SUITE.length} probes, ${prompt} prompt tokens, ${ev.probes.filter((p) => p.stoppedEarly).length} stopped early; responses differing from stage 6: ${mismatches} (probe verdicts differing: ${verdictMismatches}); worker ${ev.sandboxed ? 'sandboxed' : 'UNSANDBOXED'}, gpu ${String(ev.worker.gpu)}; load average ${loadavg().map((x) => round(x, 1)).join(' ')}\n`);
  emit({
    bench: 'behavioral', model_gib: round(bytes / 2 ** 30, 3), layers: shape.layers, threads, sequences, early_stop: policy.earlyStop ?? false,
    stage_s: round(stageS, 2), base_s: round(baseS, 2), ratio: round(ratio, 3), target_ratio: TARGET_RATIO, target_s: TARGET_S,
    stage_generate_s: round(ev.run.generateMs / 1000, 2), base_generate_s: round(genS, 2), base_load_s: round(loadS, 2),
    completion_tokens: completion, prompt_tokens: prompt, base_tokens_per_s: round(baseTokens / genS, 2), text_mismatches: mismatches, verdict_mismatches: verdictMismatches,
    load_average: loadavg().map((x) => round(x, 2)), met: ratio <= TARGET_RATIO && stageS <= TARGET_S,
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
