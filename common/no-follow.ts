// Opening a path without following a symbolic link in any of its components. Node has no openat2() with
// RESOLVE_NO_SYMLINKS, so the walk opens each folder itself (O_DIRECTORY | O_NOFOLLOW) and reaches the next
// name through /proc/self/fd/<fd>/<name>: the kernel resolves that against the folder already open, not
// against the path as it reads now. A folder on the path swapped for a link after a policy check fails
// with ELOOP instead of being followed.
import { closeSync, constants, fstatSync, ftruncateSync, lstatSync, openSync } from 'node:fs';

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
// O_NONBLOCK: opening a FIFO put in a file's place must not hang; fstat then refuses it.
const FILE_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export class NoFollowError extends Error {
  constructor(message: string, readonly errno: string) {
    super(message);
    this.name = 'NoFollowError';
  }
}

/** The path through which `name` inside the open folder `dirFd` is reached (the folder, with no name). */
export const fdPath = (dirFd: number, name?: string): string => (name === undefined ? `/proc/self/fd/${dirFd}/.` : `/proc/self/fd/${dirFd}/${name}`);

function checkName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new NoFollowError(`'${name.slice(0, 255)}' is not a plain name`, 'EINVAL');
  }
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

function why(code: string | undefined, name: string, kind: 'file' | 'dir' | 'any'): string {
  if (code === 'ELOOP') return `${name} is a symbolic link: links are never followed`;
  if (code === 'ENOTDIR') return `${name} is not a folder`;
  if (code === 'EISDIR') return `${name} is a folder, not a file`;
  if (code === 'ENOENT') return `${name} does not exist`;
  return `${name} cannot be opened as a ${kind === 'dir' ? 'folder' : 'file'}: ${code ?? 'error'}`;
}

/**
 * Opens `name` inside the open folder `dirFd` without following a link: 'dir' must be a folder, 'file' a
 * regular file (checked with fstat on the descriptor, so what is checked is what is read); 'any' either.
 * Throws NoFollowError; the caller owns the returned descriptor.
 */
export function openAt(dirFd: number, name: string, kind: 'file' | 'dir' | 'any'): number {
  checkName(name);
  let fd: number;
  try {
    fd = openSync(fdPath(dirFd, name), kind === 'dir' ? DIR_FLAGS : FILE_FLAGS);
  } catch (err) {
    let code = (err as NodeJS.ErrnoException).code;
    // With O_DIRECTORY the kernel answers ENOTDIR for a link before O_NOFOLLOW's ELOOP: say which it was.
    if (code === 'ENOTDIR' && isLink(fdPath(dirFd, name))) code = 'ELOOP';
    throw new NoFollowError(why(code, name, kind), code ?? 'EIO');
  }
  const st = fstatSync(fd);
  const ok = kind === 'dir' ? st.isDirectory() : kind === 'file' ? st.isFile() : st.isFile() || st.isDirectory();
  if (!ok) {
    closeSync(fd);
    throw new NoFollowError(`${name} is not a ${kind === 'dir' ? 'folder' : kind === 'file' ? 'regular file' : 'regular file or folder'}`, 'EINVAL');
  }
  return fd;
}

/** The components of an absolute path that must already be canonical (no '.', '..', empty names or NUL). */
export function components(path: string): string[] {
  if (!path.startsWith('/')) throw new NoFollowError(`${path.slice(0, 255)} is not an absolute path`, 'EINVAL');
  const parts = path.split('/').slice(1);
  if (parts.length === 1 && parts[0] === '') return [];
  for (const p of parts) checkName(p);
  return parts;
}

/**
 * Opens the folder at the absolute, canonical `path`, refusing a link anywhere on it (even one that would
 * land on an allowed place: the decision was made on the path as written). The caller closes the fd.
 */
export function openDirNoFollow(path: string): number {
  let fd = openSync('/', DIR_FLAGS);
  try {
    for (const name of components(path)) {
      const next = openAt(fd, name, 'dir');
      closeSync(fd);
      fd = next;
    }
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Why a regular file with more than one name is refused where a path decides access: a hard link is a second
 * name for the same inode, so a link placed inside an allowed root can reach a file whose other name is in a
 * denied place (keys/), and no path resolution can see it. Folders (whose nlink counts sub-folders) pass.
 */
export function hardLinkReason(name: string, st: { nlink: number; isFile(): boolean }): string | null {
  if (!st.isFile() || st.nlink <= 1) return null;
  return `${name} has ${st.nlink} hard links: the same file may also live outside the allowed root, so it is refused`;
}

// No O_TRUNC: a file is emptied only after fstat has shown it is a regular file with one name.
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * Opens the file at the absolute, canonical `path` for a tool, following no link anywhere on it, and refuses
 * what fstat on the open descriptor shows to be anything but a regular file with one name (hard links:
 * hardLinkReason). 'write' creates the file (mode 0600) if absent and empties it only after those checks, so a
 * hard link to a file outside the root is neither written nor truncated. Throws NoFollowError (errno
 * EMLINK for a hard link); the caller closes the descriptor.
 */
export function openFileNoFollow(path: string, access: 'read' | 'write'): number {
  const parts = components(path);
  const name = parts.pop();
  if (name === undefined) throw new NoFollowError('/ is a folder, not a file', 'EISDIR');
  const dir = openDirNoFollow(parts.length ? `/${parts.join('/')}` : '/');
  let fd: number;
  try {
    if (access === 'read') {
      fd = openAt(dir, name, 'file');
    } else {
      try {
        fd = openSync(fdPath(dir, name), WRITE_FLAGS, 0o600);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new NoFollowError(why(code, name, 'file'), code ?? 'EIO');
      }
    }
  } finally {
    closeSync(dir);
  }
  const st = fstatSync(fd);
  const linked = hardLinkReason(name, st);
  if (!st.isFile() || linked) {
    closeSync(fd);
    throw linked ? new NoFollowError(linked, 'EMLINK') : new NoFollowError(`${name} is not a regular file`, 'EINVAL');
  }
  if (access === 'write') ftruncateSync(fd, 0);
  return fd;
}
