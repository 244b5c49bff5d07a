// The vault's cryptography (libsodium sumo): Argon2id key derivation, the wrapped data key, secretstream records; files are in file-stream.ts.
import { secaiEnv } from '../../common/env.js';
import { closeSync, openSync, readSync, writeSync, fsyncSync, renameSync, existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { getSodium, type Sodium } from '../../common/sodium.js';
import { fsyncDir } from '../../common/fs-atomic.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';

export const ARGON2_LIMITS = ['interactive', 'moderate', 'sensitive'] as const;
export type Argon2Limits = (typeof ARGON2_LIMITS)[number];

/**
 * vault/vault.json: everything needed to derive the passphrase key and unwrap the data key. Version 2 vaults keep a
 * record index (record-store.ts); version 1 is a vault from before it, upgraded at its next unlock. The version is in
 * the wrap's associated data, so a version 2 file cannot be passed off as version 1 (to have its records re-indexed).
 */
export interface VaultFile {
  version: 1 | 2;
  kdf: { alg: 'argon2id13'; salt: string; opslimit: number; memlimit: number };
  wrap: { alg: 'xchacha20poly1305-ietf'; nonce: string; ciphertext: string };
  createdAt: number;
  changedAt: number;
}

const WRAP_AD = { 1: 'secai-vault-v1/data-key', 2: 'secai-vault-v2/data-key' } as const;

const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

export function limitsFor(sodium: Sodium, name: Argon2Limits): { opslimit: number; memlimit: number } {
  switch (name) {
    case 'interactive': return { opslimit: sodium.crypto_pwhash_OPSLIMIT_INTERACTIVE, memlimit: sodium.crypto_pwhash_MEMLIMIT_INTERACTIVE };
    case 'moderate': return { opslimit: sodium.crypto_pwhash_OPSLIMIT_MODERATE, memlimit: sodium.crypto_pwhash_MEMLIMIT_MODERATE };
    case 'sensitive': return { opslimit: sodium.crypto_pwhash_OPSLIMIT_SENSITIVE, memlimit: sodium.crypto_pwhash_MEMLIMIT_SENSITIVE };
  }
}

function checkPassphrase(p: unknown): string {
  if (typeof p !== 'string' || p.length < 8 || p.length > 1024) {
    throw new SecaiError(ErrorCode.USAGE, 'a passphrase has 8 to 1024 characters');
  }
  return p;
}

async function deriveKek(sodium: Sodium, passphrase: string, salt: Uint8Array, opslimit: number, memlimit: number): Promise<Uint8Array> {
  return sodium.crypto_pwhash(
    sodium.crypto_aead_xchacha20poly1305_ietf_KEYBYTES, passphrase, salt, opslimit, memlimit, sodium.crypto_pwhash_ALG_ARGON2ID13,
  );
}

async function wrap(sodium: Sodium, dataKey: Uint8Array, passphrase: string, limits: { opslimit: number; memlimit: number }, createdAt: number, now: number): Promise<VaultFile> {
  const salt = sodium.randombytes_buf(sodium.crypto_pwhash_SALTBYTES);
  const kek = await deriveKek(sodium, passphrase, salt, limits.opslimit, limits.memlimit);
  try {
    const nonce = sodium.randombytes_buf(sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    const ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(dataKey, WRAP_AD[2], null, nonce, kek);
    return {
      version: 2,
      kdf: { alg: 'argon2id13', salt: b64(salt), ...limits },
      wrap: { alg: 'xchacha20poly1305-ietf', nonce: b64(nonce), ciphertext: b64(ct) },
      createdAt, changedAt: now,
    };
  } finally {
    sodium.memzero(kek);
  }
}

/** A new vault: a random data key wrapped by a key derived from the passphrase. The caller owns (and zeroes) the data key. */
export async function createVault(passphrase: string, limitsName: Argon2Limits, now = Date.now()): Promise<{ file: VaultFile; dataKey: Uint8Array }> {
  const sodium = await getSodium();
  checkPassphrase(passphrase);
  const dataKey = sodium.crypto_secretstream_xchacha20poly1305_keygen();
  return { file: await wrap(sodium, dataKey, passphrase, limitsFor(sodium, limitsName), now, now), dataKey };
}

/** Unwraps the data key; a wrong passphrase (or a tampered file) is WRONG_PASSPHRASE, never a partial key. */
export async function unwrapDataKey(file: VaultFile, passphrase: string): Promise<Uint8Array> {
  const sodium = await getSodium();
  if (typeof passphrase !== 'string' || passphrase.length > 1024) throw new SecaiError(ErrorCode.WRONG_PASSPHRASE, 'wrong passphrase');
  const { salt, opslimit, memlimit } = file.kdf;
  // Parameters come from the file: bound them, so a planted vault.json cannot make unlocking eat the machine.
  if (!Number.isInteger(opslimit) || opslimit < 1 || opslimit > 16 || !Number.isInteger(memlimit) || memlimit < 8192 || memlimit > 2 ** 31) {
    throw new SecaiError(ErrorCode.VAULT_CORRUPT, 'vault.json has out-of-range key derivation parameters');
  }
  const kek = await deriveKek(sodium, passphrase, unb64(salt), opslimit, memlimit);
  try {
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, unb64(file.wrap.ciphertext), WRAP_AD[file.version], unb64(file.wrap.nonce), kek);
  } catch {
    throw new SecaiError(ErrorCode.WRONG_PASSPHRASE, 'wrong passphrase');
  } finally {
    sodium.memzero(kek);
  }
}

/** The same data key under a new passphrase and a new salt (records need no re-encryption). */
export async function rewrapDataKey(file: VaultFile, dataKey: Uint8Array, newPassphrase: string, limitsName: Argon2Limits, now = Date.now()): Promise<VaultFile> {
  const sodium = await getSodium();
  checkPassphrase(newPassphrase);
  return wrap(sodium, dataKey, newPassphrase, limitsFor(sodium, limitsName), file.createdAt, now);
}

/** A version 1 vault.json wrapped again as version 2: the same data key, passphrase and limits (a new salt and nonce). */
export async function upgradeVaultFile(file: VaultFile, dataKey: Uint8Array, passphrase: string): Promise<VaultFile> {
  const sodium = await getSodium();
  return wrap(sodium, dataKey, passphrase, { opslimit: file.kdf.opslimit, memlimit: file.kdf.memlimit }, file.createdAt, file.changedAt);
}

export function readVaultFile(path: string): VaultFile | undefined {
  if (!existsSync(path)) return undefined;
  let v: VaultFile;
  try {
    v = JSON.parse(readFileSync(path, 'utf8')) as VaultFile;
  } catch {
    throw new SecaiError(ErrorCode.VAULT_CORRUPT, `${basename(path)} is not valid JSON`);
  }
  if ((v?.version !== 1 && v?.version !== 2) || v.kdf?.alg !== 'argon2id13' || v.wrap?.alg !== 'xchacha20poly1305-ietf' || typeof v.kdf.salt !== 'string' || typeof v.wrap.ciphertext !== 'string' || typeof v.wrap.nonce !== 'string') {
    throw new SecaiError(ErrorCode.VAULT_CORRUPT, `${basename(path)} is not a vault file`);
  }
  return v;
}

/**
 * Writes vault.json by temp + fsync + rename + fsync(dir). SECAI_VAULT_CRASH_AFTER=temp makes the
 * process exit between the temp write and the rename: the crash test for a passphrase change.
 */
export function writeVaultFile(path: string, v: VaultFile): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    const buf = Buffer.from(JSON.stringify(v, null, 1));
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (secaiEnv().vaultCrashAfter === 'temp') process.exit(70);
  renameSync(tmp, path);
  fsyncDir(dir);
}

