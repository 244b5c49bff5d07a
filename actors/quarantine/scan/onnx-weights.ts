// ONNX tensors as the weight scan sees them: byte ranges of the .onnx file, ranges of each external data file, and varint-packed floats decoded.
import { closeSync, openSync } from 'node:fs';
import { readAt } from './file-reader.js';
import type { ExternalFile } from './onnx-external.js';
import { DEFAULT_ONNX_LIMITS, ONNX_DTYPES, type OnnxLimits, type OnnxModelInfo, type OnnxTensorInfo } from './onnx-parser.js';
import type { ModelLayout, TensorLayout } from './tensor-layout.js';
import { TensorAnalyzer, type TensorStats } from './weight-stats.js';

/**
 * The widest bounds policy can set (policy/schemas/policy/quarantine.schema.json): the weight scan reads models stage 2
 * has already held to policy's own, and must not refuse one that policy allowed.
 */
export const ONNX_LAYOUT_LIMITS: OnnxLimits = Object.freeze({ ...DEFAULT_ONNX_LIMITS, maxNodes: 10_000_000, maxInitializers: 10_000_000, maxGraphDepth: 64 });

/** A complex tensor is measured as its real and imaginary parts: interleaved floats. */
const COMPLEX_PARTS: Record<string, string> = { C64: 'F32', C128: 'F64' };

function layoutOf(t: OnnxTensorInfo, offset: number, byteLength: number): TensorLayout {
  const part = COMPLEX_PARTS[t.typeName];
  const bits = ONNX_DTYPES[t.dataType]!.bits;
  // Plain types element by element; 4-bit types in 32-element blocks of 16 bytes, as safetensors' packed ones.
  const g = bits < 8 ? { blockSize: 32, typeSize: 16 } : { blockSize: 1, typeSize: part ? bits / 16 : bits / 8 };
  return { name: t.name, typeName: part ?? t.typeName, dims: t.dims.slice(), elements: part ? t.elements * 2 : t.elements, offset, byteLength, ...g };
}

function metadataOf(m: OnnxModelInfo): ModelLayout['metadata'] {
  const md: ModelLayout['metadata'] = { producer_name: m.producerName, producer_version: m.producerVersion, domain: m.domain };
  for (const [k, v] of Object.entries(m.metadata)) md[`metadata_props.${k}`] = v;
  return md;
}

/**
 * The tensors whose bytes lie in the .onnx file itself (raw_data, packed float_data and double_data). The protobuf framing
 * between them is not padding, so `dataStart = dataEnd = size` turns the zero-padding check off for this file.
 */
export function onnxInlineLayout(m: OnnxModelInfo, size: number): ModelLayout {
  const tensors: TensorLayout[] = [];
  for (const t of m.tensors) {
    const d = t.data;
    if (d.kind === 'raw' || (d.kind === 'packed' && (d.field === 'float_data' || d.field === 'double_data'))) {
      if (d.length > 0) tensors.push(layoutOf(t, d.offset, d.length));
    }
  }
  tensors.sort((a, b) => a.offset - b.offset);
  return { format: 'onnx', tensors, dataStart: size, dataEnd: size, metadata: metadataOf(m), templates: {}, version: m.irVersion };
}

/** An external data file as a layout: every byte not in one of its tensors must be zero (checked during the pass). */
export function onnxExternalLayout(f: ExternalFile): ModelLayout {
  return {
    format: 'onnx_external_data',
    tensors: f.spans.filter((s) => s.length > 0).map((s) => layoutOf(s.tensor, s.offset, s.length)),
    dataStart: 0, dataEnd: f.size, metadata: {}, templates: {},
  };
}

/**
 * FLOAT16 and BFLOAT16 values stored one per varint in int32_data (onnx.helper without raw=True) are not bytes the pass can
 * read: they are decoded here, chunk by chunk (never the whole tensor at once), and measured as F16/BF16.
 */
export function onnxVarintFloatStats(path: string, m: OnnxModelInfo, sampleCap: number): TensorStats[] {
  const todo = m.tensors.filter((t) => t.data.kind === 'packed' && t.data.field === 'int32_data' && (t.typeName === 'F16' || t.typeName === 'BF16'));
  if (todo.length === 0) return [];
  const out: TensorStats[] = [];
  const fd = openSync(path, 'r');
  try {
    for (const t of todo) {
      const d = t.data;
      if (d.kind !== 'packed') continue;
      const an = new TensorAnalyzer({ name: t.name, typeName: t.typeName, dims: t.dims.slice(), elements: t.elements, offset: 0, byteLength: t.elements * 2, blockSize: 1, typeSize: 2 }, { sampleCap });
      const CHUNK = 1 << 16;
      const bytes = new Uint8Array(CHUNK * 2);
      let v = 0, shift = 0;
      for (let p = 0; p < d.length; p += CHUNK) {
        const chunk = readAt(fd, d.offset + p, Math.min(CHUNK, d.length - p));
        let n = 0;
        for (const b of chunk) {
          if (shift < 28) v += (b & 0x7f) * 2 ** shift;
          shift += 7;
          if (b < 0x80) { bytes[n++] = v & 0xff; bytes[n++] = (v >>> 8) & 0xff; v = 0; shift = 0; }
        }
        an.feed(bytes.subarray(0, n));
      }
      out.push(an.finish());
    }
  } finally {
    closeSync(fd);
  }
  return out;
}
