// Resolves an ONNX model's external-data references on disk: plain regular files inside the model's own folder, in bounds, not shared.
import { lstatSync, realpathSync, type Stats } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { ParseError } from './parse-error.js';
import { checkExternalLocation, type OnnxModelInfo, type OnnxTensorInfo } from './onnx-parser.js';
import type { OnnxProblem } from './onnx-ops.js';

/** One tensor's bytes in an external file. */
export interface ExternalSpan { tensor: OnnxTensorInfo; offset: number; length: number }

/** One external data file and the tensors it holds, sorted by offset. */
export interface ExternalFile {
  /** The real path of the file. */
  abs: string;
  /** Its path relative to the model's folder, as the model spells it. */
  location: string;
  size: number;
  spans: ExternalSpan[];
}

export interface ExternalCheck { problems: OnnxProblem[]; files: ExternalFile[] }

const statOf = (p: string): Stats | null => {
  try {
    return lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw e;
  }
};

/**
 * Checks every external reference of `m` (parsed from `modelPath`): each location names a regular file with one link, reached
 * without a symbolic link, whose real path lies inside the model's folder; each tensor's span lies inside its file; spans do not
 * overlap; the model is not its own data. `allow: false` refuses any external data.
 */
export function checkExternalData(modelPath: string, m: OnnxModelInfo, allow: boolean): ExternalCheck {
  const problems: OnnxProblem[] = [];
  const byLocation = new Map<string, ExternalFile | null>();
  const dir = dirname(modelPath);
  const realDir = realpathSync(dir);
  const realModel = realpathSync(modelPath);
  for (const t of m.tensors) {
    if (t.data.kind !== 'external') continue;
    const where = `tensor ${JSON.stringify(t.name.slice(0, 200))}`;
    const loc = t.data.location;
    const say = (rule: string, detail: string) => problems.push({ rule, where, detail: `external data ${JSON.stringify(loc.slice(0, 200))}: ${detail}` });
    if (!allow) { say('external_data_forbidden', 'policy forbids external data (quarantine.onnx.allow_external_data)'); continue; }
    try {
      checkExternalLocation(loc, where);
    } catch (e) {
      if (e instanceof ParseError) { problems.push({ rule: e.rule, where, detail: e.message }); continue; }
      throw e;
    }
    let file = byLocation.get(loc);
    if (file === undefined) {
      file = resolveFile(dir, realDir, realModel, loc, say);
      byLocation.set(loc, file);
    }
    if (!file) continue;
    const { offset, length } = t.data;
    if (offset + length > file.size) { say('external_data_bounds', `offset ${offset} + length ${length} runs past the end of the ${file.size}-byte file`); continue; }
    file.spans.push({ tensor: t, offset, length });
  }
  const files = [...byLocation.values()].filter((f): f is ExternalFile => f !== null);
  // Two locations spelled differently (a/b, a//b are refused; case differs on some file systems) must not be one file.
  const seen = new Map<string, string>();
  for (const f of files) {
    const other = seen.get(f.abs);
    if (other !== undefined) problems.push({ rule: 'external_data_shared', where: f.location, detail: `names the same file as ${other}` });
    seen.set(f.abs, f.location);
    f.spans.sort((a, b) => a.offset - b.offset || a.length - b.length);
    for (let i = 1; i < f.spans.length; i++) {
      const a = f.spans[i - 1]!, b = f.spans[i]!;
      if (b.offset < a.offset + a.length) {
        problems.push({ rule: 'external_data_overlap', where: `tensor ${JSON.stringify(b.tensor.name.slice(0, 200))}`, detail: `its bytes in ${f.location} overlap those of ${JSON.stringify(a.tensor.name.slice(0, 200))}` });
      }
    }
  }
  return { problems, files };
}

function resolveFile(dir: string, realDir: string, realModel: string, loc: string, say: (rule: string, detail: string) => void): ExternalFile | null {
  // Each component is lstat'ed: a symbolic link anywhere on the way is refused, whether or not it points inside.
  const parts = loc.split('/');
  let p = dir;
  let st: Stats | null = null;
  for (const [i, part] of parts.entries()) {
    p = join(p, part);
    st = statOf(p);
    if (!st) { say('external_data_missing', `${parts.slice(0, i + 1).join('/')} does not exist`); return null; }
    if (st.isSymbolicLink()) { say('external_data_symlink', `${parts.slice(0, i + 1).join('/')} is a symbolic link`); return null; }
    if (i < parts.length - 1 && !st.isDirectory()) { say('external_data_missing', `${parts.slice(0, i + 1).join('/')} is not a folder`); return null; }
  }
  if (!st!.isFile()) { say('external_data_not_file', 'not a regular file'); return null; }
  if (st!.nlink > 1) { say('external_data_hard_link', `${st!.nlink} links to the same inode: its bytes could change through another name`); return null; }
  const real = realpathSync(p);
  const rel = relative(realDir, real);
  if (rel === '' || rel.startsWith('..') || rel.startsWith(sep) || rel.split(sep).includes('..')) { say('external_data_escapes', `resolves to ${real}, outside the model's folder`); return null; }
  if (real === realModel) { say('external_data_self', 'names the model file itself'); return null; }
  return { abs: real, location: loc, size: st!.size, spans: [] };
}