/** One record: a secretstream of a single final message, bound to its namespace and key by the associated data. */
export async function sealRecord(dataKey: Uint8Array, ad: string, plaintext: Uint8Array): Promise<Uint8Array> {
  const sodium = await getSodium();
  const { state, header } = sodium.crypto_secretstream_xchacha20poly1305_init_push(dataKey);
  const ct = sodium.crypto_secretstream_xchacha20poly1305_push(state, plaintext, ad, sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL);
  const out = new Uint8Array(header.length + ct.length);
  out.set(header, 0);
  out.set(ct, header.length);
  return out;
}

export async function openRecord(dataKey: Uint8Array, ad: string, sealed: Uint8Array): Promise<Uint8Array> {
  const sodium = await getSodium();
  const hb = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES;
  const fail = () => new SecaiError(ErrorCode.VAULT_CORRUPT, 'record does not decrypt (tampered, moved or from another vault)');
  if (sealed.length < hb + sodium.crypto_secretstream_xchacha20poly1305_ABYTES) throw fail();
  let r: { message: Uint8Array; tag: number } | false;
  try {
    const state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(sealed.subarray(0, hb), dataKey);
    r = sodium.crypto_secretstream_xchacha20poly1305_pull(state, sealed.subarray(hb), ad);
  } catch {
    throw fail();
  }
  if (!r || r.tag !== sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL) throw fail();
  return r.message;
}

export { encryptFile, decryptFile, FILE_CHUNK } from './file-stream.js';
