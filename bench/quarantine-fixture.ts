// Streams a ~1 GiB llama-shaped GGUF (F16 embedding, Q4_K and Q8_0 layers) with plausible, non-repeating block contents.
import { GgmlType, writeGgufFile, type TensorSpec } from '../test/fixtures/gguf-writer.js';

const CHUNK = 4 << 20;

/** xorshift32: fast enough to fill a gigabyte in a few seconds. */
function xs(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; return (s >>>= 0); };
}

type Kind = 'F16' | 'Q8_0' | 'Q4_K' | 'F32';
const BLOCK: Record<Kind, { elems: number; bytes: number }> = { F16: { elems: 1, bytes: 2 }, F32: { elems: 1, bytes: 4 }, Q8_0: { elems: 32, bytes: 34 }, Q4_K: { elems: 256, bytes: 144 } };

/** Fills `b` with whole blocks of `kind`: small f16 scales with jitter, triangular-distributed quants (weights-like entropy). */
function fill(kind: Kind, b: Uint8Array, r: () => number): void {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (kind === 'F32') { for (let o = 0; o + 4 <= b.length; o += 4) dv.setFloat32(o, 1 + ((r() & 0xffff) - 32768) / 1e6, true); return; }
  if (kind === 'F16') {
    for (let o = 0; o + 2 <= b.length; o += 2) {
      const x = r();
      // sign, exponent 6..9 (|v| ≈ 2^-9..2^-5), random mantissa: a rough bell of small weights
      dv.setUint16(o, ((x & 1) << 15) | ((6 + ((x >>> 1) & 1) + ((x >>> 2) & 1) + ((x >>> 3) & 1)) << 10) | ((x >>> 6) & 0x3ff), true);
    }
    return;
  }
  const bb = BLOCK[kind].bytes;
  for (let o = 0; o + bb <= b.length; o += bb) {
    if (kind === 'Q8_0') {
      dv.setUint16(o, 0x1800 | (r() & 0xff), true);
      for (let j = 0; j < 32; j += 2) {
        const x = r();
        b[o + 2 + j] = (((x & 0xff) + ((x >>> 8) & 0xff) - 255) >> 1) & 0xff;
        b[o + 3 + j] = ((((x >>> 16) & 0xff) + (x >>> 24) - 255) >> 1) & 0xff;
      }
    } else {
      const x0 = r();
      dv.setUint16(o, 0x1400 | (x0 & 0xff), true);
      dv.setUint16(o + 2, 0x1000 | ((x0 >>> 8) & 0xff), true);
      for (let j = 0; j < 12; j++) b[o + 4 + j] = 20 + (r() & 31);
      for (let j = 0; j < 128; j += 2) {
        const x = r();
        const n1 = ((x & 15) + ((x >>> 4) & 15)) >> 1, n2 = (((x >>> 8) & 15) + ((x >>> 12) & 15)) >> 1;
        const n3 = (((x >>> 16) & 15) + ((x >>> 20) & 15)) >> 1, n4 = (((x >>> 24) & 15) + (x >>> 28)) >> 1;
        b[o + 16 + j] = n1 | (n2 << 4);
        b[o + 17 + j] = n3 | (n4 << 4);
      }
    }
  }
}

function tensor(name: string, dims: number[], kind: Kind, seed: number): TensorSpec {
  const elems = dims.reduce((a, b) => a * b, 1);
  const byteLength = (elems / BLOCK[kind].elems) * BLOCK[kind].bytes;
  return {
    name, dims, type: GgmlType[kind], data: {
      byteLength,
      *chunks() {
        const r = xs(seed);
        const per = Math.floor(CHUNK / BLOCK[kind].bytes) * BLOCK[kind].bytes;
        for (let left = byteLength; left > 0; left -= per) {
          const b = new Uint8Array(Math.min(per, left));
          fill(kind, b, r);
          yield b;
        }
      },
    },
  };
}

/** Writes the benchmark model; returns its size in bytes. */
export function writeBenchModel(path: string, layers = 5, dims = 4096, ff = 11008, vocab = 32000): number {
  let seed = 1;
  const ts: TensorSpec[] = [tensor('token_embd.weight', [dims, vocab], 'F16', seed++)];
  for (let b = 0; b < layers; b++) {
    ts.push(tensor(`blk.${b}.attn_norm.weight`, [dims], 'F32', seed++));
    for (const r of ['attn_q', 'attn_k', 'attn_output']) ts.push(tensor(`blk.${b}.${r}.weight`, [dims, dims], 'Q4_K', seed++));
    ts.push(tensor(`blk.${b}.attn_v.weight`, [dims, dims], 'Q8_0', seed++));
    ts.push(tensor(`blk.${b}.ffn_norm.weight`, [dims], 'F32', seed++));
    ts.push(tensor(`blk.${b}.ffn_gate.weight`, [dims, ff], 'Q4_K', seed++));
    ts.push(tensor(`blk.${b}.ffn_up.weight`, [dims, ff], 'Q4_K', seed++));
    ts.push(tensor(`blk.${b}.ffn_down.weight`, [ff, dims], 'Q8_0', seed++));
  }
  ts.push(tensor('output_norm.weight', [dims], 'F32', seed++));
  ts.push(tensor('output.weight', [dims, vocab], 'Q8_0', seed++));
  writeGgufFile(path, {
    metadata: {
      'general.architecture': 'llama', 'general.name': 'bench-llama', 'llama.block_count': layers, 'llama.embedding_length': dims,
      'llama.feed_forward_length': ff, 'tokenizer.chat_template': "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}",
    },
    tensors: ts,
  });
  return ts.reduce((a, t) => a + t.data.byteLength, 0);
}
