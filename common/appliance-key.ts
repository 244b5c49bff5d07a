// The appliance's Ed25519 key (keys/appliance.ed25519): signs the registry manifest and the integrity baseline.
import { linkSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ErrorCode, SecaiError } from './errors.js';
import { writeFileAtomic } from './fs-atomic.js';
import { getSodium } from './sodium.js';

export interface ApplianceKey { secretKey: Uint8Array; publicKey: Uint8Array }

/**
 * Loads the key, creating it 0600 on first use. Two actors may start at once on a fresh home (registry,
 * integrity): the key is written under a temporary name and linked into place, which fails if the other
 * won, so both end up holding the one key on disk (a rename would let the loser keep a key nobody else has).
 */
export async function applianceKey(keyPath: string): Promise<ApplianceKey> {
  const sodium = await getSodium();
  let secretKey: Uint8Array;
  try {
    secretKey = new Uint8Array(readFileSync(keyPath));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const tmp = join(dirname(keyPath), `.appliance-key.${randomBytes(6).toString('hex')}`);
    writeFileAtomic(tmp, sodium.crypto_sign_keypair().privateKey, 0o600);
    try {
      linkSync(tmp, keyPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      rmSync(tmp, { force: true });
    }
    secretKey = new Uint8Array(readFileSync(keyPath));
  }
  if (secretKey.length !== sodium.crypto_sign_SECRETKEYBYTES) throw new SecaiError(ErrorCode.CONFIG_INVALID, `${keyPath} is not an Ed25519 secret key`);
  return { secretKey, publicKey: sodium.crypto_sign_ed25519_sk_to_pk(secretKey) };
}
