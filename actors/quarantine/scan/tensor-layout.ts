// What the format parsers hand to the scanner: where each tensor's bytes lie in the file and how to read them.

export interface TensorLayout {
  name: string;
  /** ggml type name (F32, Q4_K, …) or safetensors dtype mapped to the same names where they coincide. */
  typeName: string;
  dims: number[];
  elements: number;
  /** Absolute byte offset in the file. */
  offset: number;
  byteLength: number;
  /** Elements and bytes per block (1 and the element size for plain types). */
  blockSize: number;
  typeSize: number;
}

export interface ModelLayout {
  format: 'gguf' | 'safetensors' | 'onnx' | 'onnx_external_data';
  /** Tensors sorted by offset; validated: in bounds, aligned, non-overlapping. */
  tensors: TensorLayout[];
  /** Where tensor data begins and ends; bytes outside the tensors within [dataStart, dataEnd) must be zero padding. */
  dataStart: number;
  dataEnd: number;
  /** String metadata (GGUF key/values, safetensors __metadata__); arrays appear as their length only. */
  metadata: Record<string, string | number | bigint | boolean | { arrayOf: string; length: number }>;
  /** Chat templates found in metadata, by key. */
  templates: Record<string, string>;
  version?: number;
  alignment?: number;
}
