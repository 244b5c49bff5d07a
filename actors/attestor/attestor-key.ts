// The attestor's HMAC key (libsodium crypto_auth, HMAC-SHA-512-256): made on first start, 0600, read by no other actor.
import { existsSync, lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import type { Sodium } from '../../common/sodium.js';

/** Loads the key, or makes it when absent. A key readable by others, not a plain file, or of the wrong size stops the attestor. */
export function loadAttestorKey(sodium: Sodium, path: string): Uint8Array {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileAtomic(path, sodium.crypto_auth_keygen(), 0o600);
  }
  const st = lstatSync(path);
  if (!st.isFile()) throw new SecaiError(ErrorCode.HOME_UNSAFE, `${path} is not a plain file`);
  if ((st.mode & 0o077) !== 0) throw new SecaiError(ErrorCode.HOME_UNSAFE, `${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}): the attestation key must be 0600`);
  const key = new Uint8Array(readFileSync(path));
  if (key.length !== sodium.crypto_auth_KEYBYTES) throw new SecaiError(ErrorCode.HOME_UNSAFE, `${path} is not a ${sodium.crypto_auth_KEYBYTES}-byte key`);
  return key;
}
