// Absolute weight plausibility: models too shallow for the sibling comparison (1–3 layers) are still judged, in every quant type, GGUF and safetensors.
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { createActor, fromPromise, toPromise } from 'xstate';
import { projectRoot } from '../../common/paths.js';
import { loadQuarantineFiles, quarantinePolicy } from '../../actors/quarantine/policy.js';
import { parsePolicy } from '../../policy/snapshot.js';
import { sectionsOf } from '../../policy/sections.js';
import { readFileSync } from 'node:fs';
import { tensorRole } from '../../actors/quarantine/scan/tensor-role.js';
import { FAMILY_BOUNDS, QUANT_SLACK } from '../../actors/quarantine/scan/weight-bounds.js';
import { DEFAULT_FORMAT_OPTIONS, formatStage } from '../../actors/quarantine/stages/format.js';
import { integrityStage } from '../../actors/quarantine/stages/integrity.js';
import { DEFAULT_STATIC_SCAN_OPTIONS, staticScanStage, type Finding } from '../../actors/quarantine/stages/static-scan.js';
import type { StageRunner } from '../../actors/quarantine/stages/types.js';
import { pipelineMachine, type StageInput, type StageResult } from '../../machines/quarantine/quarantine.machine.js';
import { encodeGguf } from '../fixtures/gguf-writer.js';
import { encodeHfLlama } from '../fixtures/hf-llama-writer.js';
import { llamaSpec, type LlamaBuildOptions } from '../fixtures/llama-builder.js';
import { encodeTinyLlama } from '../fixtures/tiny-llama.js';
import { artifact, noProgress, tempDir, writeTo } from '../quarantine/helpers.js';

const QUANTS = ['F32', 'F16', 'BF16', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'Q8_K'] as const;
/** The shipped quarantine settings, as the actor builds them from its policy section and its two files. */
function loadQuarantinePolicy(dir: string) {
  const q = sectionsOf(parsePolicy(readFileSync(join(dir, 'policy.yaml'), 'utf8'), 'policy.yaml', '/h').value).quarantine;
  return quarantinePolicy(q.value, loadQuarantineFiles(dir), q.digest);
}
const defaults = loadQuarantinePolicy(join(projectRoot, 'policy')).staticScan;

async function judge(t: Test, file: string, bytes: Uint8Array) {
  const p = writeTo(tempDir(t), file, bytes);
  const r = await staticScanStage(artifact(p), defaults, noProgress);
  return { r, findings: r.evidence.findings as Finding[] };
}
const gguf = (t: Test, o: LlamaBuildOptions) => judge(t, 'm.gguf', encodeGguf(llamaSpec({ layers: 2, dims: 256, ff: 512, ...o })));
const scaled = (target: string, k: number) => (n: string, v: Float32Array) => (n === target ? v.map((x) => x * k) : v);
const implausible = (fs: Finding[]) => fs.filter((f) => f.rule === 'implausible_weights');

t.test('weight bounds — the default policy thresholds are the ones these tests judge with', async (t) => {
  t.equal(defaults.failScore, DEFAULT_STATIC_SCAN_OPTIONS.failScore);
});

for (const quant of QUANTS) {
  t.test(`weight bounds — ${quant}: a 2-layer model with one layer ×1000 fails naming the tensor; the plausible one passes`, async (t) => {
    const bad = await gguf(t, { quant, values: scaled('blk.1.attn_q.weight', 1000) });
    t.equal(bad.r.verdict, 'fail', bad.r.reason);
    t.equal(bad.r.evidence.layerGroups, 0, 'the sibling comparison cannot run on 2 layers');
    const f = implausible(bad.findings);
    t.equal(f.length, 1, 'only the scaled tensor is implausible');
    t.match(f[0], { severity: 'critical', where: 'm.gguf:blk.1.attn_q.weight', tensor: 'blk.1.attn_q.weight', role: 'attn_q', statistic: 'std' });
    const slack = QUANT_SLACK[quant] ?? 1;
    t.equal(f[0]!.bound, FAMILY_BOUNDS.linear.std * slack);
    t.ok(f[0]!.value! > 10 && f[0]!.value! < 30, `std ${f[0]!.value} ≈ 20`);
    t.match(bad.r.reason, new RegExp(`implausible_weights at m\\.gguf:blk\\.1\\.attn_q\\.weight \\(std \\d+(\\.\\d+)? exceeds ${FAMILY_BOUNDS.linear.std * slack}`));
    t.match(bad.r.reason, new RegExp(`in ${quant}\\)`));

    const good = await gguf(t, { quant });
    t.equal(good.r.verdict, 'pass', good.r.reason);
    t.equal(good.r.evidence.score, 0);
    t.same(implausible(good.findings), []);
    t.ok((good.r.evidence.boundedTensors as number) === 2 * 9 + 3, 'every tensor was judged');
    t.ok((good.r.evidence.maxBoundRatio as number) < 0.5, `plausible model well inside the bounds (max ratio ${good.r.evidence.maxBoundRatio})`);
  });
}

