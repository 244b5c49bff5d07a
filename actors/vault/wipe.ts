// Panic wipes: destroy the key material (level 2) or everything secret under SECAI_HOME (level 3).
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, relative } from 'node:path';
import type { HomePaths } from '../../common/paths.js';

/**
 * Overwrites a file with random bytes before unlinking it. On flash and journaling file systems the
 * old blocks may survive; what makes level 2 final is that the wrapped key and salt are gone, and
 * they exist nowhere else (LUKS below the home is the layer for block-level guarantees).
 */
export function shred(path: string): void {
  if (!existsSync(path)) return;
  const st = statSync(path);
  if (st.isFile() && st.size > 0) {
    const fd = openSync(path, 'r+');
    try {
      let left = st.size;
      while (left > 0) {
        const n = Math.min(left, 1 << 20);
        writeSync(fd, randomBytes(n));
        left -= n;
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  rmSync(path, { force: true });
}

function shredTree(path: string): void {
  if (!existsSync(path)) return;
  const st = statSync(path);
  if (st.isDirectory()) {
    for (const e of readdirSync(path)) shredTree(join(path, e));
    rmSync(path, { recursive: true, force: true });
  } else shred(path);
}

/** Level 2: vault.json (salt and wrapped data key). Records stay, as ciphertext nobody can open. */
export function wipeKeys(p: HomePaths): string[] {
  const f = join(p.vault, 'vault.json');
  const had = existsSync(f);
  shred(f);
  return had ? [relative(p.home, f)] : [];
}

/**
 * Level 3: the vault, the registry, the quarantine and the operator and appliance keys. Kept: the
 * audit chain and its HMAC key (the record of this wipe must stay verifiable) and the bus identities
 * (they protect no data and the appliance needs them to report and stop cleanly).
 */
export function wipeAll(p: HomePaths): string[] {
  const targets = [p.vault, p.registry, p.quarantine, p.operatorKey, p.trustedOperators, p.applianceKey];
  const removed: string[] = [];
  for (const t of targets) {
    if (!existsSync(t)) continue;
    shredTree(t);
    removed.push(relative(p.home, t));
  }
  return removed;
}
