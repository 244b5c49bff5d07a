// ONNX through the quarantine: the tiny Optimum SD folder (inline and external weights) and a lone .onnx file pass stages 2, 5 and 7 and the whole pipeline.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../common/paths.js';
import { loadQuarantineFiles, quarantinePolicy } from '../../actors/quarantine/policy.js';
import { DEFAULT_ONNX_OPSETS } from '../../actors/quarantine/scan/onnx-ops.js';
import { DEFAULT_ONNX_LIMITS } from '../../actors/quarantine/scan/onnx-parser.js';
import { ONNX_LAYOUT_LIMITS } from '../../actors/quarantine/scan/onnx-weights.js';
import { sectionsOf } from '../../policy/sections.js';
import { parsePolicy } from '../../policy/snapshot.js';
import { writeTinySdOnnx } from '../fixtures/tiny-sd-onnx.js';
import { artifact, tempDir, writeTo } from './helpers.js';
import { folderArtifact, linearOnnx, runDiffusion, runFormat, runPipeline, runStatic, shippedQuarantinePolicy } from './onnx-helpers.js';

const stages = (o: Awaited<ReturnType<typeof runPipeline>>) => o.results.map((r) => `${r.stage}:${r.verdict}`);

for (const externalData of [false, true]) {
  t.test(`onnx stages — the tiny SD folder (${externalData ? 'unet weights in model.onnx_data' : 'inline weights'}) passes stages 2, 5 and 7`, async (t) => {
    const root = join(tempDir(t), 'sd');
    writeTinySdOnnx(root, { externalData });
    const fmt = await runFormat(root, 'folder');
    t.equal(fmt.verdict, 'pass', fmt.reason);
    const files = fmt.evidence.files as { file: string; kind: string; externalFiles?: unknown[] }[];
    t.same(files.filter((f) => f.kind === 'onnx').map((f) => f.file), ['text_encoder/model.onnx', 'unet/model.onnx', 'vae_decoder/model.onnx', 'vae_encoder/model.onnx']);
    if (externalData) {
      t.match(files.find((f) => f.file === 'unet/model.onnx_data'), { kind: 'onnx_external_data', referencedBy: ['unet/model.onnx'] });
      t.match(files.find((f) => f.file === 'unet/model.onnx')?.externalFiles, [{ location: 'model.onnx_data' }]);
    }
    const scan = await runStatic(root, 'folder');
    t.equal(scan.verdict, 'pass', scan.reason);
    t.equal(scan.evidence.findingCount, 0);
    const scanned = (scan.evidence.files as { file: string; tensorCount: number }[]).map((f) => f.file);
    t.same(scanned, ['text_encoder/model.onnx', 'unet/model.onnx', ...(externalData ? ['unet/model.onnx_data'] : []), 'vae_decoder/model.onnx', 'vae_encoder/model.onnx']);
    t.ok((scan.evidence.boundedTensors as number) > 50, `every float initializer measured (${String(scan.evidence.boundedTensors)})`);
    const diff = await runDiffusion(root);
    t.equal(diff.verdict, 'pass', diff.reason);
    t.equal(diff.evidence.layout, 'onnx');
    t.same(Object.keys(diff.evidence.components as object).sort(), ['scheduler', 'text_encoder', 'tokenizer', 'unet', 'vae_decoder', 'vae_encoder']);
  });
}

t.test('onnx stages — the tiny SD folder is promoted by the pipeline with the real stages and the shipped policy', async (t) => {
  for (const externalData of [false, true]) {
    const root = join(tempDir(t), `sd-${externalData}`);
    writeTinySdOnnx(root, { externalData });
    const out = await runPipeline(folderArtifact(root));
    t.equal(out.outcome, 'promoted', out.reason);
    t.same(stages(out), ['source:warn', 'format:pass', 'integrity:warn', 'provenance:warn', 'static_scan:pass', 'behavioral:pass', 'diffusion:pass']);
  }
});

