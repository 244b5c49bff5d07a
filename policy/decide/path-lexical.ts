// Lexical path checks shared by path_access decisions and the tool firewall: no I/O, no tricks let through.

/** Look-alikes of `/`, `\` and `.` that NFKC does not fold, and invisible or direction-changing marks. */
const CONFUSABLE = /[\u2215\u2044\u29F8\u29F5\u29F9\u2216\uFE68\uFF0F\uFF3C\u2024\uFE52\uFF0E\u3002\u00AD]|\p{Cf}|\p{Cc}|\p{Zl}|\p{Zp}/u;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export type LexicalPath = { ok: true; path: string } | { ok: false; reason: string };

export const MAX_PATH_LENGTH = 4096;

/**
 * Canonical form of an absolute path: `.` and empty segments removed. Refused: relative paths, `..`
 * segments (no escapes, even ones that would stay inside), NUL and control characters, text that is
 * not in NFC or changes under NFKC (full-width solidus, Kelvin sign, long s), and confusable separators.
 */
export function lexicalPath(p: unknown): LexicalPath {
  if (typeof p !== 'string' || p.length === 0) return { ok: false, reason: 'path must be a non-empty string' };
  if (p.length > MAX_PATH_LENGTH) return { ok: false, reason: `path longer than ${MAX_PATH_LENGTH}` };
  if (p.includes('\0')) return { ok: false, reason: 'path contains a NUL byte' };
  if (p.charCodeAt(0) !== 47) return { ok: false, reason: 'path must be absolute' };
  if (CONFUSABLE.test(p)) return { ok: false, reason: 'path contains control, invisible or confusable characters' };
  // Lone surrogates cannot be encoded as a file name without loss.
  if (LONE_SURROGATE.test(p)) return { ok: false, reason: 'path is not well-formed Unicode' };
  if (p.normalize('NFC') !== p) return { ok: false, reason: 'path is not in Unicode NFC' };
  if (p.normalize('NFKC') !== p) return { ok: false, reason: 'path changes under NFKC (compatibility look-alikes)' };
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') return { ok: false, reason: "path contains a '..' segment" };
    out.push(seg);
  }
  return { ok: true, path: '/' + out.join('/') };
}

/** Whether `path` is `root` or below it (both canonical). */
export function isWithin(path: string, root: string): boolean {
  if (root === '/') return true;
  return path === root || (path.length > root.length && path.startsWith(root) && path.charCodeAt(root.length) === 47);
}

/** Case-insensitive `isWithin`, for deny prefixes and case-insensitive file systems. */
export function isWithinFolded(path: string, root: string): boolean {
  return isWithin(path.toLowerCase(), root.toLowerCase());
}
