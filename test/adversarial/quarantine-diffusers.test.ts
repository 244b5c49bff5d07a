// Hostile diffusers folders: links, special files, remote code, unknown libraries, URLs, odd suffixes; caught by stage 7 (or 2).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_DIFFUSION_OPTIONS, diffusionStage } from '../../actors/quarantine/stages/diffusion.js';
import { DEFAULT_FORMAT_OPTIONS, formatStage } from '../../actors/quarantine/stages/format.js';
import { writeDiffusersFolder, type DiffusersOptions } from '../fixtures/diffusers-writer.js';
import { artifact, noProgress, tempDir } from '../quarantine/helpers.js';

function folder(t: { teardown: (fn: () => void) => void }, o: DiffusersOptions = {}): string {
  const f = join(tempDir(t), 'pipe');
  writeDiffusersFolder(f, o);
  return f;
}
const diffuse = (f: string) => diffusionStage(artifact(f, 'folder'), DEFAULT_DIFFUSION_OPTIONS, noProgress);
const rules = (r: Awaited<ReturnType<typeof diffuse>>) => ((r.evidence.problems ?? []) as { rule: string; where: string }[]).map((p) => p.rule);

t.test('diffusers — a benign folder passes, listing its components', async (t) => {
  const r = await diffuse(folder(t));
  t.equal(r.verdict, 'pass', r.reason);
  t.same(Object.keys(r.evidence.components as object).sort(), ['safety_checker', 'scheduler', 'text_encoder', 'tokenizer', 'unet', 'vae']);
});

t.test('diffusers — a single file is not applicable (pass, marked)', async (t) => {
  const f = folder(t);
  const r = await diffusionStage(artifact(join(f, 'model_index.json')), DEFAULT_DIFFUSION_OPTIONS, noProgress);
  t.equal(r.verdict, 'pass');
  t.equal(r.evidence.applicable, false);
});

t.test('diffusers — a symlink (even to a file inside) fails stage 7 and stage 2', async (t) => {
  const f = folder(t);
  symlinkSync('/etc/passwd', join(f, 'tokenizer', 'vocab.txt'));
  const r = await diffuse(f);
  t.equal(r.verdict, 'fail');
  t.ok(rules(r).includes('symlink'));
  const fmt = await formatStage(artifact(f, 'folder'), DEFAULT_FORMAT_OPTIONS, noProgress);
  t.equal(fmt.verdict, 'fail');
  t.equal(fmt.evidence.rule, 'not_regular_file');
});

t.test('diffusers — a hard link fails', async (t) => {
  const f = folder(t);
  linkSync(join(f, 'unet', 'config.json'), join(f, 'vae', 'extra.json'));
  const r = await diffuse(f);
  t.equal(r.verdict, 'fail');
  t.ok(rules(r).includes('hard_link'));
});

t.test('diffusers — a FIFO fails as a special file', async (t) => {
  const f = folder(t);
  execFileSync('mkfifo', [join(f, 'scheduler', 'pipe.txt')]);
  const r = await diffuse(f);
  t.equal(r.verdict, 'fail');
  t.ok(rules(r).includes('special_file'));
});

t.test('diffusers — remote code fields anywhere fail', async (t) => {
  for (const [where, o] of [
    ['model_index', { modelIndex: { _custom_pipeline: 'evil/pipeline' } }],
    ['unet config', { unetConfig: { auto_map: { AutoModel: 'modeling_evil.Evil' } } }],
    ['nested', { unetConfig: { nested: { trust_remote_code: true } } }],
  ] as const) {
    const r = await diffuse(folder(t, o as DiffusersOptions));
    t.equal(r.verdict, 'fail', where);
    t.ok(rules(r).includes('remote_code'), `${where}: ${rules(r).join(',')}`);
  }
});

t.test('diffusers — components from unknown libraries and malformed components fail', async (t) => {
  const r = await diffuse(folder(t, { modelIndex: { unet: ['evil_lib', 'Backdoor'] } }));
  t.equal(r.verdict, 'fail');
  t.ok(rules(r).includes('unknown_library'));
  const r2 = await diffuse(folder(t, { modelIndex: { vae: ['diffusers', 'AutoencoderKL', 'x'] } }));
  t.ok(rules(r2).includes('bad_component'));
});

t.test('diffusers — URLs in configs fail', async (t) => {
  const r = await diffuse(folder(t, { unetConfig: { weights_from: 'https://evil.example/unet.bin' } }));
  t.equal(r.verdict, 'fail');
  t.ok(rules(r).includes('url'));
});

t.test('diffusers — disallowed suffixes, hidden files, missing model_index.json', async (t) => {
  const f = folder(t);
  writeFileSync(join(f, 'unet', 'loader.py'), 'import os');
  writeFileSync(join(f, '.env'), 'X=1');
  const r = await diffuse(f);
  t.ok(rules(r).includes('suffix'));
  t.ok(rules(r).includes('bad_path'));
  const g = folder(t);
  writeFileSync(join(g, 'model_index.json'), readFileSync(join(g, 'model_index.json'), 'utf8').slice(0, 10));
  t.ok(rules(await diffuse(g)).includes('bad_model_index'));
});

t.test('diffusers — folder bounds: too deep, too many files', async (t) => {
  const f = folder(t);
  mkdirSync(join(f, 'a', 'b', 'c', 'd', 'e'), { recursive: true });
  const r = await diffuse(f);
  t.equal(r.verdict, 'fail');
  t.equal(r.evidence.rule, 'folder_bounds');
  const g = folder(t);
  for (let i = 0; i < 30; i++) writeFileSync(join(g, 'scheduler', `n${i}.txt`), 'x');
  const r2 = await diffusionStage(artifact(g, 'folder'), { ...DEFAULT_DIFFUSION_OPTIONS, maxFiles: 20 }, noProgress);
  t.equal(r2.evidence.rule, 'folder_bounds');
});