t.test('onnx stages — a lone .onnx file with inline weights is accepted; stage 7 does not apply', async (t) => {
  const p = writeTo(tempDir(t), 'linear.onnx', linearOnnx());
  const fmt = await runFormat(p);
  t.equal(fmt.verdict, 'pass', fmt.reason);
  t.match(fmt.evidence, { container: 'onnx', irVersion: 8, nodeCount: 2, tensorCount: 3, externalTensors: 0 });
  const scan = await runStatic(p);
  t.equal(scan.verdict, 'pass', scan.reason);
  t.equal(scan.evidence.tensorCount, 3);
  t.match((scan.evidence.files as Record<string, unknown>[])[0], { tensorManifest: [{ name: 'fc1.weight' }, { name: 'fc1.bias' }, { name: 'shape' }] });
  const out = await runPipeline(artifact(p));
  t.equal(out.outcome, 'promoted', out.reason);
  t.match(out.results.find((r) => r.stage === 'diffusion'), { verdict: 'pass', evidence: { skipped: true } });
});

t.test('onnx stages — the shipped policy gives the ONNX defaults to stages 2 and 7', async (t) => {
  const p = shippedQuarantinePolicy();
  t.same(p.format.onnx.opsets, DEFAULT_ONNX_OPSETS);
  t.equal(p.format.onnx.allowExternalData, true);
  t.same(p.format.onnx.limits, DEFAULT_ONNX_LIMITS, 'policy.yaml states the built-in bounds');
  t.same(p.diffusion.onnxLimits, DEFAULT_ONNX_LIMITS);
  t.ok(Object.isFrozen(p.format.onnx.opsets) && Object.isFrozen(p.format.onnx.limits));
});

t.test('onnx stages — policy.yaml quarantine.onnx reaches the stages; the weight scan reads anything policy may allow', async (t) => {
  const dir = join(projectRoot, 'policy');
  const text = readFileSync(join(dir, 'policy.yaml'), 'utf8')
    .replace(/opsets: \{ ai\.onnx: 23[^}]*\}/, 'opsets: { ai.onnx: 17, com.example: 2 }')
    .replace('allow_external_data: true', 'allow_external_data: false')
    .replace('max_graph_depth: 8', 'max_graph_depth: 2');
  const q = sectionsOf(parsePolicy(text, 'policy.yaml', '/h').value).quarantine;
  const p = quarantinePolicy(q.value, loadQuarantineFiles(dir), q.digest);
  t.same(p.format.onnx.opsets, { 'ai.onnx': 17, 'com.example': 2 });
  t.equal(p.format.onnx.allowExternalData, false);
  t.equal(p.format.onnx.limits.maxGraphDepth, 2);
  t.equal(p.diffusion.onnxLimits.maxGraphDepth, 2);
  t.throws(() => parsePolicy(text.replace('max_graph_depth: 2', 'max_graph_depth: 2\n    surprise: 1'), 'policy.yaml', '/h'), /surprise/, 'unknown keys are errors');
  t.throws(() => parsePolicy(text.replace('opsets: { ai.onnx: 17, com.example: 2 }', 'opsets: { com.example: 2 }'), 'policy.yaml', '/h'), /ai\.onnx/, 'the default domain must be listed');
  const schema = JSON.parse(readFileSync(join(projectRoot, 'policy', 'schemas', 'policy', 'quarantine.schema.json'), 'utf8')) as { properties: { onnx: { properties: Record<string, { maximum: number }> } } };
  const max = schema.properties.onnx.properties;
  t.same([ONNX_LAYOUT_LIMITS.maxNodes, ONNX_LAYOUT_LIMITS.maxInitializers, ONNX_LAYOUT_LIMITS.maxGraphDepth, ONNX_LAYOUT_LIMITS.maxIrVersion],
    [max.max_nodes!.maximum, max.max_initializers!.maximum, max.max_graph_depth!.maximum, max.max_ir_version!.maximum], 'the scan bounds are the schema maxima');
});
