// Makes SECAI_HOME private before anything is written in it: 0700, owned by this user, its known folders tightened too.
import { chmodSync, lstatSync, mkdirSync, statSync } from 'node:fs';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import type { HomePaths } from '../../common/paths.js';

/** Group and other bits: none may remain on the state directory or the folders the appliance keeps in it. */
const NOT_OWNER = 0o077;

/**
 * Creates SECAI_HOME 0700, or takes an existing one only if this user owns it (another user's folder,
 * or a file, is refused: its owner could read or swap what we write). A home left 0755 by an older
 * version is tightened to 0700, and so is every folder of `homePaths` already in it: their contents
 * (keys, audit, vault, models) were never meant for other local users.
 */
export function secureHome(paths: HomePaths): void {
  mkdirSync(paths.home, { recursive: true, mode: 0o700 });
  // stat, not lstat: a SECAI_HOME that is a link to the operator's own folder is allowed; the target is checked.
  const st = statSync(paths.home);
  const uid = process.getuid?.();
  if (!st.isDirectory()) throw new SecaiError(ErrorCode.HOME_UNSAFE, `SECAI_HOME ${paths.home} is not a folder`);
  if (uid !== undefined && st.uid !== uid) {
    throw new SecaiError(ErrorCode.HOME_UNSAFE, `SECAI_HOME ${paths.home} belongs to uid ${st.uid}, not to this user (uid ${uid}): refusing to start; chown it to this user or choose another SECAI_HOME`);
  }
  if (st.mode & NOT_OWNER) chmodSync(paths.home, st.mode & 0o700);
  for (const p of Object.values(paths)) {
    if (p === paths.home) continue;
    let sub;
    try { sub = lstatSync(p); } catch { continue; } // not created yet: it will be, 0700
    // Links and other users' entries are left alone here (never followed); the actors refuse them where they matter.
    if (!sub.isDirectory() || (uid !== undefined && sub.uid !== uid)) continue;
    if (sub.mode & NOT_OWNER) chmodSync(p, sub.mode & 0o700);
  }
}
