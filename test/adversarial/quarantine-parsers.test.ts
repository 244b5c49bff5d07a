// Malformed and hostile GGUF / safetensors containers: each refused by the format gate with the rule that fired.
import t, { type Test } from 'tap';
import { DEFAULT_FORMAT_OPTIONS, formatStage } from '../../actors/quarantine/stages/format.js';
import { encodeZip } from '../fixtures/archive-writers.js';
import { gaussian, quantize } from '../fixtures/ggml-quantize.js';
import { encodeGguf, g, GgmlType, type GgufSpec, type TensorSpec } from '../fixtures/gguf-writer.js';
import { llamaSpec } from '../fixtures/llama-builder.js';
import { encodePickle } from '../fixtures/pickle-writer.js';
import { encodeSafetensors, floatTensor } from '../fixtures/safetensors-writer.js';
import { artifact, noProgress, tempDir, writeTo } from '../quarantine/helpers.js';

const tensor = (name: string, n = 64, extra: Partial<TensorSpec> = {}): TensorSpec => ({
  name, dims: [n], type: GgmlType.F32, data: quantize('F32', gaussian(n, 0.02, name.length)), ...extra,
});
const small = (tensors: TensorSpec[] = [tensor('a'), tensor('b')], extra: Partial<GgufSpec> = {}): GgufSpec => ({ metadata: { 'general.architecture': 'llama' }, tensors, ...extra });

async function expectRule(t: Test, dir: string, name: string, data: Uint8Array, rule: string, reason?: RegExp) {
  const r = await formatStage(artifact(writeTo(dir, name, data)), DEFAULT_FORMAT_OPTIONS, noProgress);
  t.equal(r.verdict, 'fail', `${name}: ${r.reason}`);
  t.equal(r.evidence.rule, rule, `${name}: rule`);
  if (reason) t.match(r.reason, reason);
}

t.test('gguf — a zip archive appended after the last tensor (polyglot) is refused', async (t) => {
  const dir = tempDir(t);
  const zip = encodeZip([{ name: 'payload.py', data: Buffer.from('import os') }]);
  await expectRule(t, dir, 'poly.gguf', encodeGguf(llamaSpec({ layers: 1, dims: 64, ff: 64, vocab: 32, trailer: zip })), 'trailing_bytes', /a zip archive/);
  await expectRule(t, dir, 'poly2.gguf', encodeGguf(small(undefined, { trailer: encodePickle([{ module: 'os', name: 'system', args: ['id'] }]) })), 'trailing_bytes', /a pickle/);
});

t.test('gguf — absurd counts are refused before any allocation', async (t) => {
  const dir = tempDir(t);
  const base = encodeGguf(small());
  const patch = (off: number, v: bigint) => { const b = Buffer.from(base); b.writeBigUInt64LE(v, off); return b; };
  await expectRule(t, dir, 'tc.gguf', patch(8, 1n << 40n), 'too_many_tensors');
  await expectRule(t, dir, 'tc2.gguf', patch(8, 60_000n), 'absurd_count');
  await expectRule(t, dir, 'kv.gguf', patch(16, 1n << 62n), 'absurd_value');
  await expectRule(t, dir, 'kv2.gguf', patch(16, 50_000n), 'absurd_count');
  await expectRule(t, dir, 'klen.gguf', patch(24, 1n << 40n), 'string_too_long');
});

t.test('gguf — absurd string and array lengths in metadata', async (t) => {
  const dir = tempDir(t);
  // header(24) + key len(8) + "a"(1) + type(4) + elem type(4) = 41: the array length
  const arr = Buffer.from(encodeGguf({ metadata: { a: g.arr('u32', [1, 2]) }, tensors: [tensor('x')] }));
  const b1 = Buffer.from(arr); b1.writeBigUInt64LE(1n << 33n, 41);
  await expectRule(t, dir, 'arr.gguf', b1, 'array_too_long');
  const b2 = Buffer.from(arr); b2.writeBigUInt64LE(100_000n, 41);
  await expectRule(t, dir, 'arr2.gguf', b2, 'truncated');
  // a string value: header(24) + key len(8) + "s"(1) + type(4) = 37: the string length
  const str = Buffer.from(encodeGguf({ metadata: { s: 'hello' }, tensors: [tensor('x')] }));
  const b3 = Buffer.from(str); b3.writeBigUInt64LE(1n << 50n, 37);
  await expectRule(t, dir, 'str.gguf', b3, 'string_too_long');
  const b4 = Buffer.from(str); b4.writeBigUInt64LE(10_000n, 37);
  await expectRule(t, dir, 'str2.gguf', b4, 'truncated');
  const b5 = Buffer.from(str); b5.writeUInt32LE(13, 33); // unknown metadata type
  await expectRule(t, dir, 'type.gguf', b5, 'bad_type');
});

/** The file with tensor `name`'s (rank-1) data offset field rewritten. */
function withOffset(spec: GgufSpec, name: string, offset: bigint): Buffer {
  const b = Buffer.from(encodeGguf(spec));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(name.length));
  const at = b.indexOf(Buffer.concat([len, Buffer.from(name)]));
  b.writeBigUInt64LE(offset, at + 8 + name.length + 4 + 8 + 4);
  return b;
}

t.test('gguf — offsets: out of bounds, overlapping, misaligned, gaps', async (t) => {
  const dir = tempDir(t);
  await expectRule(t, dir, 'oob.gguf', withOffset(small(), 'b', 1n << 30n), 'out_of_bounds');
  await expectRule(t, dir, 'oob2.gguf', withOffset(small(), 'b', 1n << 62n), 'absurd_value');
  await expectRule(t, dir, 'ovl.gguf', encodeGguf(small([tensor('a', 64), tensor('b', 64, { offset: 128n })])), 'overlap');
  await expectRule(t, dir, 'mis.gguf', encodeGguf(small([tensor('a'), tensor('b', 64, { offset: 260n })])), 'misaligned');
  await expectRule(t, dir, 'gap.gguf', encodeGguf(small([tensor('a'), tensor('b', 64, { offset: 4096n })])), 'gap');
});

