import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { merkleRoot } from '../../actors/quarantine/scan/merkle.js';
import { scanFile } from '../../actors/quarantine/scan/scan-file.js';
import { DEFAULT_STATIC_SCAN_OPTIONS, riskScore, staticScanStage } from '../../actors/quarantine/stages/static-scan.js';
import { writeDiffusersFolder } from '../fixtures/diffusers-writer.js';
import { encodeGguf, writeGgufFile } from '../fixtures/gguf-writer.js';
import { llamaSpec } from '../fixtures/llama-builder.js';
import { artifact, noProgress, tempDir, writeTo } from './helpers.js';

const QUANTS = ['F32', 'F16', 'BF16', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'Q8_K'] as const;

t.test('static scan — a benign llama-shaped model passes in every quant type, with Merkle root and tensor count', async (t) => {
  const dir = tempDir(t);
  for (const quant of QUANTS) {
    const p = writeTo(dir, `m-${quant}.gguf`, encodeGguf(llamaSpec({ quant, layers: 4, dims: 256, ff: 512 })));
    const r = await staticScanStage(artifact(p), DEFAULT_STATIC_SCAN_OPTIONS, noProgress);
    t.equal(r.verdict, 'pass', `${quant}: ${r.reason}`);
    t.equal(r.evidence.tensorCount, 4 * 9 + 3);
    t.match(r.evidence.merkleRoot, /^[0-9a-f]{64}$/);
    t.equal(r.evidence.score, 0);
  }
});

t.test('static scan — per-tensor SHA-256 manifest and Merkle root are those of the tensor bytes', async (t) => {
  const dir = tempDir(t);
  const spec = llamaSpec({ layers: 1, dims: 64, ff: 64, vocab: 32 });
  const p = writeTo(dir, 'm.gguf', encodeGguf(spec));
  const scan = await scanFile(p);
  const want = spec.tensors.map((x) => ({ name: x.name, sha256: createHash('sha256').update(x.data as Uint8Array).digest('hex') }));
  t.same(scan.tensors.map((x) => ({ name: x.name, sha256: x.sha256 })), want);
  t.equal(scan.merkleRoot, merkleRoot(want));
  t.equal(scan.sha256, createHash('sha256').update(readFileSync(p)).digest('hex'));
  t.equal(scan.passes, 1);
  const swapped = merkleRoot([want[1]!, want[0]!, ...want.slice(2)]);
  t.not(swapped, scan.merkleRoot, 'order is bound');
});

t.test('static scan — worker threads and the inline path give identical results', async (t) => {
  const dir = tempDir(t);
  const p1 = join(dir, 'a.gguf');
  const p2 = join(dir, 'b.gguf');
  writeGgufFile(p1, llamaSpec({ quant: 'Q4_K', layers: 2, dims: 256, ff: 512 }));
  writeFileSync(p2, readFileSync(p1));
  const inline = await scanFile(p1, { workers: 0, chunkBytes: 1 << 16 });
  const threaded = await scanFile(p2, { workers: 2, chunkBytes: 1 << 16 });
  t.equal(inline.workers, 0);
  t.equal(threaded.workers, 2);
  t.equal(threaded.sha256, inline.sha256);
  t.equal(threaded.merkleRoot, inline.merkleRoot);
  t.same(threaded.tensors, inline.tensors);
});

t.test('static scan — sampling is deterministic and said in evidence', async (t) => {
  const dir = tempDir(t);
  const p = writeTo(dir, 'm.gguf', encodeGguf(llamaSpec({ quant: 'Q8_0', layers: 4, dims: 256, ff: 512 })));
  const r = await staticScanStage(artifact(p), { ...DEFAULT_STATIC_SCAN_OPTIONS, sampleCap: 4096 }, noProgress);
  t.equal(r.verdict, 'pass', r.reason);
  t.equal(r.evidence.sampled, true);
  t.ok((r.evidence.sampledTensors as number) > 0);
  const scan = await scanFile(p);
  const ffn = scan.tensors.find((x) => x.name === 'blk.0.ffn_up.weight')!;
  t.ok(ffn.sampledFraction < 0.1 && ffn.sampledFraction > 0, `sampled fraction ${ffn.sampledFraction}`);
});

t.test('static scan — a diffusers folder: every safetensors file and the tokenizer template', async (t) => {
  const dir = tempDir(t);
  const folder = join(dir, 'sd');
  writeDiffusersFolder(folder);
  const r = await staticScanStage(artifact(folder, 'folder'), DEFAULT_STATIC_SCAN_OPTIONS, noProgress);
  t.equal(r.verdict, 'pass', r.reason);
  t.equal((r.evidence.files as unknown[]).length, 3);
  t.equal(r.evidence.tensorCount, 8);
  writeFileSync(join(folder, 'tokenizer', 'tokenizer_config.json'), JSON.stringify({ chat_template: "{{ self.__init__.__globals__ }}" }));
  const bad = await staticScanStage(artifact(folder, 'folder'), DEFAULT_STATIC_SCAN_OPTIONS, noProgress);
  t.equal(bad.verdict, 'fail');
  t.match(bad.reason, /template_/);
});

t.test('static scan — risk score combines findings and respects the thresholds', async (t) => {
  const w = DEFAULT_STATIC_SCAN_OPTIONS.severityWeights;
  t.equal(riskScore([], w), 0);
  t.equal(riskScore([{ severity: 'critical', rule: 'x', where: 'y', detail: '' }], w), 1);
  t.equal(riskScore([{ severity: 'medium', rule: 'x', where: 'y', detail: '' }], w), 0.3);
  t.equal(riskScore([{ severity: 'medium', rule: 'x', where: 'y', detail: '' }, { severity: 'medium', rule: 'x', where: 'z', detail: '' }], w), 0.51);
});
