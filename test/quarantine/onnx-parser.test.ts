// The bounded ONNX reader: what it returns for honest models (the tiny SD pipeline, subgraphs, functions, every data placement) and how content detection sees ONNX.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectFile } from '../../actors/quarantine/scan/format-detect.js';
import { onnxOperatorProblems, ONNX_STANDARD_OPS, DEFAULT_ONNX_OPSETS } from '../../actors/quarantine/scan/onnx-ops.js';
import { canonicalDomain, parseOnnxFile } from '../../actors/quarantine/scan/onnx-parser.js';
import { concatBytes, encodeOnnx, pbBytes, pbInt, randomNormal } from '../fixtures/onnx-writer.js';
import { writeTinySdOnnx } from '../fixtures/tiny-sd-onnx.js';
import { tempDir, writeTo } from './helpers.js';
import { linearModel, nestedIf, rawGraph, rawModel, rawNode, rawOpset, rawTensor } from './onnx-helpers.js';

const f16 = (x: number): number => {
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, x);
  const v = b.getUint32(0), s = (v >>> 16) & 0x8000, e = ((v >>> 23) & 0xff) - 112, m = (v >>> 13) & 0x3ff;
  return e <= 0 ? s : e >= 31 ? s | 0x7c00 : s | (e << 10) | m;
};

t.test('onnx parser — the tiny SD pipeline: every component parses with its opsets, graph inputs, nodes and tensors', async (t) => {
  const root = join(tempDir(t), 'sd');
  writeTinySdOnnx(root, { externalData: true });
  for (const c of ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder']) {
    const m = parseOnnxFile(join(root, c, 'model.onnx'));
    t.equal(m.irVersion, 8, c);
    t.same(m.opsets, [{ domain: '', version: 17 }], c);
    t.ok(m.nodes.length > 0 && m.tensors.length > 0, `${c}: ${m.nodes.length} nodes, ${m.tensors.length} tensors`);
    t.ok(m.nodes.every((n) => n.domain === '' && ONNX_STANDARD_OPS.has(n.opType)), `${c}: standard operators only`);
    t.same(onnxOperatorProblems(m, DEFAULT_ONNX_OPSETS), [], `${c}: within the default policy`);
    t.equal(m.graphName, c);
  }
  const unet = parseOnnxFile(join(root, 'unet', 'model.onnx'));
  t.same(unet.inputs.map((i) => i.name), ['sample', 'timestep', 'encoder_hidden_states']);
  t.same(unet.inputs[0]!.shape, ['batch', 4, 'height', 'width'], 'symbolic and fixed dims');
  t.equal(unet.inputs[0]!.elemType, 1);
  const ext = unet.tensors.filter((x) => x.data.kind === 'external');
  t.ok(ext.length > 0 && ext.every((x) => x.typeName === 'F32'), 'float weights are external, as Optimum writes them');
  const data = readFileSync(join(root, 'unet', 'model.onnx_data'));
  t.equal(ext.reduce((s, x) => s + x.byteLength, 0), data.length, 'the external spans cover the data file');
  t.ok(unet.tensors.some((x) => x.typeName === 'I64' && x.data.kind === 'raw'), 'int64 constants stay inline');
});

t.test('onnx parser — raw_data offsets point at the tensor bytes in the file; producer, metadata, names, dims as written', async (t) => {
  const weights = randomNormal(64 * 64, 0.05, 3);
  const bytes = encodeOnnx(linearModel({ weights, extra: { producer: 'pytorch', metadata: { source: 'optimum', license: 'mit' }, irVersion: 9, opsets: [{ domain: '', version: 18 }, { domain: 'com.microsoft', version: 1 }] } }));
  const p = writeTo(tempDir(t), 'm.onnx', bytes);
  const m = parseOnnxFile(p);
  t.equal(m.producerName, 'pytorch');
  t.same(m.metadata, { source: 'optimum', license: 'mit' });
  t.equal(m.irVersion, 9);
  t.same(m.opsets.map((o) => canonicalDomain(o.domain)), ['ai.onnx', 'com.microsoft']);
  t.same(m.nodes.map((n) => `${n.opType}:${n.name}:${n.graph}`), ['MatMul:/fc1/MatMul:main', 'Add:/fc1/Add:main']);
  const w = m.tensors.find((x) => x.name === 'fc1.weight')!;
  t.same(w.dims, [64, 64]);
  t.equal(w.elements, 4096);
  t.equal(w.byteLength, 16384);
  t.equal(w.data.kind, 'raw');
  if (w.data.kind === 'raw') {
    const got = new Float32Array(Uint8Array.from(bytes.subarray(w.data.offset, w.data.offset + w.data.length)).buffer);
    t.same(Array.from(got), Array.from(weights), 'the bytes at the recorded offset are the weights');
  }
  t.same(m.outputs, [{ name: 'y', elemType: 1, shape: ['batch', 64] }]);
});

