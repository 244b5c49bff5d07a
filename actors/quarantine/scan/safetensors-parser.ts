// A hardened safetensors parser: bounded JSON header, known dtypes, offsets that tile the data region exactly.
import { closeSync, fstatSync, openSync } from 'node:fs';
import { readAt } from './file-reader.js';
import { duplicateKey } from './json-duplicate-keys.js';
import { reject } from './parse-error.js';
import type { ModelLayout, TensorLayout } from './tensor-layout.js';

export interface SafetensorsLimits {
  maxHeaderBytes: number;
  maxTensors: number;
  maxRank: number;
  maxNameLength: number;
}

export const DEFAULT_SAFETENSORS_LIMITS: SafetensorsLimits = Object.freeze({
  maxHeaderBytes: 100 * 1024 * 1024, // the reference implementation's limit
  maxTensors: 65_536,
  maxRank: 8,
  maxNameLength: 1024,
});

/**
 * dtype → bits per element, as the reference implementation (huggingface/safetensors `Dtype::bitsize`) has
 * them; the analysable ones share ggml's names. The sub-byte floats (F4 = FP4 E2M1, F6_*) are packed: a
 * tensor's element count times its bits must be a whole number of bytes.
 */
export const SAFETENSORS_DTYPE_BITS: Record<string, number> = {
  BOOL: 8, F4: 4, F6_E2M3: 6, F6_E3M2: 6, U8: 8, I8: 8, F8_E4M3: 8, F8_E5M2: 8, F8_E8M0: 8,
  I16: 16, U16: 16, F16: 16, BF16: 16, I32: 32, U32: 32, F32: 32, F64: 64, I64: 64, U64: 64,
};

/** Names people write for a dtype the format spells otherwise: refused, but the reason says what was meant. */
const DTYPE_HINTS: Record<string, string> = {
  F8: 'an 8-bit float is F8_E4M3, F8_E5M2 or F8_E8M0 in safetensors',
  FP8: 'an 8-bit float is F8_E4M3, F8_E5M2 or F8_E8M0 in safetensors',
  FP4: 'a 4-bit float (E2M1) is F4 in safetensors',
  F4_E2M1: 'a 4-bit float (E2M1) is F4 in safetensors',
  F6: 'a 6-bit float is F6_E2M3 or F6_E3M2 in safetensors',
};

function unknownDtype(name: string, dtype: unknown): never {
  const d = String(dtype).slice(0, 32);
  const hint = typeof dtype === 'string' ? DTYPE_HINTS[dtype.toUpperCase()] : undefined;
  return reject('bad_dtype', `tensor ${name} has unknown dtype ${d}${hint ? ` (${hint})` : ''}; known: ${Object.keys(SAFETENSORS_DTYPE_BITS).join(' ')}`);
}

/**
 * Cheap content test: an 8-byte header length followed by `{`. The length need not fit the file: a
 * safetensors file with an absurd length is still one, and the parser then says what it found and the
 * limit (reported as "an unrecognised format" before). Eight printable bytes before the `{` are text.
 */
export function looksLikeSafetensors(head: Uint8Array, _size: number): boolean {
  if (head.length < 9 || head[8] !== 0x7b) return false;
  const n = Buffer.from(head.buffer, head.byteOffset, 8).readBigUInt64LE(0);
  const printable = head.subarray(0, 8).every((b) => b >= 0x20 && b < 0x7f);
  return n >= 2n && !printable;
}

export function parseSafetensorsFile(path: string, limits: SafetensorsLimits = DEFAULT_SAFETENSORS_LIMITS): ModelLayout {
  const fd = openSync(path, 'r');
  try {
    return parseSafetensorsFd(fd, fstatSync(fd).size, limits);
  } finally {
    closeSync(fd);
  }
}

