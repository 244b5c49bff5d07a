// Where a path really leads (the policy actor when it mints a capability, the tool firewall at each call): symlinks resolved through the deepest existing ancestor, the rest checked lexically.
import { lstatSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { lexicalPath } from './decide/path-lexical.js';

export type RealPath = { ok: true; path: string } | { ok: false; reason: string };

/**
 * The real path of `p`: `realpath` of its deepest existing ancestor plus the components that do not exist
 * yet. A component that exists but cannot be resolved (a dangling or looping symlink, a file used as a
 * directory) is refused: writing through it would land wherever it points. The result is checked
 * lexically again, since names on disk can hold what a request could not.
 */
export function realPath(p: string): RealPath {
  const lex = lexicalPath(p);
  if (!lex.ok) return lex;
  let cur = lex.path;
  const tail: string[] = [];
  for (;;) {
    try {
      const resolved = realpathSync.native(cur);
      const full = tail.length ? join(resolved, ...tail) : resolved;
      const again = lexicalPath(full);
      return again.ok ? { ok: true, path: again.path } : { ok: false, reason: `real path: ${again.reason}` };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') return { ok: false, reason: `cannot resolve ${cur}: ${code ?? 'error'}` };
      try {
        lstatSync(cur);
        return { ok: false, reason: `${cur} is a dangling symlink` };
      } catch {
        // lint-ok: truly absent: keep walking up
      }
      if (cur === '/') return { ok: false, reason: 'no existing ancestor' };
      tail.unshift(basename(cur));
      cur = dirname(cur);
    }
  }
}
