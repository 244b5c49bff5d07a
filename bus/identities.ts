// One NATS identity (nkey user) per manifest, generated on first start into keys/bus/ with mode 0600.
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/fs-atomic.js';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { createUserSeed, userNkeyFromSeed, type UserNkey } from './nkey.js';

export interface Identity {
  name: string;
  publicKey: string;
  /** The opened seed: signs the server's nonce when connecting. */
  nkey: UserNkey;
}

export function identityPath(keysDir: string, name: string): string {
  return join(keysDir, `${name}.nk`);
}

export function loadIdentity(keysDir: string, name: string): Identity {
  const path = identityPath(keysDir, name);
  if (!existsSync(path)) throw new SecaiError(ErrorCode.NOT_RUNNING, `no bus identity for '${name}' at ${path}: has the appliance started once?`);
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) throw new SecaiError(ErrorCode.PERMISSION, `bus identity ${path} is readable by others (mode ${mode.toString(8)}): refusing it`);
  const nkey = userNkeyFromSeed(new Uint8Array(readFileSync(path)));
  return { name, publicKey: nkey.publicKey, nkey };
}

export function ensureIdentity(keysDir: string, name: string): Identity {
  mkdirSync(keysDir, { recursive: true, mode: 0o700 });
  chmodSync(keysDir, 0o700);
  if (!existsSync(identityPath(keysDir, name))) {
    writeFileAtomic(identityPath(keysDir, name), createUserSeed(), 0o600);
  }
  return loadIdentity(keysDir, name);
}
