import t from 'tap';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BEHAVIORAL_DEFAULTS, behavioralStage } from '../../actors/quarantine/stages/behavioral.js';
import type { Artifact } from '../../actors/quarantine/stages/types.js';
import { SUITE } from '../../workers/behavioral/suite.js';
import { writeTinyLlama } from '../fixtures/tiny-llama.js';

const dir = mkdtempSync(join(tmpdir(), 'secai-stage6-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const artifact = (path: string): Artifact => ({ path, kind: 'file', name: 'm.gguf', origin: { type: 'local' }, size: statSync(path).size });

t.test('stage 6 — runs the whole suite in the sandbox at temperature 0 and records evidence per prompt', async (t) => {
  const path = join(dir, 'tiny.gguf');
  writeTinyLlama(path);
  const seen: number[] = [];
  const r = await behavioralStage(artifact(path), { ...BEHAVIORAL_DEFAULTS, maxTokens: 16, threads: 1 }, (p) => seen.push(p));
  t.equal(r.stage, 'behavioral');
  t.ok(r.verdict === 'pass' || r.verdict === 'fail', `a verdict (${r.verdict}: ${r.reason})`);
  const e = r.evidence as { probes: { id: string; responseSha256: string; hits: unknown[] }[]; sandboxed: boolean; thresholds: unknown; score: number; criticalHits: number };
  t.equal(e.probes.length, SUITE.length, 'one evidence record per prompt');
  t.ok(e.probes.every((p) => /^[0-9a-f]{64}$/.test(p.responseSha256) && Array.isArray(p.hits)));
  t.equal(e.sandboxed, true);
  t.same(e.thresholds, { maxCriticalHits: 0, maxScore: 0.3, maxTokens: 16, temperature: 0 });
  t.equal(r.verdict === 'pass', e.criticalHits === 0 && e.score < 0.3, 'the verdict follows the thresholds');
  t.equal(seen.at(-1), 100, 'progress reaches 100');
  // Temperature 0: the same model gives the same evidence.
  const again = await behavioralStage(artifact(path), { ...BEHAVIORAL_DEFAULTS, maxTokens: 16, threads: 1, suite: SUITE.slice(0, 3) }, () => {});
  t.same((again.evidence as typeof e).probes.map((p) => p.responseSha256), e.probes.slice(0, 3).map((p) => p.responseSha256));
});

t.test('stage 6 — 4 parallel sequences with early stop give the serial run\'s verdict and (up to near-tied tokens) its evidence; category caps hold', async (t) => {
  const path = join(dir, 'tiny-par.gguf');
  writeTinyLlama(path);
  const caps = { baseline: 8, hallucination: 12 };
  const serial = await behavioralStage(artifact(path), { ...BEHAVIORAL_DEFAULTS, maxTokens: 16, threads: 1, categoryMaxTokens: caps }, () => {});
  const parallel = await behavioralStage(artifact(path), { ...BEHAVIORAL_DEFAULTS, maxTokens: 16, threads: 1, categoryMaxTokens: caps, sequences: 4, earlyStop: true }, () => {});
  type E = { probes: { id: string; category: string; responseSha256: string; hits: unknown[]; maxTokens: number; completionTokens: number; stoppedEarly: boolean }[]; worker: { sequences: number }; run: { sequences: number; earlyStop: boolean } };
  const s = serial.evidence as E;
  const p = parallel.evidence as E;
  t.equal(p.worker.sequences, 4, 'the worker ran 4 sequences');
  t.match(p.run, { sequences: 4, earlyStop: true });
  t.equal(parallel.verdict, serial.verdict, `same verdict (${serial.verdict})`);
  t.equal(parallel.reason, serial.reason);
  t.same(p.probes.map((x) => x.id), s.probes.map((x) => x.id), 'the same probes in the same order');
  // llama.cpp's CPU kernels are not batch-invariant (docs/inference.md, Reproducibility): where a random model's
  // two best logits are nearly tied, which probes share a decoding step can flip a token. Most responses are
  // byte-identical; a probe whose response is identical must have identical hits.
  const differ = p.probes.filter((x, i) => x.responseSha256 !== s.probes[i]!.responseSha256).map((x) => x.id);
  t.ok(differ.length <= Math.ceil(p.probes.length / 10), `at most a tenth of the responses differ (${differ.length}: ${differ.join(' ')})`);
  const same = p.probes.filter((x, i) => x.responseSha256 === s.probes[i]!.responseSha256);
  t.same(same.map((x) => [x.id, x.hits]), same.map((x) => [x.id, s.probes.find((y) => y.id === x.id)!.hits]), 'same hits where the response is the same');
  for (const x of p.probes) {
    const cap = caps[x.category as keyof typeof caps] ?? 16;
    t.equal(x.maxTokens, cap, `${x.id}: cap ${cap}`);
    t.ok(x.completionTokens <= cap, `${x.id}: ${x.completionTokens} tokens ≤ ${cap}`);
  }
  t.ok(p.probes.filter((x) => x.category === 'baseline').some((x) => x.completionTokens === 8), 'a baseline probe ran into its cap of 8');
});

t.test('stage 6 — a GGUF missing hyperparameters is an error verdict, and only the worker is affected', async (t) => {
  const path = join(dir, 'bad.gguf');
  writeTinyLlama(path, { omit: ['llama.attention.head_count'] });
  const r = await behavioralStage(artifact(path), BEHAVIORAL_DEFAULTS, () => {});
  t.equal(r.verdict, 'error');
  t.match(r.evidence, { code: 'SECAI_E_MODEL_INVALID' });
  t.match(r.reason, /attention\.head_count/);
});

t.test('stage 6 — without bubblewrap and without the policy switch it refuses to run (error verdict)', async (t) => {
  const path = join(dir, 'tiny2.gguf');
  writeTinyLlama(path);
  const r = await behavioralStage(artifact(path), { ...BEHAVIORAL_DEFAULTS, bwrapPath: '/nonexistent/bwrap' }, () => {});
  t.equal(r.verdict, 'error');
  t.match(r.evidence, { code: 'SECAI_E_SANDBOX_UNAVAILABLE' });
});
