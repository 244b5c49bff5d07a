// Malformed and hostile ONNX protobuf: truncation, lengths larger than the file, deep nesting, absurd dims, fields a second parser would read differently. Stage 2 refuses each, fast and small.
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseOnnxFile } from '../../actors/quarantine/scan/onnx-parser.js';
import { ParseError } from '../../actors/quarantine/scan/parse-error.js';
import { DEFAULT_FORMAT_OPTIONS, type FormatOptions } from '../../actors/quarantine/stages/format.js';
import { concatBytes, pbBytes, pbInt, pbTag, pbVarint } from '../fixtures/onnx-writer.js';
import { writeTinySdOnnx } from '../fixtures/tiny-sd-onnx.js';
import { tempDir, writeTo } from '../quarantine/helpers.js';
import { linearOnnx, nestedIf, rawGraph, rawModel, rawNode, rawOpset, rawTensor, runFormat } from '../quarantine/onnx-helpers.js';

async function refused(t: Test, bytes: Uint8Array, rule: string, reason?: RegExp, o: FormatOptions = DEFAULT_FORMAT_OPTIONS) {
  const r = await runFormat(writeTo(tempDir(t), 'm.onnx', bytes), 'file', o);
  t.equal(r.stage, 'format');
  t.equal(r.verdict, 'fail', r.reason);
  t.equal(r.evidence.detected, 'onnx', 'recognised as ONNX, then refused');
  t.equal(r.evidence.rule, rule, `rule: ${r.reason}`);
  if (reason) t.match(r.reason, reason);
  return r;
}

const f32 = (...v: number[]) => new Uint8Array(new Float32Array(v).buffer);
const withInit = (tensor: Uint8Array) => rawModel(rawGraph('g', [rawNode('Relu', ['w'], ['y'])], [pbBytes(5, tensor)]));
const limits = (o: Partial<FormatOptions['onnx']['limits']>): FormatOptions => ({ ...DEFAULT_FORMAT_OPTIONS, onnx: { ...DEFAULT_FORMAT_OPTIONS.onnx, limits: { ...DEFAULT_FORMAT_OPTIONS.onnx.limits, ...o } } });

t.test('onnx protobuf — a truncated model is refused wherever it is cut', async (t) => {
  const root = join(tempDir(t), 'sd');
  writeTinySdOnnx(root);
  const whole = readFileSync(join(root, 'text_encoder', 'model.onnx'));
  for (const at of [100, 3000, Math.floor(whole.length / 2), whole.length - 1]) {
    await refused(t, whole.subarray(0, at), 'truncated', /runs past the end|ends inside|shorter/);
  }
});

t.test('onnx protobuf — a length prefix larger than the file fails at once, without allocating it', async (t) => {
  const cases: [string, Uint8Array][] = [
    ['graph of 2^40 bytes', concatBytes([pbInt(1, 8), pbBytes(2, 'x'), pbTag(7, 2), pbVarint(2 ** 40), new Uint8Array(64)])],
    ['raw_data of 2^35 bytes', withInit(concatBytes([pbInt(1, 1), pbInt(2, 1), pbBytes(8, 'w'), pbTag(9, 2), pbVarint(2 ** 35)]))],
    ['a name of 2^31 bytes', rawModel(rawGraph('g', [concatBytes([pbTag(3, 2), pbVarint(2 ** 31), pbBytes(4, 'Relu')])]))],
  ];
  for (const [what, bytes] of cases) {
    const before = process.memoryUsage();
    const started = performance.now();
    await refused(t, bytes, 'truncated', /runs past the end/);
    const ms = performance.now() - started;
    const grew = process.memoryUsage().arrayBuffers - before.arrayBuffers;
    t.ok(ms < 1000, `${what}: refused in ${ms.toFixed(1)} ms`);
    t.ok(grew < 16 * 1024 * 1024, `${what}: array buffers grew by ${grew} bytes`);
  }
  // Within the file but over the bound for names: refused before the bytes are read.
  const longName = 'n'.repeat(1 << 20);
  await refused(t, rawModel(rawGraph('g', [rawNode('Relu', [longName], ['y'])])), 'string_too_long', /over the 4096-byte limit/);
});

t.test('onnx protobuf — deeply nested subgraphs are refused at the depth bound, however deep the file goes', async (t) => {
  t.equal((await runFormat(writeTo(tempDir(t), 'ok.onnx', nestedIf(8)))).verdict, 'pass', 'eight levels (the default bound) pass');
  await refused(t, nestedIf(9), 'graph_too_deep', /deeper than 8/);
  const started = performance.now();
  await refused(t, nestedIf(3000), 'graph_too_deep');
  t.ok(performance.now() - started < 2000, 'no stack exhaustion, no walk of the whole nest');
  await refused(t, nestedIf(1), 'graph_too_deep', /deeper than 0/, limits({ maxGraphDepth: 0 }));
  // TypeProto nests too: a sequence of sequences of … as a graph input's type.
  let type = concatBytes([pbBytes(1, pbInt(1, 1))]);
  for (let i = 0; i < 40; i++) type = pbBytes(4, pbBytes(1, type));
  const input = concatBytes([pbBytes(1, 'x'), pbBytes(2, type)]);
  await refused(t, rawModel(rawGraph('g', [rawNode('Relu', ['x'], ['y'])], [pbBytes(11, input)])), 'type_too_deep');
});