t.test('onnx parser — If/Loop bodies: their nodes and initializers are read, with the graph path and the depth', async (t) => {
  const inner = rawNode('Relu', ['x'], ['y']);
  const p = writeTo(tempDir(t), 'if.onnx', nestedIf(3, inner));
  const m = parseOnnxFile(p);
  t.equal(m.graphDepth, 3);
  t.same(m.nodes.map((n) => n.opType), ['If', 'If', 'If', 'Relu']);
  t.match(m.nodes.at(-1)!.graph, /^main\/\/If\.then_branch\/\/If\.then_branch\/\/If\.then_branch$/);
  // A body's initializer is a tensor of the model too (the weight scan measures it).
  const body = rawGraph('body', [rawNode('Add', ['x', 'w'], ['y'])], [pbBytes(5, rawTensor('w', 1, [2], [pbBytes(9, new Uint8Array(new Float32Array([1, 2]).buffer))]))]);
  const withInit = rawModel(rawGraph('main', [rawNode('If', ['c'], ['y'], [pbBytes(5, concatBytes([pbBytes(1, 'else_branch'), pbBytes(6, body), pbInt(20, 5)]))])]));
  const m2 = parseOnnxFile(writeTo(tempDir(t), 'if2.onnx', withInit));
  t.same(m2.tensors.map((x) => `${x.name}@${x.graph}`), ['w@main//If.else_branch']);
});

t.test('onnx parser — model-local functions and their own opset imports', async (t) => {
  const m = parseOnnxFile(writeTo(tempDir(t), 'fn.onnx', encodeOnnx(linearModel({
    extra: {
      opsets: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
      functions: [{ name: 'Gelu2', domain: 'com.microsoft', inputs: ['x'], outputs: ['y'], nodes: [{ op: 'Erf', inputs: ['x'], outputs: ['y'] }], opsets: [{ domain: '', version: 17 }] }],
    },
  }))));
  t.equal(m.functions.length, 1);
  t.same(m.functions[0]!.opsets, [{ domain: '', version: 17 }]);
  t.same(m.functions[0]!.nodes.map((n) => n.opType), ['Erf']);
  t.same(onnxOperatorProblems(m, DEFAULT_ONNX_OPSETS), [], 'a function in an allowed non-standard domain is accepted');
});

t.test('onnx parser — typed data fields: packed float_data, float16 in int32_data, string_data; counts checked', async (t) => {
  const dir = tempDir(t);
  const floats = new Float32Array([0.5, -0.25, 0.125, 2]);
  const half = [0.5, -1, 0.25].map(f16);
  const varints = concatBytes(half.map((h) => Uint8Array.from(h < 128 ? [h] : h < 16384 ? [(h & 0x7f) | 0x80, h >> 7] : [(h & 0x7f) | 0x80, ((h >> 7) & 0x7f) | 0x80, h >> 14])));
  const graph = rawGraph('g', [rawNode('Add', ['a', 'b'], ['c'])], [
    pbBytes(5, rawTensor('a', 1, [4], [pbBytes(4, new Uint8Array(floats.buffer))])),
    pbBytes(5, rawTensor('h', 10, [3], [pbBytes(5, varints)])),
    pbBytes(5, rawTensor('s', 8, [2], [pbBytes(6, 'one'), pbBytes(6, 'two')])),
  ]);
  const p = writeTo(dir, 'typed.onnx', rawModel(graph));
  const m = parseOnnxFile(p);
  t.match(m.tensors[0], { name: 'a', typeName: 'F32', data: { kind: 'packed', field: 'float_data', count: 4, length: 16 } });
  t.match(m.tensors[1], { name: 'h', typeName: 'F16', data: { kind: 'packed', field: 'int32_data', count: 3 } });
  t.match(m.tensors[2], { name: 's', typeName: 'STRING', data: { kind: 'strings', count: 2 } });
});

t.test('onnx parser — content detection: a model is onnx by structure, its data file and other files are not', async (t) => {
  const root = join(tempDir(t), 'sd');
  writeTinySdOnnx(root, { externalData: true });
  for (const c of ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder']) t.equal(detectFile(join(root, c, 'model.onnx')).kind, 'onnx', c);
  t.not(detectFile(join(root, 'unet', 'model.onnx_data')).kind, 'onnx', 'raw floats are not a model');
  t.equal(detectFile(join(root, 'model_index.json')).kind, 'json');
  // SentencePiece protobuf starts with field 1 length-delimited (0x0a), never 0x08.
  const sp = writeTo(tempDir(t), 'tokenizer.model', Uint8Array.from([0x0a, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x15, 0, 0, 0, 0]));
  t.not(detectFile(sp).kind, 'onnx');
  // Declaration order (opset_import right after ir_version, as prost and other struct-order writers emit) is ONNX too.
  const decl = writeTo(tempDir(t), 'decl.onnx', concatBytes([pbInt(1, 8), pbBytes(8, rawOpset('', 17)), pbBytes(2, 'x'), pbBytes(7, rawGraph('g', [rawNode('Relu', ['x'], ['y'])]))]));
  t.equal(detectFile(decl).kind, 'onnx');
  t.equal(parseOnnxFile(decl).nodes.length, 1);
  // ir_version not first, or a field that is not ModelProto's before the graph: not recognised (and so refused).
  const late = writeTo(tempDir(t), 'late.onnx', concatBytes([pbBytes(2, 'x'), pbInt(1, 8), pbBytes(7, rawGraph('g', []))]));
  t.not(detectFile(late).kind, 'onnx');
  const odd = writeTo(tempDir(t), 'odd.onnx', concatBytes([pbInt(1, 8), pbBytes(14, concatBytes([pbBytes(1, 'k'), pbBytes(2, 'v')])), pbBytes(7, rawGraph('g', []))]));
  t.not(detectFile(odd).kind, 'onnx');
  const cut = readFileSync(join(root, 'text_encoder', 'model.onnx')).subarray(0, 600);
  writeFileSync(join(root, 'cut.onnx'), cut);
  t.equal(detectFile(join(root, 'cut.onnx')).kind, 'onnx', 'a truncated model is still recognised, so the parser can say what is wrong');
});
