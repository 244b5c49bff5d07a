// A hardened GGUF v2/v3 header parser: every count, length and offset is checked before use, and the layout must account for every byte.
import { closeSync, openSync, fstatSync } from 'node:fs';
import { FileCursor, readAt } from './file-reader.js';
import { GGML_TYPES } from './ggml-types.js';
import { reject } from './parse-error.js';
import type { ModelLayout, TensorLayout } from './tensor-layout.js';

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian

export interface GgufLimits {
  maxHeaderBytes: number;
  maxTensors: number;
  maxKv: number;
  maxRank: number;
  maxNameLength: number;
  maxKeyLength: number;
  maxStringLength: number;
  maxArrayLength: number;
  maxAlignment: number;
}

export const DEFAULT_GGUF_LIMITS: GgufLimits = Object.freeze({
  maxHeaderBytes: 256 * 1024 * 1024,
  maxTensors: 65_536,
  maxKv: 65_536,
  maxRank: 4, // GGML_MAX_DIMS
  maxNameLength: 64, // GGML_MAX_NAME
  maxKeyLength: 256,
  maxStringLength: 16 * 1024 * 1024,
  maxArrayLength: 4 * 1024 * 1024,
  maxAlignment: 1 << 16,
});

const SCALAR_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const TYPE_NAME: Record<number, string> = {
  0: 'u8', 1: 'i8', 2: 'u16', 3: 'i16', 4: 'u32', 5: 'i32', 6: 'f32', 7: 'bool', 8: 'string', 9: 'array', 10: 'u64', 11: 'i64', 12: 'f64',
};

const safeNumber = (v: bigint, what: string): number => {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) reject('absurd_value', `${what} is absurd (${v})`);
  return Number(v);
};

function readString(c: FileCursor, limit: number, what: string): string {
  const len = safeNumber(c.u64(`${what} length`), `${what} length`);
  if (len > limit) reject('string_too_long', `${what} is ${len} bytes, over the ${limit}-byte limit`);
  if (len > c.size - c.pos) reject('truncated', `${what} length ${len} runs past the end of the file`);
  return utf8(c.bytes(len, what), what);
}

function readScalar(c: FileCursor, type: number, L: GgufLimits, what: string): string | number | bigint | boolean {
  switch (type) {
    case 0: return c.u8(what);
    case 1: return (c.u8(what) << 24) >> 24;
    case 2: return c.bytes(2, what).readUInt16LE(0);
    case 3: return c.bytes(2, what).readInt16LE(0);
    case 4: return c.u32(what);
    case 5: return c.u32(what) | 0;
    case 6: return c.bytes(4, what).readFloatLE(0);
    case 7: {
      const v = c.u8(what);
      if (v > 1) reject('bad_value', `${what}: bool holds ${v}`);
      return v === 1;
    }
    case 8: return readString(c, L.maxStringLength, what);
    case 10: return c.u64(what);
    case 11: return c.bytes(8, what).readBigInt64LE(0);
    case 12: return c.bytes(8, what).readDoubleLE(0);
    default: return reject('bad_type', `${what}: unknown metadata type ${type}`);
  }
}

function utf8(b: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(b);
  } catch {
    return reject('bad_utf8', `${what} is not valid UTF-8`);
  }
}

/** Parses and validates the GGUF file at `path`; throws ParseError with a rule on any defect. */
export function parseGgufFile(path: string, limits: GgufLimits = DEFAULT_GGUF_LIMITS): ModelLayout {
  const fd = openSync(path, 'r');
  try {
    return parseGgufFd(fd, fstatSync(fd).size, limits);
  } finally {
    closeSync(fd);
  }
}

