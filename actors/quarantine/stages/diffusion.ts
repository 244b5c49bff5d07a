// Stage 7, the diffusion scan: a diffusers folder holds only known components, plain files with allowed suffixes, no executables and no remote code.
import { closeSync, openSync, readFileSync } from 'node:fs';
import { readAt } from '../scan/file-reader.js';
import { walkFolder, type WalkEntry } from '../scan/folder-walk.js';
import { DEFAULT_ONNX_LIMITS, parseOnnxFile, type OnnxLimits } from '../scan/onnx-parser.js';
import { ParseError } from '../scan/parse-error.js';
import { guarded, stageResult } from './stage-result.js';
import type { StageRunner } from './types.js';

export interface DiffusionOptions {
  /** Libraries a component may come from (model_index.json: "name": [library, class]). */
  allowedLibraries: readonly string[];
  /** File suffixes (or exact file names) allowed in the folder. */
  allowedSuffixes: readonly string[];
  maxFiles: number;
  maxDepth: number;
  /** Bounds for parsing each ONNX component's model.onnx (the operator policy is stage 2's). */
  onnxLimits: OnnxLimits;
}

export const DEFAULT_DIFFUSION_OPTIONS: DiffusionOptions = Object.freeze({
  allowedLibraries: Object.freeze(['diffusers', 'transformers']),
  // .onnx_data / .onnx.data: ONNX external data (Optimum writes the first, torch.onnx's dynamo exporter the second). Not .pb:
  // a TensorFlow graph is no diffusers component.
  allowedSuffixes: Object.freeze(['.safetensors', '.onnx', '.onnx_data', '.onnx.data', '.json', '.txt', '.model', '.md', 'merges.txt', 'vocab.json', '.gitattributes']),
  maxFiles: 2000,
  maxDepth: 4,
  onnxLimits: DEFAULT_ONNX_LIMITS,
});

/** Components that are networks: in an ONNX pipeline each is a folder with a model.onnx. */
const ONNX_MODEL_COMPONENTS = new Set([
  'text_encoder', 'text_encoder_2', 'text_encoder_3', 'unet', 'transformer', 'vae', 'vae_decoder', 'vae_encoder', 'safety_checker', 'image_encoder', 'prior', 'decoder',
]);

/** Suffixes of code a loader or a user could run: named as such in the evidence, whatever the allowed list says. */
const CODE_SUFFIX = /\.(?:py|pyc|pyo|pyd|so|dll|dylib|exe|sh|bash|zsh|bat|cmd|ps1|js|mjs|cjs|jar|wasm)$/i;

/** What an executable starts with (ELF, Mach-O and fat binaries, PE, WebAssembly, a #! script). */
function executableMagic(b: Uint8Array, abs: string): string | null {
  if (b.length >= 2 && b[0] === 0x23 && b[1] === 0x21) return 'a #! script';
  if (b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46) return 'an ELF executable or shared library';
  if (b.length >= 4) {
    const be = Buffer.from(b.buffer, b.byteOffset, 4).readUInt32BE(0);
    if ([0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe, 0xbebafeca].includes(be)) return 'a Mach-O binary';
    if (be === 0x0061736d) return 'a WebAssembly module';
  }
  if (b.length >= 64 && b[0] === 0x4d && b[1] === 0x5a) {
    // MZ alone is two letters of text: a PE file also has "PE\0\0" where e_lfanew points.
    const at = Buffer.from(b.buffer, b.byteOffset, b.length).readUInt32LE(0x3c);
    const fd = openSync(abs, 'r');
    try {
      if (readAt(fd, at, 4).equals(Buffer.from('PE\0\0', 'latin1'))) return 'a Windows PE executable';
    } finally {
      closeSync(fd);
    }
  }
  return null;
}

function headOf(abs: string): Uint8Array {
  const fd = openSync(abs, 'r');
  try {
    return readAt(fd, 0, 64);
  } finally {
    closeSync(fd);
  }
}

