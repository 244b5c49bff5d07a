import t from 'tap';
import { dequantize, unpackQ3Scales } from '../../actors/quarantine/scan/dequant.js';
import { BLOCK, f32ToF16, gaussian, quantize } from '../fixtures/ggml-quantize.js';

const f16 = (v: number) => { const h = f32ToF16(v); return [h & 0xff, h >> 8]; };

t.test('dequant — Q8_0 block of known values (d · int8)', async (t) => {
  const b = new Uint8Array(34);
  b.set(f16(0.5), 0);
  for (let j = 0; j < 32; j++) b[2 + j] = (j - 16) & 0xff;
  const out = new Float32Array(32);
  t.equal(dequantize('Q8_0', b, 0, 1, out), 32);
  t.same(Array.from(out), Array.from({ length: 32 }, (_, j) => (j - 16) * 0.5));
});

t.test('dequant — Q4_0 nibbles: low nibbles are elements 0..15, high nibbles 16..31, offset 8', async (t) => {
  const b = new Uint8Array(18);
  b.set(f16(2), 0);
  for (let j = 0; j < 16; j++) b[2 + j] = (j & 0xf) | ((15 - j) << 4);
  const out = new Float32Array(32);
  dequantize('Q4_0', b, 0, 1, out);
  t.equal(out[0], -16); // (0 - 8) * 2
  t.equal(out[15], 14); // (15 - 8) * 2
  t.equal(out[16], 14); // (15 - 8) * 2
  t.equal(out[31], -16);
});

t.test('dequant — Q4_K: scale/min j<4 taken from the low 6 bits, elements d·sc·q − dmin·m', async (t) => {
  const b = new Uint8Array(144);
  b.set(f16(1), 0); // d
  b.set(f16(0.5), 2); // dmin
  b[4] = 3; // sc for sub-block 0
  b[8] = 2; // m for sub-block 0
  b[16] = 0x05; // element 0: q = 5
  const out = new Float32Array(256);
  dequantize('Q4_K', b, 0, 1, out);
  t.equal(out[0], 3 * 5 - 0.5 * 2);
  t.equal(out[1], -1); // q = 0
});

t.test('dequant — Q6_K: d · int8 scale · (6-bit q − 32)', async (t) => {
  const b = new Uint8Array(210);
  b.set(f16(0.25), 208);
  b[192] = 0xfe; // scale −2 for elements 0..15
  b[0] = 0x0a; // low nibble 10, qh bits 0 → q = 10 − 32 = −22
  const out = new Float32Array(256);
  dequantize('Q6_K', b, 0, 1, out);
  t.equal(out[0], 0.25 * -2 * -22);
});

t.test('dequant — Q3_K scale unpacking: 16 6-bit scales from 12 bytes', async (t) => {
  const b = new Uint8Array(12);
  const want = Array.from({ length: 16 }, (_, j) => (j * 5) % 64);
  for (let j = 0; j < 16; j++) {
    let l = want[j]!;
    if (j < 8) b[j] = l & 0xf; else b[j - 8]! |= (l & 0xf) << 4;
    l >>= 4;
    b[(j % 4) + 8]! |= l << (2 * Math.floor(j / 4));
  }
  const out = new Int8Array(16);
  unpackQ3Scales(b, 0, out);
  t.same(Array.from(out), want);
});

t.test('dequant — F16 and BF16 special values', async (t) => {
  const out = new Float32Array(4);
  dequantize('F16', new Uint8Array([0x00, 0x3c, 0x00, 0x7c, 0x01, 0x7e, 0x00, 0xc0]), 0, 4, out);
  t.equal(out[0], 1);
  t.equal(out[1], Infinity);
  t.ok(Number.isNaN(out[2]));
  t.equal(out[3], -2);
  dequantize('BF16', new Uint8Array([0x80, 0x3f, 0xc0, 0x7f]), 0, 2, out);
  t.equal(out[0], 1);
  t.ok(Number.isNaN(out[1]));
});

// Relative RMS error a simple min/max quantizer reaches on Gaussian data, per format (bits per weight).
const TOLERANCE: Record<string, number> = {
  F32: 1e-7, F16: 1e-3, BF16: 5e-3, Q8_0: 0.01, Q8_K: 0.01, Q6_K: 0.03, Q5_0: 0.06, Q5_1: 0.06, Q5_K: 0.06,
  Q4_0: 0.12, Q4_1: 0.12, Q4_K: 0.12, Q3_K: 0.22, Q2_K: 0.45,
};

for (const type of Object.keys(BLOCK)) {
  t.test(`dequant — ${type}: quantize then dequantize ≈ original within the format's error`, async (t) => {
    const x = gaussian(4096, 0.02, 11);
    const q = quantize(type, x);
    t.equal(q.length, (4096 / BLOCK[type]!.size) * BLOCK[type]!.bytes);
    const out = new Float32Array(4096);
    const n = dequantize(type, q, 0, BLOCK[type]!.size === 1 ? 4096 : 4096 / BLOCK[type]!.size, out);
    t.equal(n, 4096);
    let se = 0, sx = 0;
    for (let i = 0; i < 4096; i++) { se += (out[i]! - x[i]!) ** 2; sx += x[i]! ** 2; }
    const rel = Math.sqrt(se / sx);
    t.ok(rel < TOLERANCE[type]!, `relative RMS error ${rel.toFixed(4)} < ${TOLERANCE[type]}`);
    // Not trivially zero: the dequantized values carry the signal.
    let dot = 0, so = 0;
    for (let i = 0; i < 4096; i++) { dot += out[i]! * x[i]!; so += out[i]! ** 2; }
    t.ok(dot / Math.sqrt(so * sx) > 0.9, 'correlates with the original');
  });
}
