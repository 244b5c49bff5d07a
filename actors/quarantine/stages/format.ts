// Stage 2, the format gate: accepts GGUF v2/v3, safetensors and diffusers folders of safe files, judged by content; refuses everything else with a reason.
import { closeSync, fstatSync, lstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { detectFd, type Detection } from '../scan/format-detect.js';
import { walkFolder } from '../scan/folder-walk.js';
import { DEFAULT_GGUF_LIMITS, parseGgufFd, type GgufLimits } from '../scan/gguf-parser.js';
import { ParseError } from '../scan/parse-error.js';
import { DEFAULT_SAFETENSORS_LIMITS, parseSafetensorsFd, type SafetensorsLimits } from '../scan/safetensors-parser.js';
import { guarded, stageResult } from './stage-result.js';
import type { Artifact, StageResult, StageRunner } from './types.js';

export interface FormatOptions {
  gguf: GgufLimits;
  safetensors: SafetensorsLimits;
  /** Largest JSON or text file accepted inside a folder. */
  maxSideFileBytes: number;
}

export const DEFAULT_FORMAT_OPTIONS: FormatOptions = Object.freeze({
  gguf: DEFAULT_GGUF_LIMITS,
  safetensors: DEFAULT_SAFETENSORS_LIMITS,
  maxSideFileBytes: 16 * 1024 * 1024,
});

const REFUSED: Record<string, string> = {
  pickle: 'a Python pickle (executes code when loaded)',
  pytorch_zip: 'a PyTorch zip checkpoint (pickle inside)',
  pytorch_tar: 'a tar archive (legacy PyTorch checkpoint)',
  keras_hdf5: 'a Keras HDF5 model (can carry Lambda layers)',
  keras_zip: 'a Keras archive (can carry Lambda layers)',
  numpy_npy: 'a NumPy array file (object arrays are pickles)',
  numpy_npz: 'a NumPy archive (object arrays are pickles)',
  zip: 'a zip archive',
  tar: 'a tar archive',
  unknown: 'an unrecognised format',
};

interface FileVerdict {
  ok: boolean;
  kind: string;
  reason: string;
  evidence: Record<string, unknown>;
}

function judgeFile(path: string, o: FormatOptions, inFolder: boolean, rel: string): FileVerdict {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const d: Detection = detectFd(fd, size);
    const base: Record<string, unknown> = { detected: d.kind, detectedBy: d.evidence, size };
    if (d.globals) {
      base.globals = d.globals.slice(0, 100).map((g) => ({ global: `${g.module}.${g.name}`, rating: g.rating, opcode: g.opcode }));
      base.worstGlobal = d.worst;
    }
    if (d.members) base.members = d.members;
    try {
      if (d.kind === 'gguf') {
        const l = parseGgufFd(fd, size, o.gguf);
        return { ok: !inFolder, kind: d.kind, reason: inFolder ? `${rel}: GGUF inside a folder is not a diffusers component` : `GGUF v${l.version}, ${l.tensors.length} tensors`, evidence: { ...base, version: l.version, tensorCount: l.tensors.length, alignment: l.alignment } };
      }
      if (d.kind === 'safetensors') {
        const l = parseSafetensorsFd(fd, size, o.safetensors);
        return { ok: true, kind: d.kind, reason: `safetensors, ${l.tensors.length} tensors`, evidence: { ...base, tensorCount: l.tensors.length } };
      }
    } catch (e) {
      if (e instanceof ParseError) return { ok: false, kind: d.kind, reason: `${rel}: malformed ${d.kind}: ${e.message}`, evidence: { ...base, rule: e.rule } };
      throw e;
    }
    if (inFolder && (d.kind === 'json' || d.kind === 'text')) {
      if (size > o.maxSideFileBytes) return { ok: false, kind: d.kind, reason: `${rel}: ${size} bytes, over the ${o.maxSideFileBytes}-byte limit for side files`, evidence: base };
      if (d.kind === 'json' || rel.endsWith('.json')) {
        try {
          JSON.parse(readFileSync(path, 'utf8'));
        } catch {
          return { ok: false, kind: d.kind, reason: `${rel}: not valid JSON`, evidence: { ...base, rule: 'bad_json' } };
        }
      }
      return { ok: true, kind: d.kind, reason: `${rel}: ${d.kind}`, evidence: base };
    }
    // SentencePiece tokenizer models are protobuf (first field tag 0x0a); allowed by name and content in folders only.
    if (inFolder && d.kind === 'unknown' && /(^|\/)(tokenizer|spiece|sentencepiece[^/]*)\.model$/.test(rel) && size <= o.maxSideFileBytes) {
      const first = Buffer.alloc(1);
      readSync(fd, first, 0, 1, 0);
      if (first[0] === 0x0a) return { ok: true, kind: 'sentencepiece', reason: `${rel}: SentencePiece model`, evidence: { ...base, detected: 'sentencepiece' } };
    }
    const what = REFUSED[d.kind] ?? `${d.kind} content`;
    const globals = d.globals?.length ? `; it would import ${d.globals.slice(0, 5).map((g) => `${g.module}.${g.name} (${g.rating})`).join(', ')}` : '';
    return { ok: false, kind: d.kind, reason: `${inFolder ? `${rel}: ` : ''}${what} is refused${globals}`, evidence: base };
  } finally {
    closeSync(fd);
  }
}

function formatFolder(a: Artifact, o: FormatOptions, started: number): StageResult {
  const walk = walkFolder(a.path);
  if (walk.truncated) return stageResult('format', started, 'fail', `folder too large or deep: ${walk.truncated}`, { rule: 'folder_bounds', truncated: walk.truncated });
  const files: Record<string, unknown>[] = [];
  for (const e of walk.entries) {
    if (e.type === 'dir') continue;
    if (e.type !== 'file') return stageResult('format', started, 'fail', `${e.rel} is a ${e.type}, not a regular file`, { rule: 'not_regular_file', file: e.rel, type: e.type });
    const v = judgeFile(e.abs, o, true, e.rel);
    files.push({ file: e.rel, kind: v.kind, ...v.evidence });
    if (!v.ok) return stageResult('format', started, 'fail', v.reason, { file: e.rel, ...v.evidence });
  }
  if (!files.some((f) => f.kind === 'safetensors')) return stageResult('format', started, 'fail', 'the folder holds no safetensors weights', { rule: 'no_weights', files });
  return stageResult('format', started, 'pass', `diffusers-style folder of ${files.length} accepted files`, { container: 'folder', files });
}

export const formatStage: StageRunner<FormatOptions> = (artifact, options, progress) =>
  guarded('format', (started) => {
    progress(0);
    const o = options ?? DEFAULT_FORMAT_OPTIONS;
    if (artifact.kind === 'folder') return formatFolder(artifact, o, started);
    // Opening a FIFO would block and a device would read forever: only regular files are judged.
    const st = lstatSync(artifact.path);
    if (!st.isFile()) return stageResult('format', started, 'fail', `${artifact.name} is not a regular file`, { rule: 'not_regular_file' });
    const v = judgeFile(artifact.path, o, false, artifact.name);
    progress(100);
    return stageResult('format', started, v.ok ? 'pass' : 'fail', v.reason, { container: v.kind, ...v.evidence });
  });
