// ggml tensor types the scanner understands: block size (elements) and block byte size, as in ggml.c's type_traits.

export interface GgmlTypeTraits {
  readonly name: string;
  /** Elements per block. */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
}

export const QK_K = 256;

/** Keyed by the ggml type id (ggml.h `enum ggml_type`). */
export const GGML_TYPES: ReadonlyMap<number, GgmlTypeTraits> = new Map<number, GgmlTypeTraits>([
  [0, { name: 'F32', blockSize: 1, typeSize: 4 }],
  [1, { name: 'F16', blockSize: 1, typeSize: 2 }],
  [2, { name: 'Q4_0', blockSize: 32, typeSize: 18 }],
  [3, { name: 'Q4_1', blockSize: 32, typeSize: 20 }],
  [6, { name: 'Q5_0', blockSize: 32, typeSize: 22 }],
  [7, { name: 'Q5_1', blockSize: 32, typeSize: 24 }],
  [8, { name: 'Q8_0', blockSize: 32, typeSize: 34 }],
  [9, { name: 'Q8_1', blockSize: 32, typeSize: 36 }],
  [10, { name: 'Q2_K', blockSize: QK_K, typeSize: 84 }],
  [11, { name: 'Q3_K', blockSize: QK_K, typeSize: 110 }],
  [12, { name: 'Q4_K', blockSize: QK_K, typeSize: 144 }],
  [13, { name: 'Q5_K', blockSize: QK_K, typeSize: 176 }],
  [14, { name: 'Q6_K', blockSize: QK_K, typeSize: 210 }],
  [15, { name: 'Q8_K', blockSize: QK_K, typeSize: 292 }],
  [24, { name: 'I8', blockSize: 1, typeSize: 1 }],
  [25, { name: 'I16', blockSize: 1, typeSize: 2 }],
  [26, { name: 'I32', blockSize: 1, typeSize: 4 }],
  [27, { name: 'I64', blockSize: 1, typeSize: 8 }],
  [28, { name: 'F64', blockSize: 1, typeSize: 8 }],
  [30, { name: 'BF16', blockSize: 1, typeSize: 2 }],
]);

/** Types whose values the weight analysis can dequantize. */
export const DEQUANTIZABLE: ReadonlySet<string> = new Set([
  'F32', 'F16', 'BF16', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'Q8_K',
]);
