// Stage 7, the diffusion scan: a diffusers folder holds only known components, plain files with allowed suffixes, and no remote code.
import { readFileSync } from 'node:fs';
import { walkFolder } from '../scan/folder-walk.js';
import { guarded, stageResult } from './stage-result.js';
import type { StageRunner } from './types.js';

export interface DiffusionOptions {
  /** Libraries a component may come from (model_index.json: "name": [library, class]). */
  allowedLibraries: readonly string[];
  /** File suffixes (or exact file names) allowed in the folder. */
  allowedSuffixes: readonly string[];
  maxFiles: number;
  maxDepth: number;
}

export const DEFAULT_DIFFUSION_OPTIONS: DiffusionOptions = Object.freeze({
  allowedLibraries: Object.freeze(['diffusers', 'transformers']),
  allowedSuffixes: Object.freeze(['.safetensors', '.json', '.txt', '.model', '.md', 'merges.txt', 'vocab.json', '.gitattributes']),
  maxFiles: 2000,
  maxDepth: 4,
});

/** Keys that make a loader fetch or run code from somewhere else. */
const REMOTE_CODE_KEYS = /^(auto_map|trust_remote_code|_custom_pipeline|custom_pipeline|custom_pipeline_path|_custom_pipeline_path|custom_revision|_module_path|module_path|code_revision)$/;
const URL = /\b(?:https?|ftp|file|s3|gs|hf):\/\/[^\s'"]+/i;

interface Problem { rule: string; where: string; detail: string }

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
    return stageResult('diffusion', started, 'pass', `${Object.keys(components).length} components from allowed libraries, ${walk.entries.length} plain entries`, { components, entries: walk.entries.length });
  });
