// Lists a folder without following links: every entry with its type, link count and depth, bounded in count and depth.
import { lstatSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

export interface WalkEntry {
  /** Path relative to the root, with '/' separators. */
  rel: string;
  abs: string;
  type: 'file' | 'dir' | 'symlink' | 'special';
  size: number;
  nlink: number;
  depth: number;
}

export interface WalkResult {
  entries: WalkEntry[];
  /** Set when a bound was hit: the listing is incomplete and must not be trusted. */
  truncated?: string;
}

export function walkFolder(root: string, maxEntries = 10_000, maxDepth = 8): WalkResult {
  const entries: WalkEntry[] = [];
  const stack: { dir: string; depth: number }[] = [{ dir: root, depth: 0 }];
  while (stack.length) {
    const { dir, depth } = stack.pop()!;
    const names = readdirSync(dir).sort();
    for (const name of names) {
      const abs = join(dir, name);
      const st = lstatSync(abs);
      const type: WalkEntry['type'] = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'special';
      entries.push({ rel: relative(root, abs).split(sep).join('/'), abs, type, size: st.size, nlink: st.nlink, depth: depth + 1 });
      if (entries.length > maxEntries) return { entries, truncated: `more than ${maxEntries} entries` };
      if (type === 'dir') {
        if (depth + 1 >= maxDepth) return { entries, truncated: `deeper than ${maxDepth} levels at ${entries.at(-1)!.rel}` };
        stack.push({ dir: abs, depth: depth + 1 });
      }
    }
  }
  entries.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return { entries };
}
