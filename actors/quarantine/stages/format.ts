// Stage 2, the format gate: accepts GGUF v2/v3, safetensors, ONNX and diffusers folders of safe files, judged by content; refuses everything else with a reason.
import { closeSync, fstatSync, lstatSync, openSync, readFileSync, readSync, realpathSync } from 'node:fs';
import { detectFd, type Detection } from '../scan/format-detect.js';
import { walkFolder } from '../scan/folder-walk.js';
import { DEFAULT_GGUF_LIMITS, parseGgufFd, type GgufLimits } from '../scan/gguf-parser.js';
import { checkExternalData } from '../scan/onnx-external.js';
import { DEFAULT_ONNX_OPSETS, onnxOperatorProblems, type OnnxOpsetPolicy, type OnnxProblem } from '../scan/onnx-ops.js';
import { DEFAULT_ONNX_LIMITS, parseOnnxFd, type OnnxLimits } from '../scan/onnx-parser.js';
import { ParseError } from '../scan/parse-error.js';
import { DEFAULT_SAFETENSORS_LIMITS, parseSafetensorsFd, type SafetensorsLimits } from '../scan/safetensors-parser.js';
import { guarded, stageResult } from './stage-result.js';
import type { Artifact, StageResult, StageRunner } from './types.js';

/** ONNX: the parser's bounds and policy's operator sets and external data (quarantine.onnx). */
export interface OnnxFormatOptions {
  limits: OnnxLimits;
  opsets: OnnxOpsetPolicy;
  allowExternalData: boolean;
}

export const DEFAULT_ONNX_FORMAT_OPTIONS: OnnxFormatOptions = Object.freeze({
  limits: DEFAULT_ONNX_LIMITS,
  opsets: DEFAULT_ONNX_OPSETS,
  allowExternalData: true,
});

export interface FormatOptions {
  gguf: GgufLimits;
  safetensors: SafetensorsLimits;
  onnx: OnnxFormatOptions;
  /** Largest JSON or text file accepted inside a folder. */
  maxSideFileBytes: number;
}