/** Keys that make a loader fetch or run code from somewhere else. */
const REMOTE_CODE_KEYS = /^(auto_map|trust_remote_code|_custom_pipeline|custom_pipeline|custom_pipeline_path|_custom_pipeline_path|custom_revision|_module_path|module_path|code_revision)$/;
const URL = /\b(?:https?|ftp|file|s3|gs|hf):\/\/[^\s'"]+/i;

interface Problem { rule: string; where: string; detail: string }

/**
 * An ONNX pipeline (Optimum's layout): every component model_index.json lists has its folder; each network component has a
 * model.onnx that parses; no ONNX model lies outside a listed component.
 */
function onnxLayoutProblems(entries: readonly WalkEntry[], components: Record<string, unknown>, limits: OnnxLimits): Problem[] {
  const out: Problem[] = [];
  const byRel = new Map(entries.map((e) => [e.rel, e]));
  const listed = Object.entries(components).filter(([, v]) => Array.isArray(v) && v[0] !== null).map(([k]) => k);
  for (const name of listed) {
    const dir = byRel.get(name);
    if (!dir || dir.type !== 'dir') { out.push({ rule: 'missing_component', where: `model_index.json $.${name}`, detail: `no folder ${name}/ for a listed component` }); continue; }
    const holdsOnnx = entries.some((e) => e.rel.startsWith(`${name}/`) && e.rel.endsWith('.onnx'));
    if (!ONNX_MODEL_COMPONENTS.has(name) && !holdsOnnx) continue;
    const model = byRel.get(`${name}/model.onnx`);
    if (!model || model.type !== 'file') { out.push({ rule: 'missing_model', where: `${name}/model.onnx`, detail: 'the component has no model.onnx' }); continue; }
    try {
      parseOnnxFile(model.abs, limits);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      out.push({ rule: 'bad_model', where: `${name}/model.onnx`, detail: `does not parse as ONNX (${e.rule}): ${e.message}` });
    }
  }
  for (const e of entries) {
    if (e.type !== 'file' || !e.rel.endsWith('.onnx')) continue;
    const top = e.rel.includes('/') ? e.rel.slice(0, e.rel.indexOf('/')) : null;
    if (top === null || !listed.includes(top)) out.push({ rule: 'unlisted_model', where: e.rel, detail: 'an ONNX model outside every component model_index.json lists' });
  }
  return out;
}

/** Every key and string anywhere in a JSON value, with its path (bounded). */
function* jsonWalk(v: unknown, path: string, depth = 0): Generator<{ path: string; key: string | null; value: unknown }> {
  if (depth > 64) return;
  if (Array.isArray(v)) { for (const [i, x] of v.entries()) yield* jsonWalk(x, `${path}[${i}]`, depth + 1); return; }
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) { yield { path: `${path}.${k}`, key: k, value: x }; yield* jsonWalk(x, `${path}.${k}`, depth + 1); }
    return;
  }
  yield { path, key: null, value: v };
}

function jsonProblems(rel: string, json: unknown): Problem[] {
  const out: Problem[] = [];
  for (const n of jsonWalk(json, '$')) {
    if (n.key !== null && REMOTE_CODE_KEYS.test(n.key)) out.push({ rule: 'remote_code', where: `${rel} ${n.path}`, detail: `field ${n.key}` });
    if (typeof n.value === 'string') {
      const u = n.value.match(URL);
      if (u) out.push({ rule: 'url', where: `${rel} ${n.path}`, detail: u[0].slice(0, 120) });
    }
  }
  return out;
}

