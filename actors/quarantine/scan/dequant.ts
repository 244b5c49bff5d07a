// Dequantization of ggml blocks to float32, following ggml-quants.c's dequantize_row_* layouts exactly.
import { QK_K } from './ggml-types.js';

const f16Table = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) t[h] = s * m * 2 ** -24;
    else if (e === 31) t[h] = m ? NaN : s * Infinity;
    else t[h] = s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
})();

/** IEEE half → float. */
export const f16ToF32 = (h: number): number => f16Table[h & 0xffff]!;

/** bfloat16 → float: the upper half of an IEEE single (a scratch buffer, rewritten on every call). */
const bf16ToF32 = ((): ((h: number) => number) => {
  const buf = new DataView(new ArrayBuffer(4));
  return (h) => {
    buf.setUint32(0, (h & 0xffff) << 16);
    return buf.getFloat32(0);
  };
})();

const u16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
const i8 = (v: number): number => (v << 24) >> 24;

/** Q4_K / Q5_K: 6-bit scale and min j from the packed 12-byte array at `o` (get_scale_min_k4). */
function scaleMinK4(j: number, b: Uint8Array, o: number): [number, number] {
  if (j < 4) return [b[o + j]! & 63, b[o + j + 4]! & 63];
  return [(b[o + j + 4]! & 0xf) | ((b[o + j - 4]! >> 6) << 4), (b[o + j + 4]! >> 4) | ((b[o + j]! >> 6) << 4)];
}

/**
 * Dequantizes `nBlocks` blocks of `typeName` starting at `src[off]` into `out[0..]`.
 * For F32/F16/BF16 a "block" is one element. Returns the number of floats written.
 */
