// Mount points from /proc/self/mountinfo, to refuse paths that cross into another file system than their root's.
import { readFileSync } from 'node:fs';
import { isWithin } from '../../policy/decide/path-lexical.js';

/** mountinfo escapes space, tab, newline and backslash as octal (\040). */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function readMountPoints(file = '/proc/self/mountinfo'): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => unescape(l.split(' ')[4] ?? '/'));
  } catch {
    return ['/'];
  }
}

/** The mount point holding `path` (the longest one that contains it). */
export function mountOf(path: string, mounts: readonly string[]): string {
  let best = '/';
  for (const m of mounts) if (m.length > best.length && isWithin(path, m)) best = m;
  return best;
}
