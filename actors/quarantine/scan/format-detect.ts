// Identifies a file by its content, never its name: the accepted containers, and every known dangerous one with evidence.
import { closeSync, fstatSync, openSync } from 'node:fs';
import { readAt } from './file-reader.js';
import { GGUF_MAGIC } from './gguf-parser.js';
import { looksLikeOnnx } from './onnx-parser.js';
import { scanPickle, worstRating, type PickleGlobal } from './pickle-scan.js';
import { looksLikeSafetensors } from './safetensors-parser.js';
import { listZip, readZipEntry } from './zip-listing.js';

export type DetectedKind =
  | 'gguf' | 'safetensors' | 'onnx' | 'json' | 'text' | 'pickle' | 'pytorch_zip' | 'pytorch_tar' | 'keras_hdf5' | 'keras_zip'
  | 'numpy_npy' | 'numpy_npz' | 'zip' | 'tar' | 'unknown';

export interface Detection {
  kind: DetectedKind;
  /** What gave it away (magic bytes, an archive member, a parse). */
  evidence: string;
  /** Imported globals, for pickles and archives holding pickles. */
  globals?: PickleGlobal[];
  worst?: string;
  members?: string[];
}

const HDF5 = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
const NPY = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

export function detectFile(path: string): Detection {
  const fd = openSync(path, 'r');
  try {
    return detectFd(fd, fstatSync(fd).size);
  } finally {
    closeSync(fd);
  }
}

export function detectFd(fd: number, size: number): Detection {
  const head = readAt(fd, 0, Math.min(size, 4096));
  if (head.length >= 4 && head.readUInt32LE(0) === GGUF_MAGIC) return { kind: 'gguf', evidence: 'magic GGUF' };
  if (head.length >= 4 && head.readUInt32BE(0) === GGUF_MAGIC) return { kind: 'unknown', evidence: 'big-endian GGUF magic (not supported)' };
  if (looksLikeSafetensors(head, size)) return { kind: 'safetensors', evidence: '8-byte header length then a JSON object' };
  if (looksLikeOnnx(fd, size, head)) return { kind: 'onnx', evidence: 'protobuf ModelProto: ir_version, then the graph field' };
  if (head.subarray(0, 8).equals(HDF5)) return { kind: 'keras_hdf5', evidence: 'HDF5 signature (Keras .h5)' };
  if (head.subarray(0, 6).equals(NPY)) return { kind: 'numpy_npy', evidence: 'NumPy .npy magic' };
  if (head.length >= 4 && head.readUInt32LE(0) === 0x04034b50) return detectZip(fd, size);
  if (head.length >= 262 && head.toString('latin1', 257, 262) === 'ustar') {
    return { kind: 'pytorch_tar', evidence: 'tar archive (legacy PyTorch tar checkpoints are pickles)' };
  }
  if (head.length > 0 && (head[0] === 0x80 || '(c]}N'.includes(String.fromCharCode(head[0]!)))) {
    const buf = readAt(fd, 0, Math.min(size, 64 * 1024 * 1024));
    const scan = scanPickle(buf);
    if ((scan.complete && (head[0] === 0x80 || scan.length === size)) || (head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5)) {
      return {
        kind: 'pickle',
        evidence: `pickle protocol ${scan.protocol}${scan.complete ? '' : ` (stream unreadable: ${scan.error})`}; a load would import ${scan.globals.length} global(s) and call ${scan.reduceCount} callable(s)`,
        globals: scan.globals,
        worst: worstRating(scan.globals),
      };
    }
  }
  const trimmed = head.toString('utf8').trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) return { kind: 'json', evidence: 'starts like JSON' };
  if (head.length > 0 && !head.includes(0)) return { kind: 'text', evidence: 'no NUL bytes in the first 4 KiB' };
  return { kind: 'unknown', evidence: `unrecognised content (first bytes ${head.subarray(0, 8).toString('hex')})` };
}

function detectZip(fd: number, size: number): Detection {
  const entries = listZip(fd, size);
  if (!entries) return { kind: 'zip', evidence: 'zip local header without a readable central directory' };
  const names = entries.map((e) => e.name);
  const pkls = entries.filter((e) => e.name.endsWith('.pkl'));
  const globals: PickleGlobal[] = [];
  for (const e of pkls.slice(0, 16)) {
    const data = readZipEntry(fd, size, e);
    if (data) globals.push(...scanPickle(data).globals);
  }
  const members = names.slice(0, 50);
  if (pkls.length > 0) {
    return {
      kind: 'pytorch_zip', evidence: `zip archive with pickle member(s): ${pkls.map((e) => e.name).slice(0, 5).join(', ')}`, globals, worst: worstRating(globals), members,
    };
  }
  if (names.some((n) => /(^|\/)(keras_metadata\.pb|model\.weights\.h5|metadata\.json)$/.test(n) || n === 'config.json' && names.some((m) => m.endsWith('.h5')))) {
    return { kind: 'keras_zip', evidence: 'Keras v3 archive', members };
  }
  if (names.length > 0 && names.every((n) => n.endsWith('.npy'))) return { kind: 'numpy_npz', evidence: 'NumPy .npz archive', members };
  return { kind: 'zip', evidence: `zip archive of ${names.length} member(s)`, members };
}
