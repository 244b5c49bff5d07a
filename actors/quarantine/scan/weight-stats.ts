// Streaming per-tensor analysis: SHA-256, dequantized value statistics, byte entropy, repeated blocks and scale spread.
import { createHash, type Hash } from 'node:crypto';
import { dequantize, f16ToF32, scaleOffset } from './dequant.js';
import { DEQUANTIZABLE } from './ggml-types.js';
import type { TensorLayout } from './tensor-layout.js';

export interface TensorStats {
  name: string;
  typeName: string;
  dims: number[];
  elements: number;
  byteLength: number;
  sha256: string;
  /** Whether values were dequantized and measured (false for types we cannot decode, e.g. I32). */
  analysed: boolean;
  /** Blocks measured / blocks in the tensor: 1 means every value was measured. */
  sampledFraction: number;
  values: number;
  nan: number;
  inf: number;
  mean: number;
  variance: number;
  kurtosis: number;
  zeroFraction: number;
  /** Values beyond 3σ of the running mean (σ estimated from the values seen so far). */
  outlierFraction: number;
  absMax: number;
  blocks: number;
  duplicateBlockFraction: number;
  /** Shannon entropy (bits) of the blocks' f16 scales, and how many distinct scales, for quantized types. */
  scaleEntropyBits: number | null;
  distinctScales: number | null;
  /** Shannon entropy (bits/byte) of the measured bytes, and how many bytes it is based on. */
  byteEntropy: number;
  entropyBytes: number;
}

export interface AnalyzerOptions {
  /** Elements measured per tensor before sampling starts (blocks are then taken at a fixed stride). */
  sampleCap: number;
}

const PLAIN_GROUP = 256; // plain-type elements per analysis block

export function entropyBits(hist: ArrayLike<number>, total: number): number {
  if (total === 0) return 0;
  let h = 0;
  for (let i = 0; i < hist.length; i++) {
    const c = hist[i]!;
    if (c) { const p = c / total; h -= p * Math.log2(p); }
  }
  return h;
}

export class TensorAnalyzer {
  private readonly hash: Hash = createHash('sha256');
  private readonly blockBytes: number;
  private readonly elemsPerBlock: number;
  private readonly totalBlocks: number;
  private readonly stride: number;
  private readonly decodable: boolean;
  private readonly scaleOff: number;
  private readonly carry: Uint8Array;
  private carryLen = 0;
  private blockIndex = 0;
  private measuredBlocks = 0;
  private readonly out: Float32Array;
  private n = 0; private s1 = 0; private s2 = 0; private s3 = 0; private s4 = 0;
  private nan = 0; private inf = 0; private zeros = 0; private outliers = 0; private absMax = 0;
  private estMean = 0; private estSd = 0;
  private readonly hist = new Uint32Array(256);
  private histBytes = 0;
  private readonly seen = new Set<number>();
  private dups = 0;
  private readonly scales = new Map<number, number>();
  private fed = 0;

  constructor(readonly t: TensorLayout, o: AnalyzerOptions) {
    const plain = t.blockSize === 1;
    this.elemsPerBlock = plain ? PLAIN_GROUP : t.blockSize;
    this.blockBytes = plain ? PLAIN_GROUP * t.typeSize : t.typeSize;
    this.totalBlocks = Math.ceil(t.byteLength / this.blockBytes);
    const want = Math.max(1, Math.ceil(o.sampleCap / this.elemsPerBlock));
    this.stride = Math.max(1, Math.floor(this.totalBlocks / want));
    this.decodable = DEQUANTIZABLE.has(t.typeName);
    this.scaleOff = scaleOffset(t.typeName);
    this.carry = new Uint8Array(this.blockBytes);
    this.out = new Float32Array(this.elemsPerBlock);
  }

  /** Feeds the tensor's next bytes, in order. */
  feed(seg: Uint8Array): void {
    this.hash.update(seg);
    this.fed += seg.length;
    let p = 0;
    if (this.carryLen) {
      const take = Math.min(this.blockBytes - this.carryLen, seg.length);
      this.carry.set(seg.subarray(0, take), this.carryLen);
      this.carryLen += take;
      p = take;
      if (this.carryLen < this.blockBytes) return;
      this.block(this.carry, 0, this.blockBytes);
      this.carryLen = 0;
    }
    const bb = this.blockBytes;
    while (p + bb <= seg.length) {
      // Skip to the next sampled block without touching the bytes in between.
      const r = this.blockIndex % this.stride;
      if (r !== 0) {
        const skip = Math.min(this.stride - r, Math.floor((seg.length - p) / bb));
        this.blockIndex += skip;
        p += skip * bb;
        continue;
      }
      this.block(seg, p, bb);
      p += bb;
    }
    if (p < seg.length) {
      this.carry.set(seg.subarray(p), 0);
      this.carryLen = seg.length - p;
    }
  }