export const diffusionStage: StageRunner<DiffusionOptions> = (artifact, options, progress) =>
  guarded('diffusion', (started) => {
    const o = { ...DEFAULT_DIFFUSION_OPTIONS, ...options };
    if (artifact.kind !== 'folder') return stageResult('diffusion', started, 'pass', 'not a diffusers folder: nothing to check', { applicable: false });
    progress(0);
    const walk = walkFolder(artifact.path, o.maxFiles, o.maxDepth);
    if (walk.truncated) return stageResult('diffusion', started, 'fail', `folder exceeds its bounds: ${walk.truncated}`, { rule: 'folder_bounds', detail: walk.truncated });
    const problems: Problem[] = [];
    for (const e of walk.entries) {
      if (e.rel.split('/').some((s) => s === '..' || s === '' || s.startsWith('.') && s !== '.gitattributes')) problems.push({ rule: 'bad_path', where: e.rel, detail: 'hidden or escaping path segment' });
      if (e.type === 'symlink') problems.push({ rule: 'symlink', where: e.rel, detail: 'symbolic link' });
      else if (e.type === 'special') problems.push({ rule: 'special_file', where: e.rel, detail: 'device, FIFO or socket' });
      else if (e.type === 'file') {
        if (e.nlink > 1) problems.push({ rule: 'hard_link', where: e.rel, detail: `${e.nlink} links to the same inode` });
        const base = e.rel.split('/').pop()!;
        const magic = executableMagic(headOf(e.abs), e.abs);
        if (magic) problems.push({ rule: 'executable', where: e.rel, detail: `content is ${magic}` });
        else if (CODE_SUFFIX.test(base)) problems.push({ rule: 'executable', where: e.rel, detail: 'code by its suffix' });
        if (!o.allowedSuffixes.some((s) => base === s || base.endsWith(s))) problems.push({ rule: 'suffix', where: e.rel, detail: `suffix not allowed (${o.allowedSuffixes.join(' ')})` });
      }
    }
    const index = walk.entries.find((e) => e.rel === 'model_index.json' && e.type === 'file');
    const components: Record<string, unknown> = {};
    if (!index) problems.push({ rule: 'no_model_index', where: 'model_index.json', detail: 'missing' });
    else {
      let mi: unknown;
      try { mi = JSON.parse(readFileSync(index.abs, 'utf8')); } catch { mi = undefined; }
      if (!mi || typeof mi !== 'object' || Array.isArray(mi)) problems.push({ rule: 'bad_model_index', where: 'model_index.json', detail: 'not a JSON object' });
      else {
        for (const [k, v] of Object.entries(mi as Record<string, unknown>)) {
          if (k.startsWith('_')) continue;
          if (!Array.isArray(v)) continue; // scalar options such as requires_safety_checker
          if (v.length !== 2 || (v[0] !== null && typeof v[0] !== 'string') || (v[1] !== null && typeof v[1] !== 'string')) {
            problems.push({ rule: 'bad_component', where: `model_index.json $.${k}`, detail: 'component must be [library, class]' });
            continue;
          }
          components[k] = v;
          if (v[0] !== null && !o.allowedLibraries.includes(v[0])) problems.push({ rule: 'unknown_library', where: `model_index.json $.${k}`, detail: `library ${String(v[0])}` });
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) problems.push({ rule: 'bad_component', where: `model_index.json $.${k}`, detail: 'component name is not a plain identifier' });
        }
      }
    }
    let classIsOnnx = false;
    if (index) {
      try { classIsOnnx = /^(?:ORT|Onnx)/.test(String((JSON.parse(readFileSync(index.abs, 'utf8')) as { _class_name?: unknown })._class_name ?? '')); } catch { classIsOnnx = false; }
    }
    const onnx = classIsOnnx || walk.entries.some((e) => e.type === 'file' && e.rel.endsWith('.onnx'));
    if (onnx && index) problems.push(...onnxLayoutProblems(walk.entries, components, o.onnxLimits));
    for (const e of walk.entries) {
      if (e.type !== 'file' || !e.rel.endsWith('.json') || e.size > 16 * 1024 * 1024) continue;
      let j: unknown;
      try { j = JSON.parse(readFileSync(e.abs, 'utf8')); } catch { problems.push({ rule: 'bad_json', where: e.rel, detail: 'not valid JSON' }); continue; }
      problems.push(...jsonProblems(e.rel, j));
    }
    progress(100);
    if (problems.length) {
      const p = problems[0]!;
      return stageResult('diffusion', started, 'fail', `${p.rule.replace(/_/g, ' ')} at ${p.where}: ${p.detail}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`, { problems: problems.slice(0, 100), components });
    }
    return stageResult('diffusion', started, 'pass', `${Object.keys(components).length} components from allowed libraries, ${walk.entries.length} plain entries${onnx ? ', ONNX layout' : ''}`, { components, entries: walk.entries.length, layout: onnx ? 'onnx' : 'diffusers' });
  });
