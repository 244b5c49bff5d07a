// The built-in tools the firewall runs once a call is allowed: fs.list, fs.read, fs.search, fs.write. Every open
// follows no link on any component (common/no-follow.ts) and refuses a file with more than one name.
import { randomBytes } from 'node:crypto';
import {
  closeSync, constants, fstatSync, fsyncSync, lstatSync, openSync, readdirSync, readSync, renameSync, rmSync, writeSync, type Stats,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fdPath, hardLinkReason, NoFollowError, openAt, openDirNoFollow, openFileNoFollow } from '../../common/no-follow.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';

/** Bounds: what one call may read or return, whatever the arguments ask (replies must fit the bus's 1 MiB max_payload). */
export const LIMITS = {
  readBytes: 512 * 1024,
  searchReplyBytes: 256 * 1024,
  listEntries: 1000,
  searchFiles: 2000,
  searchFileBytes: 1024 * 1024,
  searchResults: 1000,
  searchLineChars: 240,
  searchDepth: 16,
} as const;

export interface ToolEnv {
  /** Whether a path found under an allowed one may be read (deny prefixes inside an allowed root still win). */
  readable(path: string): boolean;
}

export type ToolResult = Record<string, unknown>;

const failed = (err: unknown): SecaiError =>
  err instanceof SecaiError ? err : new SecaiError(ErrorCode.TOOL_FAILED, err instanceof NoFollowError ? err.message : `tool failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);

/** Runs `tool` on the real paths the firewall checked (`paths[arg]`); throws SecaiError(TOOL_FAILED) when it cannot. */
export function runBuiltin(tool: string, args: Record<string, unknown>, paths: Readonly<Record<string, string>>, env: ToolEnv): ToolResult {
  const path = paths['path'];
  if (path === undefined) throw new SecaiError(ErrorCode.TOOL_FAILED, `${tool.slice(0, 64)}: no checked path`);
  try {
    switch (tool) {
      case 'fs.list': return list(path, env);
      case 'fs.read': return read(path, typeof args['max_bytes'] === 'number' ? args['max_bytes'] : LIMITS.readBytes);
      case 'fs.search': return search(path, String(args['query'] ?? ''), typeof args['max_results'] === 'number' ? args['max_results'] : 100, env);
      case 'fs.write': return write(path, String(args['content'] ?? ''));
      default: throw new SecaiError(ErrorCode.TOOL_FAILED, `${tool.slice(0, 64)} is not a built-in tool`);
    }
  } catch (err) {
    throw failed(err);
  }
}

const kindOf = (st: Stats): string => (st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : 'other');

function list(path: string, env: ToolEnv): ToolResult {
  const dir = openDirNoFollow(path);
  try {
    const names = readdirSync(fdPath(dir)).sort();
    const entries: { name: string; type: string; size?: number }[] = [];
    for (const name of names) {
      if (entries.length >= LIMITS.listEntries) break;
      if (!env.readable(join(path, name))) continue;
      let st: Stats;
      try {
        st = lstatSync(fdPath(dir, name));
      } catch {
        continue; // lint-ok: removed while listing
      }
      entries.push({ name, type: kindOf(st), ...(st.isFile() && { size: st.size }) });
    }
    return { path, entries, truncated: names.length > entries.length && entries.length >= LIMITS.listEntries };
  } finally {
    closeSync(dir);
  }
}

function readFd(fd: number, max: number): { buf: Buffer; size: number } {
  const size = fstatSync(fd).size;
  const buf = Buffer.alloc(Math.min(max, size));
  let off = 0;
  while (off < buf.length) {
    const n = readSync(fd, buf, off, buf.length - off, off);
    if (n === 0) break;
    off += n;
  }
  return { buf: buf.subarray(0, off), size };
}

function read(path: string, maxBytes: number): ToolResult {
  const fd = openFileNoFollow(path, 'read');
  try {
    const { buf, size } = readFd(fd, Math.min(maxBytes, LIMITS.readBytes));
    return { path, content: buf.toString('utf8'), bytes: buf.length, size, truncated: size > buf.length };
  } finally {
    closeSync(fd);
  }
}

interface Match { path: string; line: number; text: string }

/** Substring search over the regular files under `root`: links, hard-linked files, other mounts and denied paths are skipped. */
function search(root: string, query: string, maxResults: number, env: ToolEnv): ToolResult {
  if (!query) throw new SecaiError(ErrorCode.TOOL_FAILED, 'fs.search: empty query');
  const limit = Math.min(maxResults, LIMITS.searchResults);
  const matches: Match[] = [];
  let files = 0;
  let outBytes = 0;
  let truncated = false;
  const top = openDirNoFollow(root);
  const device = fstatSync(top).dev;
  const walk = (dirFd: number, dirPath: string, depth: number): void => {
    for (const name of readdirSync(fdPath(dirFd)).sort()) {
      if (matches.length >= limit || files >= LIMITS.searchFiles || outBytes >= LIMITS.searchReplyBytes) { truncated = true; return; }
      const full = join(dirPath, name);
      if (!env.readable(full)) continue;
      let st: Stats;
      try {
        st = lstatSync(fdPath(dirFd, name));
      } catch {
        continue; // lint-ok: removed while searching
      }
      if (st.dev !== device) continue;
      if (st.isDirectory()) {
        if (depth >= LIMITS.searchDepth) { truncated = true; continue; }
        let sub: number;
        try {
          sub = openAt(dirFd, name, 'dir');
        } catch {
          continue; // lint-ok: swapped for a link or removed: not followed
        }
        try { walk(sub, full, depth + 1); } finally { closeSync(sub); }
      } else if (st.isFile() && !hardLinkReason(name, st)) {
        files++;
        let fd: number;
        try {
          fd = openAt(dirFd, name, 'file');
        } catch {
          continue; // lint-ok: swapped for a link or removed: not followed
        }
        try {
          if (hardLinkReason(name, fstatSync(fd))) continue;
          const text = readFd(fd, LIMITS.searchFileBytes).buf.toString('utf8');
          let from = 0;
          let line = 1;
          let at: number;
          let lastLine = 0;
          while ((at = text.indexOf(query, from)) !== -1 && matches.length < limit && outBytes < LIMITS.searchReplyBytes) {
            for (let i = from; i < at; i++) if (text.charCodeAt(i) === 10) line++;
            if (line !== lastLine) {
              const start = text.lastIndexOf('\n', at) + 1;
              const end = text.indexOf('\n', at);
              const m = { path: full, line, text: text.slice(start, end === -1 ? undefined : end).slice(0, LIMITS.searchLineChars) };
              matches.push(m);
              outBytes += Buffer.byteLength(m.path) + Buffer.byteLength(m.text) + 32;
              lastLine = line;
            }
            from = at + query.length;
          }
        } finally {
          closeSync(fd);
        }
      }
    }
  };
  try {
    walk(top, root, 0);
  } finally {
    closeSync(top);
  }
  return { path: root, query, matches, files, truncated: truncated || matches.length >= limit };
}

const TMP_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Atomic write inside the folder opened without following links: a temp file made there (O_EXCL, O_NOFOLLOW), fsync,
 * then renamed over the name. An existing link, hard-linked file or non-file under that name is refused; a link put
 * there after the check is replaced by the rename, never written through.
 */
function write(path: string, content: string): ToolResult {
  const dir = openDirNoFollow(dirname(path));
  const name = basename(path);
  try {
    let created = true;
    let mode = 0o600;
    try {
      const st = lstatSync(fdPath(dir, name));
      if (st.isSymbolicLink()) throw new NoFollowError(`${name} is a symbolic link: links are never followed`, 'ELOOP');
      if (!st.isFile()) throw new NoFollowError(`${name} is not a regular file`, 'EINVAL');
      const linked = hardLinkReason(name, st);
      if (linked) throw new NoFollowError(linked, 'EMLINK');
      created = false;
      mode = st.mode & 0o777;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const tmp = `.${name.slice(0, 200)}.${randomBytes(6).toString('hex')}.tmp`;
    const data = Buffer.from(content, 'utf8');
    const fd = openSync(fdPath(dir, tmp), TMP_FLAGS, mode);
    try {
      try {
        let off = 0;
        while (off < data.length) off += writeSync(fd, data, off, data.length - off);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(fdPath(dir, tmp), fdPath(dir, name));
    } catch (err) {
      rmSync(fdPath(dir, tmp), { force: true });
      throw err;
    }
    fsyncSync(dir);
    return { path, bytes: data.length, created };
  } finally {
    closeSync(dir);
  }
}
