import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_FORMAT_OPTIONS, formatStage } from '../../actors/quarantine/stages/format.js';
import { encodeNpy, encodeTorchZip, encodeZip } from '../fixtures/archive-writers.js';
import { writeDiffusersFolder } from '../fixtures/diffusers-writer.js';
import { gaussian } from '../fixtures/ggml-quantize.js';
import { encodeGguf } from '../fixtures/gguf-writer.js';
import { llamaSpec } from '../fixtures/llama-builder.js';
import { benignStateDict, encodePickle } from '../fixtures/pickle-writer.js';
import { encodeSafetensors, floatTensor } from '../fixtures/safetensors-writer.js';
import { artifact, noProgress, tempDir, writeTo } from './helpers.js';

const run = (path: string, kind: 'file' | 'folder' = 'file') => formatStage(artifact(path, kind), DEFAULT_FORMAT_OPTIONS, noProgress);

t.test('format — GGUF v2 and v3 accepted by content', async (t) => {
  const dir = tempDir(t);
  for (const version of [2, 3] as const) {
    const r = await run(writeTo(dir, `m${version}.bin`, encodeGguf(llamaSpec({ version, layers: 2, dims: 64, ff: 128, vocab: 64 }))));
    t.equal(r.verdict, 'pass', r.reason);
    t.equal(r.evidence.version, version);
    t.equal(r.evidence.tensorCount, 2 * 9 + 3);
  }
});

t.test('format — safetensors accepted; a diffusers folder accepted', async (t) => {
  const dir = tempDir(t);
  const st = encodeSafetensors({ tensors: [floatTensor('w', 'F16', [8, 8], gaussian(64, 0.02, 1))], metadata: { format: 'pt' } });
  const r = await run(writeTo(dir, 'model.gguf', st));
  t.equal(r.verdict, 'pass', r.reason);
  t.equal(r.evidence.container, 'safetensors');
  const folder = join(dir, 'sd');
  writeDiffusersFolder(folder);
  const f = await run(folder, 'folder');
  t.equal(f.verdict, 'pass', f.reason);
  t.equal((f.evidence.files as unknown[]).length, 12);
});

t.test('format — pickles refused with their imported globals rated (protocol 2 GLOBAL and protocol 4 STACK_GLOBAL)', async (t) => {
  const dir = tempDir(t);
  for (const protocol of [2, 4] as const) {
    const p = writeTo(dir, `evil${protocol}.gguf`, encodePickle([
      { module: 'os', name: 'system', args: ['id'] },
      { module: 'builtins', name: 'eval', args: ['1'] },
      { module: 'mypkg.helpers', name: 'load', args: [] },
      { module: 'collections', name: 'OrderedDict', args: [] },
    ], protocol));
    const r = await run(p);
    t.equal(r.verdict, 'fail');
    t.equal(r.evidence.detected, 'pickle');
    t.match(r.reason, /pickle.*os\.system \(critical\)/);
    t.same(r.evidence.globals, [
      { global: 'os.system', rating: 'critical', opcode: protocol === 2 ? 'GLOBAL' : 'STACK_GLOBAL' },
      { global: 'builtins.eval', rating: 'critical', opcode: protocol === 2 ? 'GLOBAL' : 'STACK_GLOBAL' },
      { global: 'mypkg.helpers.load', rating: 'high', opcode: protocol === 2 ? 'GLOBAL' : 'STACK_GLOBAL' },
      { global: 'collections.OrderedDict', rating: 'safe', opcode: protocol === 2 ? 'GLOBAL' : 'STACK_GLOBAL' },
    ]);
    t.equal(r.evidence.worstGlobal, 'critical');
  }
});

t.test('format — protocol 0 and protocol 5 pickles are recognised too', async (t) => {
  const dir = tempDir(t);
  const p0 = await run(writeTo(dir, 'p0.gguf', Buffer.from("cposix\nsystem\n(S'id'\ntR.", 'latin1')));
  t.equal(p0.verdict, 'fail');
  t.equal(p0.evidence.detected, 'pickle');
  t.same(p0.evidence.globals, [{ global: 'posix.system', rating: 'critical', opcode: 'GLOBAL' }]);
  const p5 = Buffer.from(encodePickle([{ module: 'runpy', name: '_run_code', args: ['x'] }], 4));
  p5[1] = 5;
  const r5 = await run(writeTo(dir, 'p5.gguf', p5));
  t.equal(r5.evidence.detected, 'pickle');
  t.same(r5.evidence.globals, [{ global: 'runpy._run_code', rating: 'critical', opcode: 'STACK_GLOBAL' }]);
});

