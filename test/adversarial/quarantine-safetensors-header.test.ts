// Adversarial safetensors headers: a name given twice (two loaders, two tensors) and the packed/8-bit float dtypes.
import t, { type Test } from 'tap';
import { DEFAULT_FORMAT_OPTIONS, formatStage } from '../../actors/quarantine/stages/format.js';
import { DEFAULT_STATIC_SCAN_OPTIONS, staticScanStage } from '../../actors/quarantine/stages/static-scan.js';
import { duplicateKey } from '../../actors/quarantine/scan/json-duplicate-keys.js';
import { gaussian } from '../fixtures/ggml-quantize.js';
import { encodeSafetensors, floatTensor, type SafeTensor } from '../fixtures/safetensors-writer.js';
import { artifact, noProgress, tempDir, writeTo } from '../quarantine/helpers.js';

const f32 = (n: number) => JSON.stringify({ dtype: 'F32', shape: [n], data_offsets: [0, n * 4] });
const bytes = (n: number, seed = 7): SafeTensor => ({ name: 'w', dtype: 'U8', shape: [n], data: Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff) });

async function fmt(t: Test, name: string, data: Uint8Array) {
  return formatStage(artifact(writeTo(tempDir(t), name, data)), DEFAULT_FORMAT_OPTIONS, noProgress);
}

t.test('safetensors — a tensor named twice is refused (JSON.parse keeps the last, other loaders the first)', async (t) => {
  const data = bytes(16); // 16 bytes: the second "w" (4 × F32) tiles them exactly, the first (2 × F32) would not
  const cases: [string, string][] = [
    ['plain', `{"w":${f32(2)},"w":${f32(4)}}`],
    ['escaped', `{"w":${f32(2)},"\\u0077":${f32(4)}}`],
    ['in metadata', `{"__metadata__":{"format":"pt","format":"np"},"w":${f32(4)}}`],
    ['inside a tensor', `{"w":{"dtype":"F16","shape":[8],"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`],
  ];
  for (const [what, rawHeader] of cases) {
    const r = await fmt(t, `dup-${what.replace(/ /g, '-')}.safetensors`, encodeSafetensors({ tensors: [data], rawHeader }));
    t.equal(r.verdict, 'fail', `${what}: ${r.reason}`);
    t.equal(r.evidence.rule, 'duplicate_key', `${what}: rule`);
  }
  const once = await fmt(t, 'once.safetensors', encodeSafetensors({ tensors: [data], rawHeader: `{"w":${f32(4)}}` }));
  t.equal(once.verdict, 'pass', `the same file with one "w" passes: ${once.reason}`);
});

t.test('safetensors — names that only look alike, and strings holding JSON syntax, are not duplicates', async (t) => {
  t.equal(duplicateKey('{"a":{"b":1},"c":{"b":2},"d":[{"b":1},{"b":2}]}'), null, 'the same name in sibling objects');
  t.equal(duplicateKey('{"a\\"b":"x,\\"a\\":{","a":"[}","a\\\\":1}'), null, 'quotes, commas and brackets inside strings');
  t.same(duplicateKey('{"x":[{"k":1,"k":2}]}'), { key: 'k', at: 'x[]' }, 'a duplicate deep inside an array is found');
  const meta = { 'a,"b{': 'x}[,', c: 'd' };
  const r = await fmt(t, 'meta.safetensors', encodeSafetensors({ tensors: [floatTensor('w', 'F32', [4], gaussian(4, 0.02, 1))], metadata: meta }));
  t.equal(r.verdict, 'pass', r.reason);
});

t.test('safetensors — packed F4/F6 and F8_E8M0 tensors are sized in bits, not refused as unknown', async (t) => {
  const ok: [string, number[], number][] = [['F4', [4, 4], 8], ['F6_E2M3', [8], 6], ['F6_E3M2', [4], 3], ['F8_E8M0', [16], 16], ['F8_E4M3', [2, 8], 16]];
  for (const [dtype, shape, n] of ok) {
    const r = await fmt(t, `${dtype}.safetensors`, encodeSafetensors({ tensors: [{ ...bytes(n), dtype, shape }] }));
    t.equal(r.verdict, 'pass', `${dtype} ${JSON.stringify(shape)} in ${n} bytes: ${r.reason}`);
  }
  const bad: [string, number[], number][] = [['F4', [3], 2], ['F4', [4, 4], 16], ['F6_E2M3', [3], 3]];
  for (const [dtype, shape, n] of bad) {
    const r = await fmt(t, `bad-${dtype}.safetensors`, encodeSafetensors({ tensors: [{ ...bytes(n), dtype, shape }] }));
    t.equal(r.evidence.rule, 'bad_offsets', `${dtype} ${JSON.stringify(shape)} in ${n} bytes is refused: ${r.reason}`);
  }
});

t.test('safetensors — a dtype spelled otherwise is refused with the spelling meant', async (t) => {
  for (const [dtype, meant] of [['F8', /F8_E4M3, F8_E5M2 or F8_E8M0/], ['FP4', /is F4 in safetensors/], ['OBJECT', /known: BOOL F4/]] as const) {
    const r = await fmt(t, `${dtype}.safetensors`, encodeSafetensors({ tensors: [{ ...bytes(16), dtype, shape: [16] }] }));
    t.equal(r.evidence.rule, 'bad_dtype', dtype);
    t.match(r.reason, meant, `${dtype}: ${r.reason}`);
  }
});

t.test('safetensors — packed tensors are measured in 32-element blocks: ordinary FP4/FP6 weights pass the static scan', async (t) => {
  let x = 12345;
  const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
  const noise = (n: number) => Uint8Array.from({ length: n }, rnd);
  const file = writeTo(tempDir(t), 'mx.safetensors', encodeSafetensors({ tensors: [
    { name: 'a.weight', dtype: 'F4', shape: [64, 64], data: noise(2048) },
    { name: 'b.weight', dtype: 'F6_E2M3', shape: [64, 64], data: noise(3072) },
    { name: 'c.scales', dtype: 'F8_E8M0', shape: [128], data: noise(128) },
  ] }));
  const r = await staticScanStage(artifact(file), DEFAULT_STATIC_SCAN_OPTIONS, noProgress);
  t.equal(r.verdict, 'pass', `${r.reason} (one-byte blocks would all look repeated)`);
  t.equal(r.evidence.tensorCount, 3);
});