export function parseGgufFd(fd: number, size: number, L: GgufLimits = DEFAULT_GGUF_LIMITS): ModelLayout {
  const c = new FileCursor(fd, size, L.maxHeaderBytes);
  if (c.u32('magic') !== GGUF_MAGIC) reject('bad_magic', 'not a GGUF file (magic)');
  const version = c.u32('version');
  if (version !== 2 && version !== 3) reject('bad_version', `GGUF version ${version} is not supported (2 or 3 only; big-endian files are refused)`);
  const nTensors = safeNumber(c.u64('tensor count'), 'tensor count');
  const nKv = safeNumber(c.u64('metadata count'), 'metadata count');
  if (nTensors > L.maxTensors) reject('too_many_tensors', `${nTensors} tensors, over the limit of ${L.maxTensors}`);
  if (nKv > L.maxKv) reject('too_many_kv', `${nKv} metadata entries, over the limit of ${L.maxKv}`);
  // Every entry takes at least 8+4 bytes, every tensor info at least 8+4+4+8: refuse counts the file cannot hold.
  if (nKv * 12 + nTensors * 24 > size - c.pos) reject('absurd_count', `counts (${nKv} keys, ${nTensors} tensors) do not fit in a ${size}-byte file`);

  const metadata: ModelLayout['metadata'] = {};
  const templates: Record<string, string> = {};
  let alignment = 32;
  for (let i = 0; i < nKv; i++) {
    const key = readString(c, L.maxKeyLength, `metadata key #${i}`);
    if (key.length === 0) reject('bad_key', `metadata key #${i} is empty`);
    if (Object.prototype.hasOwnProperty.call(metadata, key)) reject('duplicate_key', `metadata key ${JSON.stringify(key)} appears twice`);
    const type = c.u32(`type of ${key}`);
    if (type === 9) {
      const of = c.u32(`array type of ${key}`);
      if (of === 9 || !(of in TYPE_NAME)) reject('bad_type', `${key}: arrays of type ${of} are not allowed`);
      const n = safeNumber(c.u64(`array length of ${key}`), `array length of ${key}`);
      if (n > L.maxArrayLength) reject('array_too_long', `${key}: array of ${n} elements, over the limit of ${L.maxArrayLength}`);
      if (of === 8) {
        for (let j = 0; j < n; j++) {
          const len = safeNumber(c.u64(`${key}[${j}] length`), `${key}[${j}] length`);
          if (len > L.maxStringLength) reject('string_too_long', `${key}[${j}] is ${len} bytes, over the limit`);
          c.skip(len, `${key}[${j}]`);
        }
      } else {
        const bytes = n * SCALAR_SIZE[of]!;
        if (bytes > size - c.pos) reject('truncated', `${key}: array of ${n} runs past the end of the file`);
        c.skip(bytes, key);
      }
      metadata[key] = { arrayOf: TYPE_NAME[of]!, length: n };
    } else {
      const v = readScalar(c, type, L, key);
      metadata[key] = v;
      if (typeof v === 'string' && key.startsWith('tokenizer.chat_template')) templates[key] = v;
      if (key === 'general.alignment') {
        if (typeof v !== 'number' || type !== 4) reject('bad_alignment', 'general.alignment must be a uint32');
        alignment = v;
        if (alignment === 0 || (alignment & (alignment - 1)) !== 0 || alignment > L.maxAlignment) {
          reject('bad_alignment', `general.alignment ${alignment} is not a power of two up to ${L.maxAlignment}`);
        }
      }
    }
  }

  const infos: { name: string; dims: number[]; type: number; rel: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const len = safeNumber(c.u64(`tensor #${i} name length`), 'tensor name length');
    if (len === 0 || len > L.maxNameLength) reject('bad_tensor_name', `tensor #${i} name is ${len} bytes (1..${L.maxNameLength})`);
    const name = utf8(c.bytes(len, `tensor #${i} name`), `tensor #${i} name`);
    if (names.has(name)) reject('duplicate_tensor', `tensor ${JSON.stringify(name)} appears twice`);
    names.add(name);
    const rank = c.u32(`rank of ${name}`);
    if (rank === 0 || rank > L.maxRank) reject('bad_rank', `tensor ${name} has rank ${rank} (1..${L.maxRank})`);
    const dims: number[] = [];
    for (let d = 0; d < rank; d++) {
      const v = c.u64(`dim ${d} of ${name}`);
      if (v === 0n || v > 1n << 40n) reject('bad_dims', `tensor ${name} dimension ${d} is ${v}`);
      dims.push(Number(v));
    }
    const type = c.u32(`type of ${name}`);
    const rel = safeNumber(c.u64(`offset of ${name}`), `offset of ${name}`);
    infos.push({ name, dims, type, rel });
  }
  const headerEnd = c.pos;
  const dataStart = Math.ceil(headerEnd / alignment) * alignment;
  if (dataStart > size) reject('truncated', 'file ends before the tensor data');

  const tensors: TensorLayout[] = infos.map(({ name, dims, type, rel }) => {
    const traits = GGML_TYPES.get(type);
    if (!traits) reject('bad_tensor_type', `tensor ${name} has unknown ggml type ${type}`);
    let elements = 1;
    for (const d of dims) {
      elements *= d;
      if (elements > 2 ** 50) reject('bad_dims', `tensor ${name} has ${dims.join('×')} elements: absurd`);
    }
    if (dims[0]! % traits.blockSize !== 0) reject('bad_dims', `tensor ${name}: row of ${dims[0]} is not a multiple of the ${traits.name} block (${traits.blockSize})`);
    const byteLength = (elements / traits.blockSize) * traits.typeSize;
    if (rel % alignment !== 0) reject('misaligned', `tensor ${name} offset ${rel} is not a multiple of ${alignment}`);
    const offset = dataStart + rel;
    if (offset + byteLength > size) reject('out_of_bounds', `tensor ${name} (${byteLength} bytes at ${offset}) runs past the end of the ${size}-byte file`);
    return { name, typeName: traits.name, dims, elements, offset, byteLength, blockSize: traits.blockSize, typeSize: traits.typeSize };
  });
  tensors.sort((a, b) => a.offset - b.offset);
  let end = dataStart;
  for (const t of tensors) {
    if (t.offset < end) reject('overlap', `tensor ${t.name} at ${t.offset} overlaps the previous tensor (ends at ${end})`);
    if (t.offset - end >= alignment) reject('gap', `${t.offset - end} unaccounted bytes before tensor ${t.name}`);
    end = t.offset + t.byteLength;
  }
  // The writer may pad the last tensor to the alignment; anything beyond is a payload (zip/pickle polyglot).
  const paddedEnd = Math.ceil(end / alignment) * alignment;
  if (size > paddedEnd) {
    const head = readAt(fd, end, 4);
    const hint = head[0] === 0x50 && head[1] === 0x4b ? ' (a zip archive)' : head[0] === 0x80 ? ' (a pickle)' : '';
    reject('trailing_bytes', `${size - end} bytes follow the last tensor${hint}`);
  }
  return { format: 'gguf', version, alignment, tensors, dataStart, dataEnd: size, metadata, templates };
}