t.test('format — a benign pickle (.pt state dict) is still refused: pickles are never accepted', async (t) => {
  const dir = tempDir(t);
  const r = await run(writeTo(dir, 'model.pt', benignStateDict(2)));
  t.equal(r.verdict, 'fail');
  t.equal(r.evidence.worstGlobal, 'safe');
});

t.test('format — PyTorch zip refused, listing the globals inside data.pkl', async (t) => {
  const dir = tempDir(t);
  const r = await run(writeTo(dir, 'model.safetensors', encodeTorchZip(encodePickle([{ module: 'subprocess', name: 'Popen', args: ['sh'] }], 2))));
  t.equal(r.verdict, 'fail');
  t.equal(r.evidence.detected, 'pytorch_zip');
  t.same(r.evidence.globals, [{ global: 'subprocess.Popen', rating: 'critical', opcode: 'GLOBAL' }]);
});

t.test('format — NumPy, npz, Keras HDF5, tar, plain zip and unknown bytes refused with a reason', async (t) => {
  const dir = tempDir(t);
  const npy = encodeNpy('<f4', [4], new Uint8Array(16));
  const cases: [string, Uint8Array, string][] = [
    ['a.gguf', npy, 'numpy_npy'],
    ['b.gguf', encodeZip([{ name: 'x.npy', data: npy }]), 'numpy_npz'],
    ['c.gguf', Buffer.concat([Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(100)]), 'keras_hdf5'],
    ['d.gguf', (() => { const b = Buffer.alloc(1024); b.write('model.pkl', 0); b.write('ustar', 257); return b; })(), 'pytorch_tar'],
    ['e.gguf', encodeZip([{ name: 'readme.txt', data: Buffer.from('hi') }]), 'zip'],
    ['f.gguf', Buffer.from([0, 1, 2, 3, 0, 0, 0, 9]), 'unknown'],
    ['g.gguf', Buffer.from('FUGG\x03\x00\x00\x00', 'latin1'), 'unknown'],
  ];
  for (const [name, data, kind] of cases) {
    const r = await run(writeTo(dir, name, data));
    t.equal(r.verdict, 'fail', `${kind}: ${r.reason}`);
    t.equal(r.evidence.detected, kind);
    t.match(r.reason, /refused/);
  }
});

t.test('format — a folder holding a pickle .bin is refused naming the file', async (t) => {
  const dir = tempDir(t);
  const folder = join(dir, 'sd');
  writeDiffusersFolder(folder);
  mkdirSync(join(folder, 'unet'), { recursive: true });
  writeFileSync(join(folder, 'unet', 'diffusion_pytorch_model.bin'), encodePickle([{ module: 'os', name: 'system', args: ['id'] }], 2));
  const r = await run(folder, 'folder');
  t.equal(r.verdict, 'fail');
  t.equal(r.evidence.file, 'unet/diffusion_pytorch_model.bin');
  t.match(r.reason, /^unet\/diffusion_pytorch_model\.bin: a Python pickle/);
});

t.test('format — a FIFO or a directory given as a file is refused without opening it', async (t) => {
  const dir = tempDir(t);
  const fifo = join(dir, 'model.gguf');
  execFileSync('mkfifo', [fifo]);
  const r = await run(fifo);
  t.equal(r.verdict, 'fail');
  t.equal(r.evidence.rule, 'not_regular_file');
  t.equal((await run(dir)).evidence.rule, 'not_regular_file');
});

t.test('format — a missing file is an error verdict, not a throw', async (t) => {
  const r = await run('/nonexistent/secai/model.gguf');
  t.equal(r.verdict, 'error');
  t.match(r.reason, /could not finish/);
});

t.test('format — an absurd safetensors header length is reported with the length found and the limit (#13.5)', async (t) => {
  const dir = tempDir(t);
  const good = encodeSafetensors({ tensors: [floatTensor('w', 'F16', [8, 8], gaussian(64, 0.02, 1))] });
  for (const n of [2n ** 40n, 2n ** 63n, BigInt(good.length)]) {
    const bad = Buffer.from(good);
    bad.writeBigUInt64LE(n, 0);
    const r = await run(writeTo(dir, `absurd-${n}.safetensors`, bad));
    t.equal(r.verdict, 'fail');
    t.equal(r.evidence.detected, 'safetensors', 'still recognised as safetensors');
    t.match(r.reason, new RegExp(`header of ${n} bytes`), `the reason names the length: ${r.reason}`);
    t.notMatch(r.reason, /unrecognised/);
  }
  // Text that happens to have a { as its ninth byte is not taken for safetensors.
  const text = await run(writeTo(dir, 'notes.txt', Buffer.from('abcdefgh{"a":1}')));
  t.not(text.evidence.detected, 'safetensors');
});