t.test('gguf — truncation anywhere is refused', async (t) => {
  const dir = tempDir(t);
  const full = encodeGguf(llamaSpec({ layers: 1, dims: 64, ff: 64, vocab: 32 }));
  for (const cut of [3, 20, 100, 600, full.length - 1]) {
    const r = await formatStage(artifact(writeTo(dir, `cut${cut}.gguf`, full.subarray(0, cut))), DEFAULT_FORMAT_OPTIONS, noProgress);
    t.equal(r.verdict, 'fail', `cut at ${cut}: ${r.reason}`);
    t.ok(['truncated', 'out_of_bounds', 'absurd_count', undefined].includes(r.evidence.rule as string | undefined), `cut at ${cut}: ${String(r.evidence.rule)}`);
  }
});

t.test('gguf — version, rank, names, types, alignment, dimensions', async (t) => {
  const dir = tempDir(t);
  const v = Buffer.from(encodeGguf(small()));
  v.writeUInt32LE(1, 4);
  await expectRule(t, dir, 'v1.gguf', v, 'bad_version');
  await expectRule(t, dir, 'rank.gguf', encodeGguf(small([{ ...tensor('a'), dims: [2, 2, 2, 2, 4] }])), 'bad_rank');
  await expectRule(t, dir, 'name.gguf', encodeGguf(small([tensor('n'.repeat(65))])), 'bad_tensor_name');
  await expectRule(t, dir, 'dup.gguf', encodeGguf(small([tensor('a'), tensor('a')])), 'duplicate_tensor');
  await expectRule(t, dir, 'type.gguf', encodeGguf(small([{ ...tensor('a'), type: 99 }])), 'bad_tensor_type');
  await expectRule(t, dir, 'align.gguf', encodeGguf(small(undefined, { alignment: 24 })), 'bad_alignment');
  await expectRule(t, dir, 'zero.gguf', encodeGguf(small([{ ...tensor('a'), dims: [64, 0] }])), 'bad_dims');
  await expectRule(t, dir, 'block.gguf', encodeGguf(small([{ name: 'q', dims: [48], type: GgmlType.Q8_0, data: new Uint8Array(51) }])), 'bad_dims');
  await expectRule(t, dir, 'dupkey.gguf', (() => {
    const b = Buffer.from(encodeGguf({ metadata: { ab: 'x', ac: 'y' }, tensors: [tensor('x')] }));
    const i = b.indexOf('ac', 24, 'latin1');
    b.write('ab', i, 'latin1');
    return b;
  })(), 'duplicate_key');
});

t.test('safetensors — hostile headers and offsets', async (t) => {
  const dir = tempDir(t);
  const w = floatTensor('w', 'F32', [4, 4], gaussian(16, 0.02, 3));
  const good = encodeSafetensors({ tensors: [w] });
  const huge = Buffer.from(good); huge.writeBigUInt64LE(1n << 40n, 0);
  t.equal((await formatStage(artifact(writeTo(dir, 'huge.st', huge)), DEFAULT_FORMAT_OPTIONS, noProgress)).verdict, 'fail');
  const cases: [string, Parameters<typeof encodeSafetensors>[0], string][] = [
    ['dtype', { tensors: [w], header: { w: { dtype: 'OBJECT', shape: [4, 4], data_offsets: [0, 64] } } }, 'bad_dtype'],
    ['size', { tensors: [w], header: { w: { dtype: 'F32', shape: [4, 5], data_offsets: [0, 64] } } }, 'bad_offsets'],
    ['oob', { tensors: [w], header: { w: { dtype: 'F32', shape: [1000, 1000], data_offsets: [0, 4_000_000] } } }, 'out_of_bounds'],
    ['overlap', { tensors: [w], header: { w: { dtype: 'F32', shape: [4, 4], data_offsets: [0, 64] }, v: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } } }, 'overlap'],
    ['gap', { tensors: [w], header: { w: { dtype: 'F32', shape: [2, 4], data_offsets: [32, 64] } } }, 'gap'],
    ['trailing', { tensors: [w], trailer: encodeZip([{ name: 'x', data: Buffer.from('y') }]) }, 'trailing_bytes'],
    ['extra', { tensors: [w], header: { w: { dtype: 'F32', shape: [4, 4], data_offsets: [0, 64], evil: 1 } } }, 'bad_tensor'],
    ['meta', { tensors: [w], header: { __metadata__: { a: 1 }, w: { dtype: 'F32', shape: [4, 4], data_offsets: [0, 64] } } }, 'bad_metadata'],
    ['neg', { tensors: [w], header: { w: { dtype: 'F32', shape: [-4, -4], data_offsets: [0, 64] } } }, 'bad_dims'],
    ['rank', { tensors: [w], header: { w: { dtype: 'F32', shape: [1, 1, 1, 1, 1, 1, 1, 1, 1, 16], data_offsets: [0, 64] } } }, 'bad_rank'],
  ];
  for (const [name, spec, rule] of cases) await expectRule(t, dir, `${name}.safetensors`, encodeSafetensors(spec), rule);
  const bad = Buffer.from(good);
  bad.write('{"w":', 8); bad.write('}}}}', 14);
  const r = await formatStage(artifact(writeTo(dir, 'json.safetensors', bad)), DEFAULT_FORMAT_OPTIONS, noProgress);
  t.equal(r.verdict, 'fail', r.reason);
});