export const DEFAULT_FORMAT_OPTIONS: FormatOptions = Object.freeze({
  gguf: DEFAULT_GGUF_LIMITS,
  safetensors: DEFAULT_SAFETENSORS_LIMITS,
  onnx: DEFAULT_ONNX_FORMAT_OPTIONS,
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
  /** For an ONNX model: the real paths of the external data files it references. */
  references?: string[];
  /** For a pickle: how many globals a load would import. */
  globals?: number;
}

/** An ONNX model refused by policy or by its external data: the first problem is the reason, the first twenty the evidence. */
function onnxRefusal(problems: OnnxProblem[], base: Record<string, unknown>, prefix: string): FileVerdict {
  const p = problems[0]!;
  return {
    ok: false, kind: 'onnx', reason: `${prefix}${p.where}: ${p.detail}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`,
    evidence: { ...base, rule: p.rule, problems: problems.slice(0, 20) },
  };
}

function judgeOnnx(fd: number, size: number, path: string, o: FormatOptions, inFolder: boolean, rel: string, base: Record<string, unknown>): FileVerdict {
  const m = parseOnnxFd(fd, size, o.onnx.limits);
  const external = m.tensors.filter((t) => t.data.kind === 'external').length;
  const ev = {
    ...base, irVersion: m.irVersion, opsets: m.opsets.slice(0, 16), producer: m.producerName.slice(0, 128), nodeCount: m.nodes.length,
    tensorCount: m.tensors.length, functionCount: m.functions.length, graphDepth: m.graphDepth, externalTensors: external,
  };
  const prefix = inFolder ? `${rel}: ` : '';
  const ops = onnxOperatorProblems(m, o.onnx.opsets);
  if (ops.length) return onnxRefusal(ops, ev, prefix);
  // A lone file is copied into quarantine alone: a neighbour it names would be some other upload.
  if (external && !inFolder && o.onnx.allowExternalData) {
    return onnxRefusal([{ rule: 'external_data_single_file', where: 'model', detail: `${external} tensor(s) name external data, which a single-file import cannot carry (import the folder)` }], ev, prefix);
  }
  const x = checkExternalData(path, m, o.onnx.allowExternalData);
  if (x.problems.length) return onnxRefusal(x.problems, ev, prefix);
  const files = x.files.map((f) => ({ location: f.location, size: f.size, tensors: f.spans.length }));
  return {
    ok: true, kind: 'onnx', reason: `${prefix}ONNX IR ${m.irVersion}, ${m.nodes.length} nodes, ${m.tensors.length} tensors${external ? ` (${external} in ${files.length} external file(s))` : ''}`,
    evidence: { ...ev, externalFiles: files }, references: x.files.map((f) => f.abs),
  };
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
    const globals = d.globals ? { globals: d.globals.length } : {};
    try {
      if (d.kind === 'onnx') return judgeOnnx(fd, size, path, o, inFolder, rel, base);
      if (d.kind === 'gguf') {
        const l = parseGgufFd(fd, size, o.gguf);
        return { ok: !inFolder, kind: d.kind, reason: inFolder ? `${rel}: GGUF inside a folder is not a diffusers component` : `GGUF v${l.version}, ${l.tensors.length} tensors`, evidence: { ...base, version: l.version, tensorCount: l.tensors.length, alignment: l.alignment } };
      }
      if (d.kind === 'safetensors') {
        const l = parseSafetensorsFd(fd, size, o.safetensors);
        return { ok: true, kind: d.kind, reason: `safetensors, ${l.tensors.length} tensors`, evidence: { ...base, tensorCount: l.tensors.length } };
      }
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      // An external-data path is well-formed protobuf but a refused reference: not "malformed".
      const what = e.rule.startsWith('external_data_') ? 'refused' : 'malformed';
      return { ok: false, kind: d.kind, reason: `${rel}: ${what} ${d.kind}: ${e.message}`, evidence: { ...base, rule: e.rule }, ...globals };
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
    const imports = d.globals?.length ? `; it would import ${d.globals.slice(0, 5).map((g) => `${g.module}.${g.name} (${g.rating})`).join(', ')}` : '';
    return { ok: false, kind: d.kind, reason: `${inFolder ? `${rel}: ` : ''}${what} is refused${imports}`, evidence: base, ...globals };
  } finally {
    closeSync(fd);
  }
}

/** What an ONNX external data file may look like by content: raw numbers sometimes start like text, JSON or a pickle opcode. */
const DATA_LOOKALIKES = new Set(['unknown', 'text', 'json', 'pickle']);

/**
 * A file an ONNX model names as external data holds raw tensor bytes: accepted as data unless its content is a model or a
 * container (a pickle counts only when a load would import something).
 */
function judgeData(v: FileVerdict, rel: string, users: string[]): FileVerdict {
  const base = { ...v.evidence, referencedBy: users };
  if (users.length > 1) return { ok: false, kind: v.kind, reason: `${rel}: external data of ${users.length} models (${users.join(', ')})`, evidence: { ...base, rule: 'external_data_shared' } };
  if (!DATA_LOOKALIKES.has(v.kind) || (v.globals ?? 0) > 0) {
    return { ok: false, kind: v.kind, reason: `${rel}: named as external data by ${users[0]}, but it is ${v.kind === 'onnx' ? 'an ONNX model' : `${v.kind} content`}`, evidence: { ...base, rule: 'external_data_container' } };
  }
  return { ok: true, kind: 'onnx_external_data', reason: `${rel}: external data of ${users[0]}`, evidence: { ...base, detected: 'onnx_external_data', detectedAs: v.kind } };
}

function formatFolder(a: Artifact, o: FormatOptions, started: number): StageResult {
  const walk = walkFolder(a.path);
  if (walk.truncated) return stageResult('format', started, 'fail', `folder too large or deep: ${walk.truncated}`, { rule: 'folder_bounds', truncated: walk.truncated });
  const judged: { rel: string; real: string; v: FileVerdict }[] = [];
  for (const e of walk.entries) {
    if (e.type === 'dir') continue;
    // A link or special file is refused in path order, so a model that names it as external data says so first.
    if (e.type !== 'file') judged.push({ rel: e.rel, real: '', v: { ok: false, kind: e.type, reason: `${e.rel} is a ${e.type}, not a regular file`, evidence: { rule: 'not_regular_file', type: e.type } } });
    else judged.push({ rel: e.rel, real: realpathSync(e.abs), v: judgeFile(e.abs, o, true, e.rel) });
  }
  // External data is judged once every model has said which files it names (a data file may sort before its model).
  const users = new Map<string, string[]>();
  for (const j of judged) for (const r of j.v.references ?? []) users.set(r, [...(users.get(r) ?? []), j.rel]);
  const files: Record<string, unknown>[] = [];
  for (const j of judged) {
    const by = j.real ? users.get(j.real) : undefined;
    const v = by ? judgeData(j.v, j.rel, by) : j.v;
    files.push({ file: j.rel, kind: v.kind, ...v.evidence });
    if (!v.ok) return stageResult('format', started, 'fail', v.reason, { file: j.rel, ...v.evidence });
  }
  if (!files.some((f) => f.kind === 'safetensors' || f.kind === 'onnx')) return stageResult('format', started, 'fail', 'the folder holds no safetensors or ONNX weights', { rule: 'no_weights', files });
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
