// A bounded ONNX ModelProto parser over onnx-wire.ts: field by field, every length checked against what is left, nothing allocated from a declared size.
// Field numbers follow onnx/onnx.proto (IR version 11); a field this reader does not know is refused, not skipped.
import { closeSync, fstatSync, openSync } from 'node:fs';
import { FileCursor, readAt } from './file-reader.js';
import { countVarints, varintAt, WIRE, WireReader } from './onnx-wire.js';
import { reject } from './parse-error.js';

export interface OnnxLimits {
  /** Protobuf's own ceiling for one message (2 GiB): a larger .onnx cannot be a valid ModelProto. */
  maxModelBytes: number;
  /** Oldest and newest IR version accepted (ORT refuses below 3). */
  minIrVersion: number;
  maxIrVersion: number;
  /** Nodes in the main graph, every subgraph and every function together. */
  maxNodes: number;
  /** Tensors: initializers of every graph and tensor-valued attributes together. */
  maxInitializers: number;
  maxAttributesPerNode: number;
  /** Inputs (or outputs) of one node. */
  maxNodeIo: number;
  /** Subgraph nesting (If/Loop/Scan bodies inside bodies); the main graph is depth 0. */
  maxGraphDepth: number;
  /** Nesting of TypeProto (sequence of map of optional …). */
  maxTypeDepth: number;
  /** Graph inputs, outputs and value_info entries together. */
  maxValueInfos: number;
  maxFunctions: number;
  maxOpsetImports: number;
  maxMetadataEntries: number;
  /** Names, op types, domains, keys, external-data locations. */
  maxNameBytes: number;
  /** Metadata values and the producer strings we keep. */
  maxStringBytes: number;
  maxRank: number;
  /** A dimension, and a tensor's element count, at most this. */
  maxDim: number;
  /** string_data entries of one tensor. */
  maxStrings: number;
}

export const DEFAULT_ONNX_LIMITS: OnnxLimits = Object.freeze({
  maxModelBytes: 2 ** 31 - 1,
  minIrVersion: 3,
  maxIrVersion: 11,
  maxNodes: 200_000,
  maxInitializers: 100_000,
  maxAttributesPerNode: 256,
  maxNodeIo: 4096,
  maxGraphDepth: 8,
  maxTypeDepth: 16,
  maxValueInfos: 1_000_000,
  maxFunctions: 4096,
  maxOpsetImports: 64,
  maxMetadataEntries: 4096,
  maxNameBytes: 4096,
  maxStringBytes: 64 * 1024,
  maxRank: 16,
  maxDim: 2 ** 40,
  maxStrings: 1 << 20,
});

/** TensorProto.DataType: name and bits per element (0: variable, STRING). */
export const ONNX_DTYPES: Readonly<Record<number, { name: string; bits: number }>> = Object.freeze({
  1: { name: 'F32', bits: 32 }, 2: { name: 'U8', bits: 8 }, 3: { name: 'I8', bits: 8 }, 4: { name: 'U16', bits: 16 },
  5: { name: 'I16', bits: 16 }, 6: { name: 'I32', bits: 32 }, 7: { name: 'I64', bits: 64 }, 8: { name: 'STRING', bits: 0 },
  9: { name: 'BOOL', bits: 8 }, 10: { name: 'F16', bits: 16 }, 11: { name: 'F64', bits: 64 }, 12: { name: 'U32', bits: 32 },
  13: { name: 'U64', bits: 64 }, 14: { name: 'C64', bits: 64 }, 15: { name: 'C128', bits: 128 }, 16: { name: 'BF16', bits: 16 },
  17: { name: 'F8_E4M3FN', bits: 8 }, 18: { name: 'F8_E4M3FNUZ', bits: 8 }, 19: { name: 'F8_E5M2', bits: 8 }, 20: { name: 'F8_E5M2FNUZ', bits: 8 },
  21: { name: 'U4', bits: 4 }, 22: { name: 'I4', bits: 4 }, 23: { name: 'F4_E2M1', bits: 4 },
});

export type PackedField = 'float_data' | 'int32_data' | 'int64_data' | 'double_data' | 'uint64_data';

/** Where a tensor's values are: byte ranges of the .onnx file, or an external file (not yet resolved on disk). */
export type OnnxTensorData =
  | { kind: 'raw'; offset: number; length: number }
  | { kind: 'packed'; field: PackedField; offset: number; length: number; count: number }
  | { kind: 'strings'; count: number }
  | { kind: 'external'; location: string; offset: number; length: number }
  | { kind: 'empty' };

export interface OnnxTensorInfo {
  /** Unique within the model: an unnamed attribute tensor is named `<node>:<attribute>`, a repeated name gets `#n`. */
  name: string;
  dataType: number;
  typeName: string;
  dims: number[];
  elements: number;
  /** Bytes the values take in raw form (elements × bits / 8, rounded up); 0 for strings. */
  byteLength: number;
  data: OnnxTensorData;
  source: 'initializer' | 'attribute';
  /** The graph it belongs to: `main`, or a path such as `main/loop_1.body`. */
  graph: string;
}

