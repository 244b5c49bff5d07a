// Hostile ONNX external-data references: paths that leave the model's folder, links, files too short, shared or disguised data. Stage 2 refuses each (stage 7 too where a link is on disk).
import t, { type Test } from 'tap';
import { linkSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_FORMAT_OPTIONS } from '../../actors/quarantine/stages/format.js';
import { encodeOnnx, floatTensor, randomNormal, type OnnxTensor } from '../fixtures/onnx-writer.js';
import { encodePickle } from '../fixtures/pickle-writer.js';
import { writeTinySdOnnx } from '../fixtures/tiny-sd-onnx.js';
import { tempDir } from '../quarantine/helpers.js';
import { linearModel, linearOnnx, runDiffusion, runFormat, rulesOf } from '../quarantine/onnx-helpers.js';

const WEIGHT_BYTES = 64 * 64 * 4;
const weights = () => new Uint8Array(randomNormal(64 * 64, 0.05, 11).buffer);

/** root/unet/model.onnx whose fc1.weight is external at `location` (offset/length as given); root/unet/model.onnx_data holds `data`. */
function extFolder(t: Test, location: string, o: { offset?: number; length?: number; data?: Uint8Array | null; more?: OnnxTensor[] } = {}): string {
  const root = join(tempDir(t), 'pipe');
  mkdirSync(join(root, 'unet'), { recursive: true });
  const ext: OnnxTensor = { name: 'fc1.weight', dtype: 'float32', dims: [64, 64], externalData: { location, offset: o.offset ?? 0, length: o.length ?? WEIGHT_BYTES } };
  writeFileSync(join(root, 'unet', 'model.onnx'), encodeOnnx(linearModel({ initializers: [ext, floatTensor('fc1.bias', [64], randomNormal(64, 0.02, 2)), ...(o.more ?? [])] })));
  if (o.data !== null) writeFileSync(join(root, 'unet', 'model.onnx_data'), o.data ?? weights());
  return root;
}

async function refused(t: Test, root: string, rule: string, reason?: RegExp, o = DEFAULT_FORMAT_OPTIONS) {
  const r = await runFormat(root, 'folder', o);
  t.equal(r.stage, 'format');
  t.equal(r.verdict, 'fail', r.reason);
  t.equal(r.evidence.rule, rule, `rule: ${r.reason}`);
  if (reason) t.match(r.reason, reason);
  return r;
}

t.test('onnx external data — the honest folder passes (the control for every case below)', async (t) => {
  const r = await runFormat(extFolder(t, 'model.onnx_data'), 'folder');
  t.equal(r.verdict, 'pass', r.reason);
});

t.test('onnx external data — an absolute location is refused', async (t) => {
  for (const loc of ['/etc/passwd', 'C:/Windows/win.ini', '~/secret']) await refused(t, extFolder(t, loc), 'external_data_absolute', /absolute/);
});

t.test("onnx external data — a location climbing out with '..' is refused", async (t) => {
  for (const loc of ['../text_encoder/model.onnx_data', 'sub/../../x.bin', '..']) await refused(t, extFolder(t, loc), 'external_data_traversal', /'\.\.'/);
});

t.test('onnx external data — backslashes, NUL, wildcards (onnxruntime memory-address tag) and hidden names are refused', async (t) => {
  for (const loc of ['sub\\model.onnx_data', 'model.onnx_data\0.txt', '*/_ORT_MEM_ADDR_/*', '.hidden', 'a//b', '']) {
    await refused(t, extFolder(t, loc), 'external_data_bad_name');
  }
});

t.test('onnx external data — a symlinked data file pointing outside is refused (stage 2 names the link, stage 7 too)', async (t) => {
  const outside = join(tempDir(t), 'secret.bin');
  writeFileSync(outside, weights());
  const root = extFolder(t, 'model.onnx_data', { data: null });
  symlinkSync(outside, join(root, 'unet', 'model.onnx_data'));
  await refused(t, root, 'external_data_symlink', /symbolic link/);
  t.ok(rulesOf(await runDiffusion(root)).includes('symlink'));
  // A symlinked folder on the way is refused the same, whether it points out or in.
  const root2 = extFolder(t, 'w/model.onnx_data', { data: null });
  mkdirSync(join(root2, 'zreal'));
  writeFileSync(join(root2, 'zreal', 'model.onnx_data'), weights());
  symlinkSync(join(root2, 'zreal'), join(root2, 'unet', 'w'));
  await refused(t, root2, 'external_data_symlink', /w is a symbolic link/);
});