export function parseSafetensorsFd(fd: number, size: number, L: SafetensorsLimits = DEFAULT_SAFETENSORS_LIMITS): ModelLayout {
  if (size < 8) reject('truncated', 'file shorter than the 8-byte header length');
  const n64 = readAt(fd, 0, 8).readBigUInt64LE(0);
  if (n64 > BigInt(L.maxHeaderBytes)) reject('header_too_large', `header of ${n64} bytes, over the ${L.maxHeaderBytes}-byte limit`);
  const n = Number(n64);
  if (8 + n > size) reject('truncated', `header of ${n} bytes runs past the end of the ${size}-byte file`);
  const raw = readAt(fd, 8, n);
  if (raw.length !== n) reject('truncated', 'file shorter than its header');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    return reject('bad_header', 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) reject('bad_header', 'header is not a JSON object');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return reject('bad_header', `header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) reject('bad_header', 'header is not a JSON object');
  // JSON.parse keeps the last of two equal names; another loader may keep the first and read other bytes.
  const dup = duplicateKey(text);
  if (dup) reject('duplicate_key', `header names ${JSON.stringify(dup.key.slice(0, 128))} twice in ${dup.at.slice(0, 128)}`);
  const dataStart = 8 + n;
  const metadata: ModelLayout['metadata'] = {};
  const templates: Record<string, string> = {};
  const tensors: TensorLayout[] = [];
  const entries = Object.entries(header as Record<string, unknown>);
  if (entries.length > L.maxTensors + 1) reject('too_many_tensors', `${entries.length} entries, over the limit of ${L.maxTensors}`);
  for (const [name, v] of entries) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) reject('bad_metadata', '__metadata__ is not an object');
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string') reject('bad_metadata', `__metadata__.${k} is not a string`);
        metadata[k] = s;
        if (k.includes('chat_template')) templates[k] = s;
      }
      continue;
    }
    if (name.length === 0 || name.length > L.maxNameLength) reject('bad_tensor_name', `tensor name of ${name.length} characters (1..${L.maxNameLength})`);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) reject('bad_tensor', `tensor ${name} is not an object`);
    const { dtype, shape, data_offsets: offs, ...rest } = v as Record<string, unknown>;
    if (Object.keys(rest).length) reject('bad_tensor', `tensor ${name} has unknown fields: ${Object.keys(rest).join(', ')}`);
    if (typeof dtype !== 'string' || !Object.hasOwn(SAFETENSORS_DTYPE_BITS, dtype)) unknownDtype(name, dtype);
    if (!Array.isArray(shape) || shape.length > L.maxRank) reject('bad_rank', `tensor ${name} shape must be an array of at most ${L.maxRank} dims`);
    let elements = 1;
    for (const d of shape) {
      if (!Number.isSafeInteger(d) || (d as number) < 0) reject('bad_dims', `tensor ${name} has dimension ${String(d)}`);
      elements *= d as number;
      if (elements > 2 ** 50) reject('bad_dims', `tensor ${name} shape is absurd`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((x) => Number.isSafeInteger(x) && (x as number) >= 0)) {
      reject('bad_offsets', `tensor ${name} data_offsets must be two non-negative integers`);
    }
    const [begin, end] = offs as [number, number];
    const bits = SAFETENSORS_DTYPE_BITS[dtype]!;
    // Whole-byte dtypes multiply by bytes (elements ≤ 2^50 keeps it exact); packed ones by bits (≤ 6).
    if (bits % 8 !== 0 && (elements * bits) % 8 !== 0) reject('bad_offsets', `tensor ${name}: ${elements} ${dtype} elements of ${bits} bits are not a whole number of bytes`);
    const bytes = bits % 8 === 0 ? elements * (bits / 8) : (elements * bits) / 8;
    if (end < begin || end - begin !== bytes) reject('bad_offsets', `tensor ${name}: ${end - begin} bytes for ${elements} ${dtype} elements`);
    // A packed dtype is described as ggml describes its blocks, blockSize elements in typeSize bytes: 32
    // elements (an MX block), so that the static scan fingerprints 16- or 24-byte blocks, not single bytes.
    const [blockSize, esize] = bits % 8 === 0 ? [1, bits / 8] : [32, (32 * bits) / 8];
    if (dataStart + end > size) reject('out_of_bounds', `tensor ${name} ends at ${dataStart + end}, past the end of the ${size}-byte file`);
    tensors.push({
      name, typeName: dtype, dims: (shape as number[]).slice(), elements, offset: dataStart + begin, byteLength: end - begin, blockSize, typeSize: esize,
    });
  }
  tensors.sort((a, b) => a.offset - b.offset || a.byteLength - b.byteLength);
  let cursor = dataStart;
  for (const t of tensors) {
    if (t.offset < cursor) reject('overlap', `tensor ${t.name} overlaps the previous tensor`);
    if (t.offset > cursor) reject('gap', `${t.offset - cursor} unaccounted bytes before tensor ${t.name}`);
    cursor = t.offset + t.byteLength;
  }
  if (cursor !== size) reject('trailing_bytes', `${size - cursor} bytes follow the last tensor`);
  return { format: 'safetensors', tensors, dataStart, dataEnd: size, metadata, templates };
}