t.test('weight bounds — 1 and 3 layers are judged too (the sibling detector needs 4)', async (t) => {
  for (const layers of [1, 3]) {
    const { r, findings } = await gguf(t, { layers, quant: 'Q8_0', values: scaled(`blk.${layers - 1}.ffn_down.weight`, 1000) });
    t.equal(r.verdict, 'fail', r.reason);
    t.equal(r.evidence.layerGroups, 0);
    t.ok(implausible(findings).some((f) => f.tensor === `blk.${layers - 1}.ffn_down.weight` && f.role === 'ffn_down'), `${layers} layers`);
  }
});

t.test('weight bounds — a whole layer ×1000 (all its tensors): each projection of that layer is named, none of the other layer', async (t) => {
  const { r, findings } = await gguf(t, { quant: 'Q5_K', values: (n, v) => (n.startsWith('blk.1.') ? v.map((x) => x * 1000) : v) });
  t.equal(r.verdict, 'fail', r.reason);
  const named = implausible(findings).map((f) => f.tensor).sort();
  for (const role of ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down']) t.ok(named.includes(`blk.1.${role}.weight`), role);
  t.notOk(named.some((n) => n!.startsWith('blk.0.')), 'layer 0 is plausible');
});

t.test('weight bounds — the same model with 4 layers is caught by both checks', async (t) => {
  const { r, findings } = await gguf(t, { layers: 4, quant: 'Q8_0', values: scaled('blk.1.attn_q.weight', 1000) });
  t.equal(r.verdict, 'fail');
  t.ok(findings.some((f) => f.rule === 'layer_outlier'));
  t.ok(findings.some((f) => f.rule === 'implausible_weights'));
});

t.test('weight bounds — NaN and Inf in a 2-layer model fail, with the fraction against the bound 0', async (t) => {
  const nan = await gguf(t, { quant: 'F32', values: (n, v) => { if (n === 'blk.0.attn_v.weight') v[7] = NaN; return v; } });
  t.equal(nan.r.verdict, 'fail', nan.r.reason);
  const f = nan.findings.find((x) => x.rule === 'non_finite_weights');
  t.match(f, { tensor: 'blk.0.attn_v.weight', role: 'attn_v', statistic: 'non_finite_fraction', bound: 0 });
  t.equal(f!.value, 1 / (256 * 256));
  t.match(nan.r.reason, /non_finite_weights at m\.gguf:blk\.0\.attn_v\.weight \(1 NaN, 0 Inf among 65536 measured values \(fraction 1\.53e-5, bound 0\)\)/);
  // 1e6 does not fit in F16: the writer stores +Inf.
  const inf = await gguf(t, { quant: 'F16', values: (n, v) => { if (n === 'blk.1.ffn_up.weight') v[3] = 1e6; return v; } });
  t.equal(inf.r.verdict, 'fail', inf.r.reason);
  t.ok(inf.findings.some((x) => x.rule === 'non_finite_weights' && x.tensor === 'blk.1.ffn_up.weight'));
});

t.test('weight bounds — one absurd value (|x| 1e6 in F32) among plausible ones fails on max |x|', async (t) => {
  const { r, findings } = await gguf(t, { quant: 'F32', values: (n, v) => { if (n === 'blk.1.ffn_down.weight') v[123] = -1e6; return v; } });
  t.equal(r.verdict, 'fail', r.reason);
  const f = implausible(findings).find((x) => x.tensor === 'blk.1.ffn_down.weight');
  t.ok(f, 'implausible_weights');
  t.match(f!.detail, /max \|x\| 1\.000e\+6 exceeds 500/);
  t.equal(f!.value, 1e6);
});

t.test('weight bounds — a huge constant norm gain fails (a constant vector alone is only a low finding)', async (t) => {
  const { r, findings } = await gguf(t, { quant: 'Q4_K', values: (n, v) => (n === 'blk.0.attn_norm.weight' ? v.fill(1e5) : v) });
  t.equal(r.verdict, 'fail', r.reason);
  t.match(implausible(findings)[0], { tensor: 'blk.0.attn_norm.weight', role: 'norm', statistic: 'mean', value: 1e5, bound: FAMILY_BOUNDS.norm.absMean });
  t.ok(findings.some((f) => f.rule === 'constant_tensor' && f.severity === 'low'));
  // All ones (an untrained RMSNorm) is plausible.
  const ones = await gguf(t, { quant: 'Q4_K', values: (n, v) => (n.endsWith('norm.weight') ? v.fill(1) : v) });
  t.equal(ones.r.verdict, 'pass', ones.r.reason);
});

t.test('weight bounds — a large constant matrix and a shifted mean fail', async (t) => {
  const constant = await gguf(t, { quant: 'Q8_0', values: (n, v) => (n === 'blk.1.ffn_up.weight' ? v.fill(50) : v) });
  t.equal(constant.r.verdict, 'fail');
  t.match(implausible(constant.findings)[0], { tensor: 'blk.1.ffn_up.weight', statistic: 'mean' });
  const shifted = await gguf(t, { quant: 'Q6_K', values: (n, v) => (n === 'blk.0.ffn_gate.weight' ? v.map((x) => x + 5) : v) });
  t.equal(shifted.r.verdict, 'fail', shifted.r.reason);
  t.match(implausible(shifted.findings)[0], { tensor: 'blk.0.ffn_gate.weight', role: 'ffn_gate', statistic: 'mean' });
});

t.test('weight bounds — outliers real models have stay plausible (super weight, norm outlier channel, Gemma-style zero-centred norms)', async (t) => {
  const { r, findings } = await gguf(t, {
    quant: 'F16',
    values: (n, v) => {
      if (n === 'blk.0.ffn_down.weight') v[42] = -25; // a "super weight" (Yu et al. 2024) in an early down projection
      if (n === 'blk.1.attn_norm.weight') v[5] = 300; // a LayerNorm outlier dimension
      if (n === 'blk.0.ffn_norm.weight') v.forEach((x, i) => { v[i] = x - 1; }); // HF Gemma stores w of (1 + w)
      if (n === 'token_embd.weight') v.forEach((x, i) => { v[i] = x * 10; }); // a T5-like large embedding (σ 0.2)
      return v;
    },
  });
  t.equal(r.verdict, 'pass', r.reason);
  t.same(implausible(findings), []);
  // The project's runnable tiny llama (uniform ±0.5 embeddings, U(±1/√d) projections) passes too.
  const tiny = await judge(t, 'tiny.gguf', encodeTinyLlama());
  t.equal(tiny.r.verdict, 'pass', tiny.r.reason);
});

for (const dtype of ['F32', 'F16', 'BF16'] as const) {
  t.test(`weight bounds — ${dtype} safetensors (Hugging Face names): ×1000 fails naming the tensor, the plausible checkpoint passes`, async (t) => {
    const good = await judge(t, 'model.safetensors', encodeHfLlama({ dtype, qkvBias: true }));
    t.equal(good.r.verdict, 'pass', good.r.reason);
    t.same(implausible(good.findings), []);
    const bad = await judge(t, 'model.safetensors', encodeHfLlama({ dtype, values: scaled('model.layers.1.self_attn.q_proj.weight', 1000) }));
    t.equal(bad.r.verdict, 'fail', bad.r.reason);
    t.match(implausible(bad.findings), [{ tensor: 'model.layers.1.self_attn.q_proj.weight', role: 'attn_q', statistic: 'std', bound: FAMILY_BOUNDS.linear.std }]);
    t.match(bad.r.reason, /implausible_weights at model\.safetensors:model\.layers\.1\.self_attn\.q_proj\.weight \(std \d+(\.\d+)? exceeds 2/);
    const norm = await judge(t, 'model.safetensors', encodeHfLlama({ dtype, values: (n, v) => (n === 'model.norm.weight' ? v.fill(dtype === 'F16' ? 60000 : 1e7) : v) }));
    t.equal(norm.r.verdict, 'fail', norm.r.reason);
    t.match(implausible(norm.findings), [{ tensor: 'model.norm.weight', role: 'norm' }]);
  });
}

t.test('weight bounds — the default policy rejects a shallow model with one implausible layer (stages 2, 3 and 5 through the pipeline)', async (t) => {
  const p = writeTo(tempDir(t), 'shallow.gguf', encodeGguf(llamaSpec({ layers: 2, dims: 256, ff: 512, quant: 'Q4_K', values: scaled('blk.0.attn_output.weight', 1000) })));
  const policy = loadQuarantinePolicy(join(projectRoot, 'policy'));
  const wrap = <O>(r: StageRunner<O>, o: O) => fromPromise<StageResult, StageInput>(({ input }) => r(artifact(input.artifact.path), o, noProgress));
  const pass = (stage: StageResult['stage']) => fromPromise<StageResult, StageInput>(async () => ({ stage, verdict: 'pass', reason: 'not under test', evidence: {}, durationMs: 0 }));
  const m = pipelineMachine.provide({
    actors: {
      sourceStage: pass('source'),
      formatStage: wrap(formatStage, DEFAULT_FORMAT_OPTIONS),
      integrityStage: wrap(integrityStage, { pins: new Map(), requirePin: false }),
      provenanceStage: pass('provenance'),
      staticScanStage: wrap(staticScanStage, policy.staticScan),
      behavioralStage: pass('behavioral'),
      diffusionStage: pass('diffusion'),
      promote: fromPromise<Record<string, unknown>, StageInput>(async () => { throw new Error('must not be promoted'); }),
    },
  });
  const out = await toPromise(createActor(m, { input: { id: 'j', artifact: artifact(p), policy: policy.pipeline, behavioralAvailable: false } }).start());
  t.equal(out.outcome, 'rejected', out.reason);
  t.match(out.reason, /implausible_weights at shallow\.gguf:blk\.0\.attn_output\.weight \(std \d+(\.\d+)? exceeds 2\.5/);
});

t.test('weight bounds — tensor roles from GGUF and Hugging Face names; unknown names get the generic bounds', async (t) => {
  const cases: [string, string, number | null][] = [
    ['token_embd.weight', 'token_embd', null],
    ['output.weight', 'output', null],
    ['output_norm.weight', 'norm', null],
    ['rope_freqs.weight', 'rope_freqs', null],
    ['blk.0.attn_q.weight', 'attn_q', 0],
    ['blk.11.attn_k.weight', 'attn_k', 11],
    ['blk.2.attn_v.weight', 'attn_v', 2],
    ['blk.2.attn_qkv.weight', 'attn_qkv', 2],
    ['blk.2.attn_output.weight', 'attn_output', 2],
    ['blk.3.attn_q_norm.weight', 'norm', 3],
    ['blk.3.ffn_gate.weight', 'ffn_gate', 3],
    ['blk.3.ffn_up_exps.weight', 'ffn_up', 3],
    ['blk.3.ffn_down.weight', 'ffn_down', 3],
    ['blk.3.ffn_gate_inp.weight', 'ffn_router', 3],
    ['blk.3.attn_q.bias', 'bias', 3],
    ['blk.3.attn_norm.weight', 'norm', 3],
    ['model.embed_tokens.weight', 'token_embd', null],
    ['model.layers.4.self_attn.q_proj.weight', 'attn_q', 4],
    ['model.layers.4.self_attn.k_proj.bias', 'bias', 4],
    ['model.layers.4.self_attn.o_proj.weight', 'attn_output', 4],
    ['model.layers.4.self_attn.q_norm.weight', 'norm', 4],
    ['model.layers.4.mlp.gate_proj.weight', 'ffn_gate', 4],
    ['model.layers.4.mlp.up_proj.weight', 'ffn_up', 4],
    ['model.layers.4.mlp.down_proj.weight', 'ffn_down', 4],
    ['model.layers.4.input_layernorm.weight', 'norm', 4],
    ['model.layers.4.post_attention_layernorm.weight', 'norm', 4],
    ['model.layers.4.block_sparse_moe.gate.weight', 'ffn_router', 4],
    ['model.layers.4.block_sparse_moe.experts.7.w2.weight', 'ffn_down', 4],
    ['model.norm.weight', 'norm', null],
    ['lm_head.weight', 'output', null],
    ['transformer.wte.weight', 'token_embd', null],
    ['transformer.wpe.weight', 'position_embd', null],
    ['transformer.h.5.attn.c_attn.weight', 'attn_qkv', 5],
    ['transformer.h.5.attn.c_proj.weight', 'attn_output', 5],
    ['transformer.h.5.mlp.c_fc.weight', 'ffn_up', 5],
    ['transformer.h.5.mlp.c_proj.weight', 'ffn_down', 5],
    ['transformer.h.5.ln_1.weight', 'norm', 5],
    ['transformer.ln_f.weight', 'norm', null],
    ['model.layers.1.self_attn.dense.weight', 'attn_output', 1],
    ['model.layers.1.mlp.fc1.weight', 'ffn_up', 1],
    ['model.final_layernorm.weight', 'norm', null],
    ['encoder.block.0.layer.0.SelfAttention.q.weight', 'attn_q', 0],
    ['encoder.block.0.layer.1.DenseReluDense.wo.weight', 'ffn_down', 0],
    ['shared.weight', 'token_embd', null],
    ['text_model.encoder.layers.0.layer_norm1.weight', 'norm', 0],
    ['text_model.embeddings.token_embedding.weight', 'token_embd', null],
    ['down_blocks.0.resnets.0.conv1.weight', 'generic', null],
    ['something.else', 'generic', null],
  ];
  for (const [name, role, layer] of cases) t.same(tensorRole(name), { role, layer }, name);
});