export function dequantize(typeName: string, src: Uint8Array, off: number, nBlocks: number, out: Float32Array): number {
  let y = 0;
  switch (typeName) {
    case 'F32': {
      const dv = new DataView(src.buffer, src.byteOffset + off, nBlocks * 4);
      for (let i = 0; i < nBlocks; i++) out[y++] = dv.getFloat32(i * 4, true);
      return y;
    }
    case 'F16':
      for (let i = 0; i < nBlocks; i++) out[y++] = f16Table[u16(src, off + i * 2)]!;
      return y;
    case 'BF16':
      for (let i = 0; i < nBlocks; i++) out[y++] = bf16ToF32(u16(src, off + i * 2));
      return y;
    case 'Q4_0':
      for (let b = 0, o = off; b < nBlocks; b++, o += 18) {
        const d = f16Table[u16(src, o)]!;
        for (let j = 0; j < 16; j++) {
          out[y + j] = ((src[o + 2 + j]! & 0xf) - 8) * d;
          out[y + j + 16] = ((src[o + 2 + j]! >> 4) - 8) * d;
        }
        y += 32;
      }
      return y;
    case 'Q4_1':
      for (let b = 0, o = off; b < nBlocks; b++, o += 20) {
        const d = f16Table[u16(src, o)]!;
        const m = f16Table[u16(src, o + 2)]!;
        for (let j = 0; j < 16; j++) {
          out[y + j] = (src[o + 4 + j]! & 0xf) * d + m;
          out[y + j + 16] = (src[o + 4 + j]! >> 4) * d + m;
        }
        y += 32;
      }
      return y;
    case 'Q5_0':
    case 'Q5_1': {
      const one = typeName === 'Q5_1';
      const bs = one ? 24 : 22;
      for (let b = 0, o = off; b < nBlocks; b++, o += bs) {
        const d = f16Table[u16(src, o)]!;
        const m = one ? f16Table[u16(src, o + 2)]! : 0;
        const h = one ? o + 4 : o + 2;
        const qh = (src[h]! | (src[h + 1]! << 8) | (src[h + 2]! << 16) | (src[h + 3]! << 24)) >>> 0;
        const qs = h + 4;
        for (let j = 0; j < 16; j++) {
          const xh0 = ((qh >>> j) << 4) & 0x10;
          const xh1 = (qh >>> (j + 12)) & 0x10;
          const x0 = (src[qs + j]! & 0xf) | xh0;
          const x1 = (src[qs + j]! >> 4) | xh1;
          out[y + j] = one ? x0 * d + m : (x0 - 16) * d;
          out[y + j + 16] = one ? x1 * d + m : (x1 - 16) * d;
        }
        y += 32;
      }
      return y;
    }
    case 'Q8_0':
      for (let b = 0, o = off; b < nBlocks; b++, o += 34) {
        const d = f16Table[u16(src, o)]!;
        for (let j = 0; j < 32; j++) out[y++] = i8(src[o + 2 + j]!) * d;
      }
      return y;
    case 'Q2_K':
      // block_q2_K: scales[16], qs[64], d, dmin
      for (let b = 0, o = off; b < nBlocks; b++, o += 84) {
        const d = f16Table[u16(src, o + 80)]!;
        const min = f16Table[u16(src, o + 82)]!;
        let q = o + 16;
        let is = 0;
        for (let n = 0; n < QK_K; n += 128) {
          let shift = 0;
          for (let j = 0; j < 4; j++) {
            let sc = src[o + is++]!;
            let dl = d * (sc & 0xf), ml = min * (sc >> 4);
            for (let l = 0; l < 16; l++) out[y++] = dl * ((src[q + l]! >> shift) & 3) - ml;
            sc = src[o + is++]!;
            dl = d * (sc & 0xf); ml = min * (sc >> 4);
            for (let l = 0; l < 16; l++) out[y++] = dl * ((src[q + l + 16]! >> shift) & 3) - ml;
            shift += 2;
          }
          q += 32;
        }
      }
      return y;
    case 'Q3_K': {
      // block_q3_K: hmask[32], qs[64], scales[12], d
      const scales = new Int8Array(16);
      for (let b = 0, o = off; b < nBlocks; b++, o += 110) {
        const dAll = f16Table[u16(src, o + 108)]!;
        unpackQ3Scales(src, o + 96, scales);
        const hm = o;
        let q = o + 32;
        let m = 1;
        let is = 0;
        for (let n = 0; n < QK_K; n += 128) {
          let shift = 0;
          for (let j = 0; j < 4; j++) {
            let dl = dAll * (scales[is++]! - 32);
            for (let l = 0; l < 16; l++) out[y++] = dl * (((src[q + l]! >> shift) & 3) - (src[hm + l]! & m ? 0 : 4));
            dl = dAll * (scales[is++]! - 32);
            for (let l = 0; l < 16; l++) out[y++] = dl * (((src[q + l + 16]! >> shift) & 3) - (src[hm + l + 16]! & m ? 0 : 4));
            shift += 2;
            m <<= 1;
          }
          q += 32;
        }
      }
      return y;
    }
    case 'Q4_K':
      // block_q4_K: d, dmin, scales[12], qs[128]
      for (let b = 0, o = off; b < nBlocks; b++, o += 144) {
        const d = f16Table[u16(src, o)]!;
        const min = f16Table[u16(src, o + 2)]!;
        let q = o + 16;
        for (let j = 0, is = 0; j < QK_K; j += 64, is += 2) {
          const [sc1, m1] = scaleMinK4(is, src, o + 4);
          const [sc2, m2] = scaleMinK4(is + 1, src, o + 4);
          const d1 = d * sc1, mm1 = min * m1, d2 = d * sc2, mm2 = min * m2;
          for (let l = 0; l < 32; l++) out[y++] = d1 * (src[q + l]! & 0xf) - mm1;
          for (let l = 0; l < 32; l++) out[y++] = d2 * (src[q + l]! >> 4) - mm2;
          q += 32;
        }
      }
      return y;
    case 'Q5_K':
      // block_q5_K: d, dmin, scales[12], qh[32], qs[128]
      for (let b = 0, o = off; b < nBlocks; b++, o += 176) {
        const d = f16Table[u16(src, o)]!;
        const min = f16Table[u16(src, o + 2)]!;
        const qh = o + 16;
        let ql = o + 48;
        let u1 = 1, u2 = 2;
        for (let j = 0, is = 0; j < QK_K; j += 64, is += 2) {
          const [sc1, m1] = scaleMinK4(is, src, o + 4);
          const [sc2, m2] = scaleMinK4(is + 1, src, o + 4);
          const d1 = d * sc1, mm1 = min * m1, d2 = d * sc2, mm2 = min * m2;
          for (let l = 0; l < 32; l++) out[y++] = d1 * ((src[ql + l]! & 0xf) + (src[qh + l]! & u1 ? 16 : 0)) - mm1;
          for (let l = 0; l < 32; l++) out[y++] = d2 * ((src[ql + l]! >> 4) + (src[qh + l]! & u2 ? 16 : 0)) - mm2;
          ql += 32;
          u1 <<= 2;
          u2 <<= 2;
        }
      }
      return y;
    case 'Q6_K':
      // block_q6_K: ql[128], qh[64], scales[16] (int8), d
      for (let b = 0, o = off; b < nBlocks; b++, o += 210) {
        const d = f16Table[u16(src, o + 208)]!;
        let ql = o, qh = o + 128, sc = o + 192;
        for (let n = 0; n < QK_K; n += 128) {
          for (let l = 0; l < 32; l++) {
            const is = l >> 4;
            const h = src[qh + l]!;
            const q1 = ((src[ql + l]! & 0xf) | ((h & 3) << 4)) - 32;
            const q2 = ((src[ql + l + 32]! & 0xf) | (((h >> 2) & 3) << 4)) - 32;
            const q3 = ((src[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) - 32;
            const q4 = ((src[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) - 32;
            out[y + l] = d * i8(src[sc + is]!) * q1;
            out[y + l + 32] = d * i8(src[sc + is + 2]!) * q2;
            out[y + l + 64] = d * i8(src[sc + is + 4]!) * q3;
            out[y + l + 96] = d * i8(src[sc + is + 6]!) * q4;
          }
          y += 128;
          ql += 64;
          qh += 32;
          sc += 8;
        }
      }
      return y;
    case 'Q8_K':
      // block_q8_K: d (f32), qs[256] (int8), bsums[16] (int16)
      for (let b = 0, o = off; b < nBlocks; b++, o += 292) {
        const d = new DataView(src.buffer, src.byteOffset + o, 4).getFloat32(0, true);
        for (let j = 0; j < QK_K; j++) out[y++] = i8(src[o + 4 + j]!) * d;
      }
      return y;
    default:
      return 0;
  }
}

/** Q3_K's 16 6-bit scales packed in 12 bytes (the kmask1/kmask2 shuffle of dequantize_row_q3_K). */
export function unpackQ3Scales(src: Uint8Array, o: number, out: Int8Array): void {
  const dv = new DataView(src.buffer, src.byteOffset + o, 12);
  const a0 = dv.getUint32(0, true), a1 = dv.getUint32(4, true), tmp = dv.getUint32(8, true);
  const k1 = 0x03030303, k2 = 0x0f0f0f0f;
  const r = new Uint32Array([
    (a0 & k2) | (((tmp >>> 0) & k1) << 4),
    (a1 & k2) | (((tmp >>> 2) & k1) << 4),
    ((a0 >>> 4) & k2) | (((tmp >>> 4) & k1) << 4),
    ((a1 >>> 4) & k2) | (((tmp >>> 6) & k1) << 4),
  ]);
  const bytes = new Uint8Array(r.buffer);
  for (let i = 0; i < 16; i++) out[i] = i8(bytes[i]!);
}

/** Offset of the block's main f16 scale `d` inside a block (for scale-entropy checks), or -1. */
export function scaleOffset(typeName: string): number {
  switch (typeName) {
    case 'Q4_0': case 'Q4_1': case 'Q5_0': case 'Q5_1': case 'Q8_0': case 'Q4_K': case 'Q5_K': return 0;
    case 'Q2_K': return 80;
    case 'Q3_K': return 108;
    case 'Q6_K': return 208;
    default: return -1;
  }
}
