// NATS user nkeys on Node's own Ed25519 (OpenSSL) instead of the pure-JS curve in @nats-io/nkeys: deriving a
// public key or signing the server's nonce there costs ~30 ms of CPU each on these machines, three times per
// actor start. The text format (base32 with a prefix byte and CRC16) is still @nats-io/nkeys' own codec.
import { createPrivateKey, createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { encode as base64url, Prefix } from '@nats-io/nkeys';
import { Codec } from '@nats-io/nkeys/lib/codec.js';
import { ErrorCode, SecaiError } from '../common/errors.js';

/** PKCS#8 DER of an Ed25519 private key, up to the 32-byte seed (RFC 8410). */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface UserNkey {
  /** The public nkey ("U…"), as the server config lists it. */
  publicKey: string;
  /** Ed25519 signature of data. */
  sign(data: Uint8Array): Uint8Array;
}

/** A new user seed ("SU…"), from the system's CSPRNG. */
export function createUserSeed(): Uint8Array {
  return Codec.encodeSeed(Prefix.User, randomBytes(32));
}

/** Opens a user seed; anything that is not a well-formed user seed is refused. */
export function userNkeyFromSeed(seed: Uint8Array): UserNkey {
  let decoded: { prefix: Prefix; buf: Uint8Array };
  try {
    decoded = Codec.decodeSeed(seed);
  } catch (err) {
    throw new SecaiError(ErrorCode.PERMISSION, `not an nkey seed: ${(err as Error).message}`);
  }
  if (decoded.prefix !== Prefix.User || decoded.buf.length !== 32) throw new SecaiError(ErrorCode.PERMISSION, 'not a user nkey seed');
  const key: KeyObject = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, decoded.buf]), format: 'der', type: 'pkcs8' });
  const x = createPublicKey(key).export({ format: 'jwk' }).x;
  if (typeof x !== 'string') throw new SecaiError(ErrorCode.INTERNAL, 'Ed25519 public key export failed');
  const publicKey = new TextDecoder().decode(Codec.encode(Prefix.User, Buffer.from(x, 'base64url')));
  return { publicKey, sign: (data) => new Uint8Array(sign(null, data, key)) };
}

/** The NATS client's nkey authenticator (public key + base64url signature of the server's nonce). */
export function nkeyAuth(nkey: UserNkey): (nonce?: string) => { nkey: string; sig: string } {
  return (nonce) => ({ nkey: nkey.publicKey, sig: nonce ? base64url(nkey.sign(new TextEncoder().encode(nonce))) : '' });
}