t.test('onnx external data — a hard-linked data file is refused', async (t) => {
  const root = extFolder(t, 'model.onnx_data');
  linkSync(join(root, 'unet', 'model.onnx_data'), join(tempDir(t), 'elsewhere.bin'));
  await refused(t, root, 'external_data_hard_link', /2 links/);
  const inside = extFolder(t, 'model.onnx_data');
  linkSync(join(inside, 'unet', 'model.onnx_data'), join(inside, 'unet', 'zcopy.onnx_data'));
  await refused(t, inside, 'external_data_hard_link');
  t.ok(rulesOf(await runDiffusion(inside)).includes('hard_link'));
});

t.test('onnx external data — offset + length beyond the file, a wrong length, or a missing file is refused', async (t) => {
  await refused(t, extFolder(t, 'model.onnx_data', { data: weights().subarray(0, 1000) }), 'external_data_bounds', /runs past the end of the 1000-byte file/);
  await refused(t, extFolder(t, 'model.onnx_data', { offset: 2 ** 40 }), 'external_data_bounds');
  await refused(t, extFolder(t, 'model.onnx_data', { length: 4 }), 'data_size_mismatch', /length 4 for 16384 bytes/);
  await refused(t, extFolder(t, 'model.onnx_data', { data: null }), 'external_data_missing', /does not exist/);
  const dir = extFolder(t, 'sub', {});
  mkdirSync(join(dir, 'unet', 'sub'));
  await refused(t, dir, 'external_data_not_file');
});

t.test('onnx external data — overlapping spans, the model as its own data, one file for two models are refused', async (t) => {
  const twin: OnnxTensor = { name: 'fc2.weight', dtype: 'float32', dims: [32, 64], externalData: { location: 'model.onnx_data', offset: 100, length: 32 * 64 * 4 } };
  await refused(t, extFolder(t, 'model.onnx_data', { more: [twin] }), 'external_data_overlap', /overlap/);
  await refused(t, extFolder(t, 'model.onnx', { data: null }), 'external_data_self', /the model file itself/);
  const shared = extFolder(t, 'model.onnx_data');
  const ext: OnnxTensor = { name: 'w', dtype: 'float32', dims: [64, 64], externalData: { location: 'model.onnx_data', offset: 0, length: WEIGHT_BYTES } };
  writeFileSync(join(shared, 'unet', 'other.onnx'), encodeOnnx(linearModel({ initializers: [ext] })));
  await refused(t, shared, 'external_data_shared', /external data of 2 models/);
});

t.test('onnx external data — a data file whose content is a pickle or a model is refused as data', async (t) => {
  const pickle = encodePickle([{ module: 'os', name: 'system', args: ['id'] }]);
  const data = new Uint8Array(WEIGHT_BYTES);
  data.set(pickle);
  await refused(t, extFolder(t, 'model.onnx_data', { data }), 'external_data_container', /pickle content/);
  const model = linearOnnx();
  const padded = new Uint8Array(Math.max(WEIGHT_BYTES, model.length));
  padded.set(model);
  await refused(t, extFolder(t, 'model.onnx_data', { data: padded }), 'external_data_container', /an ONNX model/);
});

t.test('onnx external data — a data file no model names is refused as unrecognised content', async (t) => {
  const root = join(tempDir(t), 'sd');
  writeTinySdOnnx(root);
  writeFileSync(join(root, 'unet', 'model.onnx_data'), weights());
  const r = await runFormat(root, 'folder');
  t.equal(r.verdict, 'fail');
  t.match(r.reason, /unet\/model\.onnx_data: an unrecognised format is refused/);
});

t.test('onnx external data — policy can forbid external data; a single-file import cannot carry it', async (t) => {
  const forbid = { ...DEFAULT_FORMAT_OPTIONS, onnx: { ...DEFAULT_FORMAT_OPTIONS.onnx, allowExternalData: false } };
  await refused(t, extFolder(t, 'model.onnx_data'), 'external_data_forbidden', /policy forbids external data/, forbid);
  const root = join(tempDir(t), 'sd');
  writeTinySdOnnx(root, { externalData: true });
  await refused(t, root, 'external_data_forbidden', undefined, forbid);
  const lone = await runFormat(join(extFolder(t, 'model.onnx_data'), 'unet', 'model.onnx'));
  t.equal(lone.verdict, 'fail');
  t.equal(lone.evidence.rule, 'external_data_single_file');
});