  private block(src: Uint8Array, off: number, len: number): void {
    const idx = this.blockIndex++;
    if (idx % this.stride !== 0) return;
    this.measuredBlocks++;
    // byte histogram and a 53-bit block fingerprint in one loop
    let h1 = 0x811c9dc5, h2 = 0x01000193;
    const hist = this.hist;
    for (let i = off, e = off + len; i < e; i++) {
      const v = src[i]!;
      hist[v]!++;
      h1 = Math.imul(h1 ^ v, 0x01000193);
      h2 = Math.imul(h2 + v, 0x5bd1e995) ^ (h2 >>> 13);
    }
    this.histBytes += len;
    const key = (h1 >>> 0) * 2097152 + ((h2 >>> 0) & 0x1fffff);
    if (this.seen.has(key)) this.dups++;
    else if (this.seen.size < 131_072) this.seen.add(key);
    if (this.scaleOff >= 0) {
      const s = src[off + this.scaleOff]! | (src[off + this.scaleOff + 1]! << 8);
      this.scales.set(s, (this.scales.get(s) ?? 0) + 1);
    }
    if (!this.decodable) return;
    const count = this.t.blockSize === 1 ? len / this.t.typeSize : 1;
    const m = dequantize(this.t.typeName, src, off, count, this.out);
    this.accumulate(m);
  }

  private accumulate(m: number): void {
    const out = this.out;
    const have = this.n >= 256;
    const lo = this.estMean - 3 * this.estSd, hi = this.estMean + 3 * this.estSd;
    let s1 = 0, s2 = 0, s3 = 0, s4 = 0, n = 0, zeros = 0, outl = 0, amax = this.absMax;
    for (let i = 0; i < m; i++) {
      const v = out[i]!;
      if (v !== v) { this.nan++; continue; }
      if (v === Infinity || v === -Infinity) { this.inf++; continue; }
      n++;
      const v2 = v * v;
      s1 += v; s2 += v2; s3 += v2 * v; s4 += v2 * v2;
      if (v === 0) zeros++;
      if (have && (v < lo || v > hi)) outl++;
      const a = v < 0 ? -v : v;
      if (a > amax) amax = a;
    }
    this.n += n; this.s1 += s1; this.s2 += s2; this.s3 += s3; this.s4 += s4;
    this.zeros += zeros; this.outliers += outl; this.absMax = amax;
    if (this.n >= 256) {
      this.estMean = this.s1 / this.n;
      this.estSd = Math.sqrt(Math.max(0, this.s2 / this.n - this.estMean * this.estMean));
    }
  }

  finish(): TensorStats {
    if (this.carryLen) this.block(this.carry, 0, this.carryLen - (this.carryLen % this.t.typeSize));
    const n = this.n;
    const mu = n ? this.s1 / n : 0;
    const e2 = n ? this.s2 / n : 0, e3 = n ? this.s3 / n : 0, e4 = n ? this.s4 / n : 0;
    const variance = Math.max(0, e2 - mu * mu);
    const m4 = e4 - 4 * mu * e3 + 6 * mu * mu * e2 - 3 * mu ** 4;
    let scaleEntropyBits: number | null = null, distinctScales: number | null = null;
    if (this.scaleOff >= 0) {
      let total = 0;
      for (const c of this.scales.values()) total += c;
      scaleEntropyBits = entropyBits([...this.scales.values()], total);
      distinctScales = this.scales.size;
    }
    const values = n + this.nan + this.inf;
    return {
      name: this.t.name,
      typeName: this.t.typeName,
      dims: this.t.dims,
      elements: this.t.elements,
      byteLength: this.t.byteLength,
      sha256: this.hash.digest('hex'),
      analysed: this.decodable,
      sampledFraction: this.totalBlocks ? this.measuredBlocks / this.totalBlocks : 1,
      values,
      nan: this.nan,
      inf: this.inf,
      mean: mu,
      variance,
      kurtosis: variance > 0 ? m4 / (variance * variance) : 0,
      zeroFraction: n ? this.zeros / n : 0,
      outlierFraction: n ? this.outliers / n : 0,
      absMax: this.absMax,
      blocks: this.measuredBlocks,
      duplicateBlockFraction: this.measuredBlocks ? this.dups / this.measuredBlocks : 0,
      scaleEntropyBits,
      distinctScales,
      byteEntropy: entropyBits(this.hist, this.histBytes),
      entropyBytes: this.histBytes,
    };
  }

  get bytesFed(): number { return this.fed; }
}

export { f16ToF32 };