export interface OnnxNodeInfo { opType: string; domain: string; name: string; graph: string }
export interface OnnxOpset { domain: string; version: number }
export interface OnnxValueInfo { name: string; elemType: number | null; shape: (number | string | null)[] | null }
export interface OnnxFunctionInfo { name: string; domain: string; opsets: OnnxOpset[]; nodes: OnnxNodeInfo[] }

export interface OnnxModelInfo {
  irVersion: number;
  opsets: OnnxOpset[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  metadata: Record<string, string>;
  graphName: string;
  /** Every node of the main graph and of the subgraphs in its attributes (function bodies are under `functions`). */
  nodes: OnnxNodeInfo[];
  tensors: OnnxTensorInfo[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  functions: OnnxFunctionInfo[];
  /** Deepest subgraph nesting seen (0: no subgraphs). */
  graphDepth: number;
}

/** Keys of TensorProto.external_data (onnx/external_data_helper.py); `basepath` is never serialized. */
const EXTERNAL_KEYS = new Set(['location', 'offset', 'length', 'checksum']);

/** The parse's state: the wire reader over the file and the running totals the limits bound. */
class Reader extends WireReader {
  nodes = 0;
  tensors = 0;
  valueInfos = 0;
  depth = 0;
  readonly names = new Map<string, number>();
  readonly out: { nodes: OnnxNodeInfo[]; tensors: OnnxTensorInfo[] } = { nodes: [], tensors: [] };

  constructor(fd: number, c: FileCursor, readonly L: OnnxLimits) {
    super(fd, c);
  }

  unknown(field: number, what: string): never {
    return reject('unknown_field', `${what}: unknown field ${field} (this reader knows onnx.proto up to IR version ${this.L.maxIrVersion})`);
  }

  uniqueName(name: string): string {
    const n = (this.names.get(name) ?? 0) + 1;
    this.names.set(name, n);
    return n === 1 ? name : `${name}#${n}`;
  }

  countNode(): void {
    if (++this.nodes > this.L.maxNodes) reject('too_many_nodes', `more than ${this.L.maxNodes} nodes`);
  }

  countTensor(): void {
    if (++this.tensors > this.L.maxInitializers) reject('too_many_initializers', `more than ${this.L.maxInitializers} tensors (initializers and attribute tensors)`);
  }

  countValueInfo(): void {
    if (++this.valueInfos > this.L.maxValueInfos) reject('too_many_value_infos', `more than ${this.L.maxValueInfos} graph inputs, outputs and value_info entries`);
  }
}

function opset(r: Reader, end: number, what: string): OnnxOpset {
  const o = { domain: '', version: null as number | null };
  const seen = new Set<number>();
  r.fields(end, what, (f, w) => {
    r.once(seen, f, what);
    if (f === 1) { r.expect(w, WIRE.len, f, what); o.domain = r.str(end, r.L.maxNameBytes, `${what} domain`); }
    else if (f === 2) { r.expect(w, WIRE.varint, f, what); o.version = r.varint(`${what} version`); }
    else r.unknown(f, what);
  });
  const v = o.version;
  if (v === null || !Number.isSafeInteger(v) || v <= 0) return reject('bad_opset', `${what}: domain '${o.domain}' has version ${String(v)} (a positive integer is required)`);
  return { domain: o.domain, version: v };
}

function stringEntry(r: Reader, end: number, what: string, valueLimit: number): [string, string] {
  let key = '', value = '';
  const seen = new Set<number>();
  r.fields(end, what, (f, w) => {
    r.once(seen, f, what);
    r.expect(w, WIRE.len, f, what);
    if (f === 1) key = r.str(end, r.L.maxNameBytes, `${what} key`);
    else if (f === 2) value = r.str(end, valueLimit, `${what} value`);
    else r.unknown(f, what);
  });
  return [key, value];
}

/** Repeated StringStringEntryProto we do not keep (graph/node/tensor metadata_props): bounded like the rest, then dropped. */
function skipEntry(r: Reader, end: number, what: string): void {
  const n = r.len(end, what);
  stringEntry(r, r.c.pos + n, what, r.L.maxStringBytes);
}

function typeProto(r: Reader, end: number, depth: number, what: string): { elemType: number | null; shape: (number | string | null)[] | null } {
  if (depth > r.L.maxTypeDepth) reject('type_too_deep', `${what}: type nesting deeper than ${r.L.maxTypeDepth}`);
  let elemType: number | null = null;
  let shape: (number | string | null)[] | null = null;
  r.fields(end, what, (f, w) => {
    if (f === 6) { r.expect(w, WIRE.len, f, what); r.skipLen(end, `${what} denotation`); return; }
    r.expect(w, WIRE.len, f, what);
    const n = r.len(end, what);
    const sub = r.c.pos + n;
    if (f === 1 || f === 8) { // tensor_type, sparse_tensor_type: elem_type, shape
      r.fields(sub, `${what} tensor type`, (g, x) => {
        if (g === 1) { r.expect(x, WIRE.varint, g, what); elemType = r.varint(`${what} elem_type`); }
        else if (g === 2) { r.expect(x, WIRE.len, g, what); shape = tensorShape(r, r.sub(sub, what), what); }
        else r.unknown(g, `${what} tensor type`);
      });
    } else if (f === 4 || f === 9) { // sequence_type, optional_type: elem_type (TypeProto)
      r.fields(sub, what, (g, x) => {
        if (g !== 1) r.unknown(g, what);
        r.expect(x, WIRE.len, g, what);
        typeProto(r, r.sub(sub, what), depth + 1, what);
      });
    } else if (f === 5) { // map_type: key_type, value_type
      r.fields(sub, what, (g, x) => {
        if (g === 1) { r.expect(x, WIRE.varint, g, what); r.varint(what); }
        else if (g === 2) { r.expect(x, WIRE.len, g, what); typeProto(r, r.sub(sub, what), depth + 1, what); }
        else r.unknown(g, what);
      });
    } else if (f === 7) { // opaque_type: domain, name
      r.fields(sub, what, (g, x) => {
        if (g !== 1 && g !== 2) r.unknown(g, what);
        r.expect(x, WIRE.len, g, what);
        r.str(sub, r.L.maxNameBytes, what);
      });
    } else r.unknown(f, what);
  });
  return { elemType, shape };
}

function tensorShape(r: Reader, end: number, what: string): (number | string | null)[] {
  const dims: (number | string | null)[] = [];
  r.fields(end, `${what} shape`, (f, w) => {
    if (f !== 1) r.unknown(f, `${what} shape`);
    r.expect(w, WIRE.len, f, what);
    if (dims.length >= r.L.maxRank) reject('bad_rank', `${what}: shape of more than ${r.L.maxRank} dimensions`);
    const sub = r.sub(end, what);
    let dim: number | string | null = null;
    r.fields(sub, `${what} dimension`, (g, x) => {
      if (g === 1) {
        r.expect(x, WIRE.varint, g, what);
        const v = r.varint(`${what} dim_value`);
        if (!Number.isSafeInteger(v) || v < 0 || v > r.L.maxDim) reject('bad_dims', `${what}: dimension ${v}`);
        dim = v;
      } else if (g === 2) { r.expect(x, WIRE.len, g, what); dim = r.str(sub, r.L.maxNameBytes, `${what} dim_param`); }
      else if (g === 3) { r.expect(x, WIRE.len, g, what); r.skipLen(sub, `${what} denotation`); }
      else r.unknown(g, `${what} dimension`);
    });
    dims.push(dim);
  });
  return dims;
}

function valueInfo(r: Reader, end: number, what: string): OnnxValueInfo {
  r.countValueInfo();
  let name = '';
  let type: { elemType: number | null; shape: (number | string | null)[] | null } = { elemType: null, shape: null };
  const seen = new Set<number>();
  r.fields(end, what, (f, w) => {
    if (f !== 4) r.once(seen, f, what);
    r.expect(w, WIRE.len, f, what);
    if (f === 1) name = r.str(end, r.L.maxNameBytes, `${what} name`);
    else if (f === 2) type = typeProto(r, r.sub(end, what), 0, `${what} ${name} type`);
    else if (f === 3) r.skipLen(end, `${what} doc_string`);
    else if (f === 4) skipEntry(r, end, `${what} metadata`);
    else r.unknown(f, what);
  });
  return { name, ...type };
}

interface RawTensor {
  name: string | null;
  dims: number[];
  dataType: number | null;
  sources: OnnxTensorData[];
  external: Map<string, string>;
  location: number;
}

const PACKED: Record<number, { field: PackedField; width: number; types: readonly number[] }> = {
  4: { field: 'float_data', width: 4, types: [1, 14] },
  5: { field: 'int32_data', width: 0, types: [2, 3, 4, 5, 6, 9, 10, 16, 17, 18, 19, 20] },
  7: { field: 'int64_data', width: 0, types: [7] },
  10: { field: 'double_data', width: 8, types: [11, 15] },
  11: { field: 'uint64_data', width: 0, types: [12, 13] },
};

function tensorFields(r: Reader, end: number, what: string): RawTensor {
  const t: RawTensor = { name: null, dims: [], dataType: null, sources: [], external: new Map(), location: 0 };
  const seen = new Set<number>();
  let strings = 0;
  r.fields(end, what, (f, w) => {
    if (f === 1) {
      // dims: packed (one length-delimited run) or one varint per dimension.
      const dim = (v: number) => {
        if (t.dims.length >= r.L.maxRank) reject('bad_rank', `${what}: more than ${r.L.maxRank} dimensions`);
        if (!Number.isSafeInteger(v) || v < 0 || v > r.L.maxDim) reject('bad_dims', `${what}: dimension ${v} (0..${r.L.maxDim})`);
        t.dims.push(v);
      };
      if (w === WIRE.len) { const sub = r.sub(end, `${what} dims`); while (r.c.pos < sub) dim(r.varint(`${what} dims`)); if (r.c.pos !== sub) reject('bad_varint', `${what}: dims run past their length`); }
      else { r.expect(w, WIRE.varint, f, what); dim(r.varint(`${what} dims`)); }
      return;
    }
    if (f === 6) { // string_data: counted and skipped, never kept
      r.expect(w, WIRE.len, f, what);
      if (++strings > r.L.maxStrings) reject('too_many_strings', `${what}: more than ${r.L.maxStrings} strings`);
      const n = r.len(end, `${what} string_data`);
      r.c.skip(n, `${what} string_data`);
      return;
    }
    if (f === 13) { // external_data entries
      r.expect(w, WIRE.len, f, what);
      const [k, v] = stringEntry(r, r.sub(end, what), `${what} external_data`, r.L.maxNameBytes);
      if (!EXTERNAL_KEYS.has(k)) reject('external_data_bad_entry', `${what}: unknown external_data key ${JSON.stringify(k.slice(0, 64))}`);
      if (t.external.has(k)) reject('external_data_bad_entry', `${what}: external_data key ${k} occurs twice`);
      t.external.set(k, v);
      return;
    }
    if (f === 12) { r.expect(w, WIRE.len, f, what); r.skipLen(end, `${what} doc_string`); return; }
    if (f === 16) { r.expect(w, WIRE.len, f, what); skipEntry(r, end, `${what} metadata`); return; }
    r.once(seen, f, what);
    if (f === 2) { r.expect(w, WIRE.varint, f, what); t.dataType = r.varint(`${what} data_type`); }
    else if (f === 8) { r.expect(w, WIRE.len, f, what); t.name = r.str(end, r.L.maxNameBytes, `${what} name`); }
    else if (f === 9) {
      r.expect(w, WIRE.len, f, what);
      const length = r.len(end, `${what} raw_data`);
      t.sources.push({ kind: 'raw', offset: r.c.pos, length });
      r.c.skip(length, `${what} raw_data`);
    } else if (f === 14) { r.expect(w, WIRE.varint, f, what); t.location = r.varint(`${what} data_location`); }
    else if (f === 3) reject('tensor_segment', `${what}: segmented tensors are refused`);
    else if (PACKED[f]) {
      const p = PACKED[f];
      // proto3 writers always pack repeated scalars; an unpacked run is hand-made and spreads values between other fields.
      if (w !== WIRE.len) reject('unpacked_tensor_data', `${what}: ${p.field} is not packed`);
      const length = r.len(end, `${what} ${p.field}`);
      t.sources.push({ kind: 'packed', field: p.field, offset: r.c.pos, length, count: -1 });
      r.c.skip(length, `${what} ${p.field}`);
    } else r.unknown(f, what);
  });
  if (strings > 0) t.sources.push({ kind: 'strings', count: strings });
  return t;
}

/** Locations are resolved against the model's folder by the runtime: only plain relative names inside it are accepted. */
export function checkExternalLocation(location: string, what: string): void {
  if (location.length === 0) reject('external_data_bad_name', `${what}: empty external data location`);
  if (location.includes('\0')) reject('external_data_bad_name', `${what}: external data location contains NUL`);
  if (location.includes('\\')) reject('external_data_bad_name', `${what}: external data location ${JSON.stringify(location.slice(0, 200))} contains a backslash`);
  if (location.startsWith('/') || /^[A-Za-z]:/.test(location) || location.startsWith('~')) reject('external_data_absolute', `${what}: external data location ${JSON.stringify(location.slice(0, 200))} is absolute`);
  if (location.split('/').some((s) => s === '..')) reject('external_data_traversal', `${what}: external data location ${JSON.stringify(location.slice(0, 200))} climbs out with '..'`);
  // onnxruntime reads `*/_ORT_MEM_ADDR_/*` as "offset is a memory address": no wildcard, control or odd character is a file name here.
  if (!/^[A-Za-z0-9_][A-Za-z0-9._+@=-]*(?:\/[A-Za-z0-9_][A-Za-z0-9._+@=-]*)*$/.test(location)) {
    reject('external_data_bad_name', `${what}: external data location ${JSON.stringify(location.slice(0, 200))} is not a plain relative file name`);
  }
}

function externalOf(t: RawTensor, expected: number, what: string): OnnxTensorData {
  if (t.location !== 1) reject('external_data_bad_entry', `${what}: external_data entries without data_location EXTERNAL`);
  const location = t.external.get('location');
  if (location === undefined) reject('external_data_bad_entry', `${what}: external data without a location`);
  checkExternalLocation(location, what);
  const num = (k: string): number | null => {
    const v = t.external.get(k);
    if (v === undefined) return null;
    if (!/^[0-9]{1,16}$/.test(v) || !Number.isSafeInteger(Number(v))) reject('external_data_bad_entry', `${what}: external data ${k} ${JSON.stringify(v.slice(0, 32))} is not a byte count`);
    return Number(v);
  };
  const offset = num('offset') ?? 0;
  const length = num('length');
  if (length !== null && length !== expected) reject('data_size_mismatch', `${what}: external data length ${length} for ${expected} bytes of values`);
  return { kind: 'external', location, offset, length: expected };
}

function tensor(r: Reader, end: number, source: OnnxTensorInfo['source'], graph: string, fallbackName: string, what: string): OnnxTensorInfo {
  r.countTensor();
  const t = tensorFields(r, end, what);
  const label = `${what} ${JSON.stringify((t.name || fallbackName).slice(0, 200))}`;
  if (t.dataType === null || !Object.hasOwn(ONNX_DTYPES, t.dataType)) reject('bad_dtype', `${label}: data type ${String(t.dataType)} is unknown or missing`);
  const dtype = ONNX_DTYPES[t.dataType]!;
  let elements = 1;
  for (const d of t.dims) {
    elements *= d;
    if (elements > r.L.maxDim) reject('bad_dims', `${label}: ${t.dims.join('×')} elements is absurd (over ${r.L.maxDim})`);
  }
  const byteLength = Math.ceil((elements * dtype.bits) / 8);
  if (t.location !== 0 && t.location !== 1) reject('external_data_bad_entry', `${label}: data_location ${t.location}`);
  if (t.external.size > 0 || t.location === 1) {
    if (t.sources.length) reject('ambiguous_tensor_data', `${label}: external data and inline data both given`);
    if (dtype.bits === 0) reject('external_data_bad_entry', `${label}: string tensors cannot be external`);
    t.sources.push(externalOf(t, byteLength, label));
  }
  if (t.sources.length > 1) reject('ambiguous_tensor_data', `${label}: values given in ${t.sources.length} places`);
  const data: OnnxTensorData = t.sources[0] ?? { kind: 'empty' };
  if (data.kind === 'empty' && elements > 0) reject('missing_tensor_data', `${label}: ${elements} elements declared and no data`);
  if (data.kind === 'raw' && data.length !== byteLength) reject('data_size_mismatch', `${label}: ${data.length} bytes of raw data for ${t.dims.join('×') || 'scalar'} ${dtype.name} (${byteLength} bytes)`);
  if (data.kind === 'strings') {
    if (t.dataType !== 8) reject('bad_tensor_data', `${label}: string_data in a ${dtype.name} tensor`);
    if (data.count !== elements) reject('data_size_mismatch', `${label}: ${data.count} strings for ${elements} elements`);
  }
  if (t.dataType === 8 && data.kind !== 'strings' && elements > 0) reject('bad_tensor_data', `${label}: a string tensor holds its values in string_data only`);
  if (data.kind === 'packed') {
    const p = Object.values(PACKED).find((x) => x.field === data.field)!;
    if (!p.types.includes(t.dataType)) reject('bad_tensor_data', `${label}: ${data.field} cannot hold ${dtype.name}`);
    const complex = t.dataType === 14 || t.dataType === 15 ? 2 : 1;
    if (p.width && data.length % p.width !== 0) reject('data_size_mismatch', `${label}: ${data.field} of ${data.length} bytes is not whole values`);
    const count = p.width ? data.length / p.width : countVarints(r, data.offset, data.length, label);
    if (count !== elements * complex) reject('data_size_mismatch', `${label}: ${count} values in ${data.field} for ${elements * complex} elements`);
    data.count = count;
  }
  const name = r.uniqueName(t.name || fallbackName);
  return { name, dataType: t.dataType, typeName: dtype.name, dims: t.dims, elements, byteLength, data, source, graph };
}

function attribute(r: Reader, end: number, node: string, graph: string, depth: number, what: string): void {
  let name = '';
  const seen = new Set<number>();
  let sub = 0;
  r.fields(end, what, (f, w) => {
    if (![7, 8, 9, 10, 11, 23, 15].includes(f)) r.once(seen, f, what);
    switch (f) {
      case 1: r.expect(w, WIRE.len, f, what); name = r.str(end, r.L.maxNameBytes, `${what} name`); return;
      case 21: r.expect(w, WIRE.len, f, what); r.str(end, r.L.maxNameBytes, `${what} ref_attr_name`); return;
      case 13: r.expect(w, WIRE.len, f, what); r.skipLen(end, `${what} doc_string`); return;
      case 20: r.expect(w, WIRE.varint, f, what); r.varint(`${what} type`); return;
      case 2: r.expect(w, WIRE.fixed32, f, what); r.c.skip(4, what); return;
      case 3: r.expect(w, WIRE.varint, f, what); r.varint(what); return;
      case 4: r.expect(w, WIRE.len, f, what); r.skipLen(end, `${what} s`); return;
      case 5: case 10: {
        r.expect(w, WIRE.len, f, what);
        const n = r.len(end, what);
        r.out.tensors.push(tensor(r, r.c.pos + n, 'attribute', graph, `${node}:${name || 'tensor'}`, `node ${JSON.stringify(node.slice(0, 200))} attribute ${name}`));
        return;
      }
      case 6: case 11: {
        r.expect(w, WIRE.len, f, what);
        const n = r.len(end, what);
        graphProto(r, r.c.pos + n, depth + 1, `${graph}/${node}.${name || 'graph'}${sub++ ? `#${sub}` : ''}`);
        return;
      }
      case 22: case 23: return reject('sparse_tensor', `${what}: sparse tensors are refused`);
      case 14: case 15: r.expect(w, WIRE.len, f, what); r.skipLen(end, `${what} type_proto`); return;
      case 7: case 8: if (w === WIRE.len) r.skipLen(end, what); else r.skipScalar(w, what); return;
      case 9: r.expect(w, WIRE.len, f, what); r.skipLen(end, `${what} strings`); return;
      default: r.unknown(f, what);
    }
  });
}

function nodeProto(r: Reader, end: number, graph: string, depth: number, sink: OnnxNodeInfo[], what: string): void {
  r.countNode();
  let opType = '', domain = '', name = '', attrs = 0, inputs = 0, outputs = 0;
  const seen = new Set<number>();
  const bodies: [number, number][] = [];
  r.fields(end, what, (f, w) => {
    if (f === 1 || f === 2) {
      r.expect(w, WIRE.len, f, what);
      if ((f === 1 ? ++inputs : ++outputs) > r.L.maxNodeIo) reject('too_many_node_io', `${what}: more than ${r.L.maxNodeIo} ${f === 1 ? 'inputs' : 'outputs'}`);
      r.str(end, r.L.maxNameBytes, `${what} ${f === 1 ? 'input' : 'output'}`);
      return;
    }
    if (f === 5) {
      r.expect(w, WIRE.len, f, what);
      if (++attrs > r.L.maxAttributesPerNode) reject('too_many_attributes', `${what}: more than ${r.L.maxAttributesPerNode} attributes`);
      // Attributes may precede the name: their bodies are read once the node's name is known.
      const n = r.len(end, what);
      bodies.push([r.c.pos, n]);
      r.c.skip(n, `${what} attribute`);
      return;
    }
    if (f === 6) { r.expect(w, WIRE.len, f, what); r.skipLen(end, `${what} doc_string`); return; }
    if (f === 9) { r.expect(w, WIRE.len, f, what); skipEntry(r, end, `${what} metadata`); return; }
    if (f === 10) { r.expect(w, WIRE.len, f, what); r.skipLen(end, `${what} device_configurations`); return; }
    r.once(seen, f, what);
    r.expect(w, WIRE.len, f, what);
    if (f === 3) name = r.str(end, r.L.maxNameBytes, `${what} name`);
    else if (f === 4) opType = r.str(end, r.L.maxNameBytes, `${what} op_type`);
    else if (f === 7) domain = r.str(end, r.L.maxNameBytes, `${what} domain`);
    else if (f === 8) r.str(end, r.L.maxNameBytes, `${what} overload`);
    else r.unknown(f, what);
  });
  const label = name || `${opType}@${sink.length}`;
  // Names are kept short (op types and domains whole: the policy compares them).
  sink.push({ opType, domain, name: label.slice(0, 256), graph });
  const back = r.c.pos;
  for (const [at, n] of bodies) {
    r.c.pos = at;
    attribute(r, at + n, label, graph, depth, `node ${JSON.stringify(label.slice(0, 200))} attribute`);
  }
  r.c.pos = back;
}

function graphProto(r: Reader, end: number, depth: number, path: string): { name: string; inputs: OnnxValueInfo[]; outputs: OnnxValueInfo[] } {
  if (depth > r.L.maxGraphDepth) reject('graph_too_deep', `${path}: subgraphs nested deeper than ${r.L.maxGraphDepth}`);
  r.depth = Math.max(r.depth, depth);
  let name = '';
  const inputs: OnnxValueInfo[] = [], outputs: OnnxValueInfo[] = [];
  const seen = new Set<number>();
  const what = `graph ${path}`;
  r.fields(end, what, (f, w) => {
    r.expect(w, WIRE.len, f, what);
    switch (f) {
      case 1: { const n = r.len(end, what); nodeProto(r, r.c.pos + n, path, depth, r.out.nodes, `${what} node`); return; }
      case 2: r.once(seen, f, what); name = r.str(end, r.L.maxNameBytes, `${what} name`); return;
      case 5: { const n = r.len(end, what); r.out.tensors.push(tensor(r, r.c.pos + n, 'initializer', path, `${path}:initializer`, `${what} initializer`)); return; }
      case 11: case 12: case 13: {
        const n = r.len(end, what);
        const v = valueInfo(r, r.c.pos + n, `${what} ${f === 11 ? 'input' : f === 12 ? 'output' : 'value_info'}`);
        if (depth === 0 && f === 11) inputs.push(v);
        if (depth === 0 && f === 12) outputs.push(v);
        return;
      }
      case 10: r.skipLen(end, `${what} doc_string`); return;
      case 14: r.skipLen(end, `${what} quantization_annotation`); return;
      case 16: skipEntry(r, end, `${what} metadata`); return;
      case 15: return reject('sparse_tensor', `${what}: sparse initializers are refused`);
      default: r.unknown(f, what);
    }
  });
  return { name, inputs, outputs };
}

function functionProto(r: Reader, end: number, what: string): OnnxFunctionInfo {
  let name = '', domain = '';
  const opsets: OnnxOpset[] = [];
  const nodes: OnnxNodeInfo[] = [];
  const seen = new Set<number>();
  const bodies: [number, number][] = [];
  r.fields(end, what, (f, w) => {
    switch (f) {
      case 1: r.once(seen, f, what); r.expect(w, WIRE.len, f, what); name = r.str(end, r.L.maxNameBytes, `${what} name`); return;
      case 10: r.once(seen, f, what); r.expect(w, WIRE.len, f, what); domain = r.str(end, r.L.maxNameBytes, `${what} domain`); return;
      case 13: r.once(seen, f, what); r.expect(w, WIRE.len, f, what); r.str(end, r.L.maxNameBytes, `${what} overload`); return;
      case 4: case 5: case 6: r.expect(w, WIRE.len, f, what); r.str(end, r.L.maxNameBytes, what); return;
      case 7: { r.expect(w, WIRE.len, f, what); const n = r.len(end, what); bodies.push([r.c.pos, n]); r.c.skip(n, what); return; }
      case 9: {
        r.expect(w, WIRE.len, f, what);
        if (opsets.length >= r.L.maxOpsetImports) reject('too_many_opsets', `${what}: more than ${r.L.maxOpsetImports} opset imports`);
        const n = r.len(end, what);
        opsets.push(opset(r, r.c.pos + n, `${what} opset_import`));
        return;
      }
      case 11: { r.expect(w, WIRE.len, f, what); const n = r.len(end, what); attribute(r, r.c.pos + n, name || 'function', `function ${name}`, 0, `${what} attribute`); return; }
      case 12: { r.expect(w, WIRE.len, f, what); const n = r.len(end, what); valueInfo(r, r.c.pos + n, `${what} value_info`); return; }
      case 8: r.expect(w, WIRE.len, f, what); r.skipLen(end, `${what} doc_string`); return;
      case 14: r.expect(w, WIRE.len, f, what); skipEntry(r, end, `${what} metadata`); return;
      default: r.unknown(f, what);
    }
  });
  const back = r.c.pos;
  const path = `function ${domain}:${name}`;
  for (const [at, n] of bodies) { r.c.pos = at; nodeProto(r, at + n, path, 0, nodes, `${path} node`); }
  r.c.pos = back;
  return { name, domain, opsets, nodes };
}

/** The canonical name of an operator-set domain: '' and 'ai.onnx' are the same. */
export const canonicalDomain = (d: string): string => (d === '' ? 'ai.onnx' : d);

/** Parses the ModelProto at `path`; throws ParseError (rule + sentence) on the first defect or limit. */
export function parseOnnxFile(path: string, limits: OnnxLimits = DEFAULT_ONNX_LIMITS): OnnxModelInfo {
  const fd = openSync(path, 'r');
  try {
    return parseOnnxFd(fd, fstatSync(fd).size, limits);
  } finally {
    closeSync(fd);
  }
}

export function parseOnnxFd(fd: number, size: number, L: OnnxLimits = DEFAULT_ONNX_LIMITS): OnnxModelInfo {
  if (size > L.maxModelBytes) reject('too_large', `${size} bytes, over protobuf's ${L.maxModelBytes}-byte message limit`);
  if (size === 0) reject('truncated', 'empty file');
  const r = new Reader(fd, new FileCursor(fd, size, size), L);
  const m: OnnxModelInfo = {
    irVersion: 0, opsets: [], producerName: '', producerVersion: '', domain: '', modelVersion: 0, metadata: {},
    graphName: '', nodes: r.out.nodes, tensors: r.out.tensors, inputs: [], outputs: [], functions: [], graphDepth: 0,
  };
  const seen = new Set<number>();
  const at = { graph: null as [number, number] | null };
  const fnAt: [number, number][] = [];
  r.fields(size, 'model', (f, w) => {
    switch (f) {
      case 1: r.once(seen, f, 'model'); r.expect(w, WIRE.varint, f, 'model'); m.irVersion = r.varint('ir_version'); return;
      case 2: r.once(seen, f, 'model'); r.expect(w, WIRE.len, f, 'model'); m.producerName = r.str(size, L.maxStringBytes, 'producer_name'); return;
      case 3: r.once(seen, f, 'model'); r.expect(w, WIRE.len, f, 'model'); m.producerVersion = r.str(size, L.maxStringBytes, 'producer_version'); return;
      case 4: r.once(seen, f, 'model'); r.expect(w, WIRE.len, f, 'model'); m.domain = r.str(size, L.maxNameBytes, 'model domain'); return;
      case 5: r.once(seen, f, 'model'); r.expect(w, WIRE.varint, f, 'model'); m.modelVersion = r.varint('model_version'); return;
      case 6: r.expect(w, WIRE.len, f, 'model'); r.skipLen(size, 'doc_string'); return;
      case 7: {
        r.once(seen, f, 'model');
        r.expect(w, WIRE.len, f, 'model');
        const n = r.len(size, 'graph');
        at.graph = [r.c.pos, n];
        r.c.skip(n, 'graph');
        return;
      }
      case 8: {
        r.expect(w, WIRE.len, f, 'model');
        if (m.opsets.length >= L.maxOpsetImports) reject('too_many_opsets', `more than ${L.maxOpsetImports} opset imports`);
        const n = r.len(size, 'opset_import');
        m.opsets.push(opset(r, r.c.pos + n, 'opset_import'));
        return;
      }
      case 14: {
        r.expect(w, WIRE.len, f, 'model');
        if (Object.keys(m.metadata).length >= L.maxMetadataEntries) reject('too_many_metadata', `more than ${L.maxMetadataEntries} metadata_props`);
        const n = r.len(size, 'metadata_props');
        const [k, v] = stringEntry(r, r.c.pos + n, 'metadata_props', L.maxStringBytes);
        if (Object.hasOwn(m.metadata, k)) reject('duplicate_key', `metadata_props names ${JSON.stringify(k.slice(0, 128))} twice`);
        m.metadata[k] = v;
        return;
      }
      case 20: return reject('training_info', 'training_info graphs are refused (inference only)');
      case 25: {
        r.expect(w, WIRE.len, f, 'model');
        if (fnAt.length >= L.maxFunctions) reject('too_many_functions', `more than ${L.maxFunctions} functions`);
        const n = r.len(size, 'function');
        fnAt.push([r.c.pos, n]);
        r.c.skip(n, 'function');
        return;
      }
      case 26: r.expect(w, WIRE.len, f, 'model'); r.skipLen(size, 'configuration'); return;
      default: r.unknown(f, 'model');
    }
  });
  if (!Number.isSafeInteger(m.irVersion) || m.irVersion < L.minIrVersion || m.irVersion > L.maxIrVersion) {
    reject('bad_ir_version', `IR version ${m.irVersion} (accepted: ${L.minIrVersion}..${L.maxIrVersion})`);
  }
  if (m.opsets.length === 0) reject('missing_opset', 'no opset_import: the operator sets the graph uses are undeclared');
  const domains = new Set<string>();
  for (const o of m.opsets) {
    const d = canonicalDomain(o.domain);
    if (domains.has(d)) reject('bad_opset', `opset domain '${o.domain}' imported twice`);
    domains.add(d);
  }
  if (!at.graph) return reject('missing_graph', 'the model has no graph');
  const [gAt, gLen] = at.graph;
  r.c.pos = gAt;
  const g = graphProto(r, gAt + gLen, 0, 'main');
  m.graphName = g.name;
  m.inputs = g.inputs;
  m.outputs = g.outputs;
  for (const [fAt, n] of fnAt) {
    r.c.pos = fAt;
    m.functions.push(functionProto(r, fAt + n, `function #${m.functions.length + 1}`));
  }
  m.graphDepth = r.depth;
  return m;
}

/**
 * Content test, by structure (ONNX has no magic): ir_version first (every writer emits it first: field-number order,
 * and it is the first field declared), then only ModelProto's small fields (2–6 once each, opset_import 8 any number of
 * times: declaration-order writers put it second), each fitting the file, then the graph's tag and length (field 7).
 */
export function looksLikeOnnx(fd: number, size: number, head: Uint8Array): boolean {
  if (head.length < 4 || head[0] !== 0x08 || head[1]! < 1 || head[1]! > 0x7f) return false;
  let pos = 2;
  const seen = new Set<number>();
  for (let i = 0; i < 64; i++) {
    const win = pos + 16 <= head.length ? head.subarray(pos, pos + 16) : readAt(fd, pos, 16);
    const v1 = varintAt(win, 0);
    if (!v1) return false;
    const field = Math.floor(v1.value / 8), wire = v1.value % 8;
    if (field < 2 || field > 8 || (field !== 8 && seen.has(field))) return false;
    seen.add(field);
    if (field === 5) {
      if (wire !== 0) return false;
      const v = varintAt(win, v1.size);
      if (!v) return false;
      pos += v1.size + v.size;
      continue;
    }
    if (wire !== 2) return false;
    const n = varintAt(win, v1.size);
    if (!n) return false;
    // A graph longer than the file is still an ONNX model: the parser then says it is truncated.
    if (field === 7) return true;
    if (pos + v1.size + n.size + n.value > size) return false;
    pos += v1.size + n.size + n.value;
  }
  return false;
}