t.test('onnx protobuf — huge declared dims with tiny data are refused, and nothing is sized from them', async (t) => {
  await refused(t, withInit(rawTensor('w', 1, [2 ** 30, 2 ** 30], [pbBytes(9, f32(1))])), 'bad_dims', /absurd/);
  await refused(t, withInit(rawTensor('w', 1, [1e9], [pbBytes(9, f32(1, 2, 3, 4))])), 'data_size_mismatch', /16 bytes of raw data for 1000000000 F32 \(4000000000 bytes\)/);
  await refused(t, withInit(rawTensor('w', 1, [1e9], [])), 'missing_tensor_data');
  await refused(t, withInit(rawTensor('w', 1, [4], [pbBytes(4, f32(1, 2))])), 'data_size_mismatch', /2 values in float_data for 4/);
  await refused(t, withInit(rawTensor('w', 1, [-1], [pbBytes(9, f32(1))])), 'bad_dims');
  await refused(t, withInit(rawTensor('w', 1, Array.from({ length: 17 }, () => 1), [pbBytes(9, f32(1))])), 'bad_rank');
  await refused(t, withInit(rawTensor('w', 10, [3], [pbBytes(5, Uint8Array.from([1, 2]))])), 'data_size_mismatch', /2 values in int32_data for 3/);
  await refused(t, withInit(rawTensor('w', 99, [1], [pbBytes(9, f32(1))])), 'bad_dtype');
});

t.test('onnx protobuf — fields two parsers could read differently are refused', async (t) => {
  const raw = pbBytes(9, f32(1));
  await refused(t, withInit(rawTensor('w', 1, [1], [raw, raw])), 'duplicate_field', /occurs twice/);
  await refused(t, withInit(rawTensor('w', 1, [1], [raw, pbBytes(4, f32(1))])), 'ambiguous_tensor_data');
  await refused(t, withInit(rawTensor('w', 1, [1], [concatBytes([pbTag(4, 5), f32(1)])])), 'unpacked_tensor_data');
  await refused(t, withInit(rawTensor('w', 1, [1], [pbBytes(3, pbInt(1, 0)), raw])), 'tensor_segment');
  const g = rawGraph('g', [rawNode('Relu', ['x'], ['y'])]);
  await refused(t, concatBytes([rawModel(g), pbBytes(7, g)]), 'duplicate_field');
  await refused(t, concatBytes([rawModel(g), pbBytes(99, 'hidden payload')]), 'unknown_field', /unknown field 99/);
  await refused(t, concatBytes([rawModel(g), pbVarint(30 * 8 + 3)]), 'bad_wire_type'); // a group start
  await refused(t, concatBytes([rawModel(g), pbBytes(20, pbBytes(1, g))]), 'training_info');
  await refused(t, rawModel(rawGraph('g', [rawNode('Relu', ['x'], ['y'])], [pbBytes(15, pbBytes(1, rawTensor('v', 1, [1], [raw])))])), 'sparse_tensor');
  await refused(t, rawModel(g, { ir: 99 }), 'bad_ir_version', /IR version 99/);
  await refused(t, rawModel(rawGraph('g', [rawNode('Relu', ['x'], ['y'], [pbBytes(7, Uint8Array.from([0xc3, 0x28]))])])), 'bad_utf8');
  await refused(t, concatBytes([rawModel(g), pbTag(5, 0), Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])]), 'bad_varint');
  // No graph: not even recognised as ONNX by content; the parser, asked directly, names the defect.
  const noGraph = writeTo(tempDir(t), 'nograph.onnx', concatBytes([pbInt(1, 8), pbBytes(8, rawOpset('', 17))]));
  t.throws(() => parseOnnxFile(noGraph), ParseError);
  try {
    parseOnnxFile(noGraph);
  } catch (e) {
    t.equal((e as ParseError).rule, 'missing_graph');
  }
});

t.test('onnx protobuf — counts over the policy bounds are refused before the rest is read', async (t) => {
  const nodes = Array.from({ length: 50 }, (_, i) => rawNode('Relu', [`x${i}`], [`x${i + 1}`]));
  await refused(t, rawModel(rawGraph('g', nodes)), 'too_many_nodes', /more than 10 nodes/, limits({ maxNodes: 10 }));
  const inits = Array.from({ length: 20 }, (_, i) => pbBytes(5, rawTensor(`w${i}`, 1, [1], [pbBytes(9, f32(i))])));
  await refused(t, rawModel(rawGraph('g', [rawNode('Relu', ['x'], ['y'])], inits)), 'too_many_initializers', undefined, limits({ maxInitializers: 5 }));
  const attrs = Array.from({ length: 300 }, (_, i) => pbBytes(5, concatBytes([pbBytes(1, `a${i}`), pbInt(3, i), pbInt(20, 2)])));
  await refused(t, rawModel(rawGraph('g', [rawNode('Relu', ['x'], ['y'], attrs)])), 'too_many_attributes');
});

t.test('onnx protobuf — 400 mutated models: every outcome is a verdict with a rule, never an exception', async (t) => {
  const base = linearOnnx();
  let seed = 12345;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
  const dir = tempDir(t);
  let refusedCount = 0;
  for (let i = 0; i < 400; i++) {
    const b = Uint8Array.from(base);
    const flips = 1 + rnd(4);
    for (let k = 0; k < flips; k++) b[rnd(Math.min(b.length, 600))] = rnd(256);
    const cut = rnd(3) === 0 ? b.subarray(0, rnd(b.length)) : b;
    const p = writeTo(dir, `m${i}.onnx`, cut);
    try {
      parseOnnxFile(p);
    } catch (e) {
      if (!(e instanceof ParseError)) { t.fail(`mutation ${i}: ${(e as Error).message}`); continue; }
      refusedCount++;
    }
    const r = await runFormat(p);
    if (r.verdict === 'error') t.fail(`mutation ${i}: stage error ${r.reason}`);
  }
  t.ok(refusedCount > 100, `${refusedCount} of 400 refused by the parser, none crashed it`);
});
