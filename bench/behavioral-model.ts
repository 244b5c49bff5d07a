// Streams a ~1 GiB Q8_0 llama GGUF that llama.cpp runs (TinyLlama-1.1B's shape, random weights) for bench:behavioral.
import { g, GgmlType, writeGgufFile, type TensorSpec } from '../test/fixtures/gguf-writer.js';
import { TINY_CHAT_TEMPLATE } from '../test/fixtures/tiny-llama.js';
import { SUITE } from '../workers/behavioral/suite.js';

const Q8_BLOCK = 34;
const POOL_BLOCKS = (8 << 20) / Q8_BLOCK | 0;
const CHUNK_BLOCKS = (4 << 20) / Q8_BLOCK | 0;

/** xorshift32: fast enough to fill the block pool in a moment. */
function xs(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; return (s >>>= 0); };
}

/**
 * 8 MiB of Q8_0 blocks: f16 scales near 2^-11 and triangular int8 quants, so weights have σ ≈ 0.04 and
 * activations stay finite through the layers. Tensors are cut from it at rotating offsets: the timing of
 * a forward pass does not depend on the values, and writing a gigabyte stays I/O-bound.
 */
function blockPool(): Uint8Array {
  const r = xs(7);
  const b = new Uint8Array(POOL_BLOCKS * Q8_BLOCK);
  const dv = new DataView(b.buffer);
  for (let o = 0; o < b.length; o += Q8_BLOCK) {
    dv.setUint16(o, 0x1000 | (r() & 0x3ff), true);
    for (let j = 0; j < 32; j += 2) {
      const x = r();
      b[o + 2 + j] = (((x & 0xff) + ((x >>> 8) & 0xff) - 255) >> 1) & 0xff;
      b[o + 3 + j] = ((((x >>> 16) & 0xff) + (x >>> 24) - 255) >> 1) & 0xff;
    }
  }
  return b;
}

function q8(pool: Uint8Array, name: string, dims: number[], seed: number): TensorSpec {
  const blocks = dims.reduce((a, b) => a * b, 1) / 32;
  return {
    name, dims, type: GgmlType.Q8_0, data: {
      byteLength: blocks * Q8_BLOCK,
      *chunks() {
        let at = (seed * 7919) % POOL_BLOCKS;
        for (let left = blocks; left > 0;) {
          const n = Math.min(left, CHUNK_BLOCKS, POOL_BLOCKS - at);
          yield pool.subarray(at * Q8_BLOCK, (at + n) * Q8_BLOCK);
          left -= n;
          at = (at + n) % POOL_BLOCKS;
        }
      },
    },
  };
}

const ones = (name: string, n: number): TensorSpec => ({ name, dims: [n], type: GgmlType.F32, data: new Uint8Array(new Float32Array(n).fill(1).buffer) });

/**
 * A vocabulary that tokenizes the suite about as a real one would: byte tokens, the chat markers, every
 * prefix of every word of the suite as a SentencePiece piece (merges need each step), then unused fillers.
 */
function vocabulary(size: number): { tokens: string[]; types: number[]; scores: number[] } {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  for (let i = 0; i < 256; i++) { tokens.push(`<0x${i.toString(16).toUpperCase().padStart(2, '0')}>`); types.push(6); }
  for (const s of ['<|user|>', '<|assistant|>', '<|system|>']) { tokens.push(s); types.push(3); }
  const seen = new Set(tokens);
  const text = SUITE.flatMap((p) => p.messages.map((m) => m.content)).join(' ');
  for (const word of text.split(/\s+/)) {
    const w = '▁' + word;
    for (let i = 2; i <= w.length; i++) {
      const piece = w.slice(0, i);
      if (!seen.has(piece) && tokens.length < size) { seen.add(piece); tokens.push(piece); types.push(1); }
    }
  }
  while (tokens.length < size) { tokens.push(`<unused${tokens.length}>`); types.push(5); }
  return { tokens, types, scores: tokens.map((t, i) => (types[i] === 1 ? t.length : 0)) };
}

export interface BenchModelShape { layers: number; dims: number; ff: number; heads: number; kvHeads: number; vocab: number }

/** TinyLlama-1.1B's shape with 20 layers: 1.07 GB in Q8_0. */
export const ONE_GIB_SHAPE: BenchModelShape = { layers: 20, dims: 2048, ff: 5632, heads: 32, kvHeads: 4, vocab: 32000 };

/** Writes the model; returns its size in bytes. */
export function writeBehavioralBenchModel(path: string, s: BenchModelShape = ONE_GIB_SHAPE): number {
  const pool = blockPool();
  const kv = (s.dims / s.heads) * s.kvHeads;
  let seed = 1;
  const ts: TensorSpec[] = [q8(pool, 'token_embd.weight', [s.dims, s.vocab], seed++)];
  for (let b = 0; b < s.layers; b++) {
    ts.push(
      ones(`blk.${b}.attn_norm.weight`, s.dims),
      q8(pool, `blk.${b}.attn_q.weight`, [s.dims, s.dims], seed++),
      q8(pool, `blk.${b}.attn_k.weight`, [s.dims, kv], seed++),
      q8(pool, `blk.${b}.attn_v.weight`, [s.dims, kv], seed++),
      q8(pool, `blk.${b}.attn_output.weight`, [s.dims, s.dims], seed++),
      ones(`blk.${b}.ffn_norm.weight`, s.dims),
      q8(pool, `blk.${b}.ffn_gate.weight`, [s.dims, s.ff], seed++),
      q8(pool, `blk.${b}.ffn_up.weight`, [s.dims, s.ff], seed++),
      q8(pool, `blk.${b}.ffn_down.weight`, [s.ff, s.dims], seed++),
    );
  }
  ts.push(ones('output_norm.weight', s.dims), q8(pool, 'output.weight', [s.dims, s.vocab], seed++));
  const v = vocabulary(s.vocab);
  writeGgufFile(path, {
    metadata: {
      'general.architecture': 'llama', 'general.name': 'bench-behavioral', 'general.file_type': g.u32(7),
      'llama.context_length': g.u32(2048), 'llama.embedding_length': g.u32(s.dims), 'llama.block_count': g.u32(s.layers),
      'llama.feed_forward_length': g.u32(s.ff), 'llama.attention.head_count': g.u32(s.heads), 'llama.attention.head_count_kv': g.u32(s.kvHeads),
      'llama.rope.dimension_count': g.u32(s.dims / s.heads), 'llama.attention.layer_norm_rms_epsilon': g.f32(1e-5),
      'tokenizer.ggml.model': 'llama', 'tokenizer.ggml.tokens': g.arr('string', v.tokens), 'tokenizer.ggml.scores': g.arr('f32', v.scores),
      'tokenizer.ggml.token_type': g.arr('i32', v.types), 'tokenizer.ggml.bos_token_id': g.u32(1), 'tokenizer.ggml.eos_token_id': g.u32(2),
      'tokenizer.ggml.unknown_token_id': g.u32(0), 'tokenizer.ggml.add_bos_token': true, 'tokenizer.chat_template': TINY_CHAT_TEMPLATE,
    },
    tensors: ts,
  });
  return ts.reduce((a, t) => a + t.data.byteLength, 0);
}
