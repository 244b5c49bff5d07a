// The signed model catalog: catalog.yaml is verified (Ed25519, detached, over its exact bytes) against the trusted
// publishers, then validated (closed schema, unique ids, every source URL allowlisted) and frozen; any failure is
// SECAI_E_CATALOG_INVALID and nothing of the file is used.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { getSodium } from '../common/sodium.js';
import type { CatalogSigner } from './catalog-signers.js';
import { parseConfig } from './load.js';

export interface CatalogEntry {
  id: string;
  name: string;
  family: string;
  format: 'gguf' | 'safetensors';
  size_bytes: number;
  license: string;
  source_url: string;
  sha256: string;
  pin_verified: boolean;
  pin_source: string;
  tags: readonly string[];
  description?: string;
}

export interface CatalogDoc {
  version: 1;
  publisher: string;
  models: readonly CatalogEntry[];
}

export interface LoadedCatalog {
  catalog: CatalogDoc;
  /** SHA-256 of catalog.yaml's bytes: the catalog version an import cites. */
  digest: string;
  /** The trusted publisher whose signature verified. */
  signer: { name: string; keyId: string };
  path: string;
}

export interface CatalogOptions {
  signers: readonly CatalogSigner[];
  /** Stage 1's rule for a URL: null when allowed, else why not. The catalog cannot list what the quarantine would refuse. */
  checkSource: (url: string) => string | null;
}

export const catalogPath = (configDir: string) => join(configDir, 'catalog.yaml');
export const SIGNATURE_SUFFIX = '.sig';
/** `ed25519 <key id> <base64 signature>`: one line; the key id names which publisher key to check. */
const SIG_LINE = /^ed25519 ([0-9a-f]{16}) ([A-Za-z0-9+/]{86}==)\n?$/;
/** 256 entries take ~200 KiB; anything far larger is not a catalog, and is not read (it is read on every request). */
export const MAX_CATALOG_BYTES = 1024 * 1024;

const invalid = (path: string, why: string) => new SecaiError(ErrorCode.CATALOG_INVALID, `${path}: ${why}; the catalog is not used`);

/** A key's id: the first 16 hex digits of the SHA-256 of its raw 32 bytes. */
export function keyIdOf(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex').slice(0, 16);
}

function decodeKey(b64: string, bytes: number, what: string): Uint8Array {
  const raw = Buffer.from(b64.trim(), 'base64');
  if (raw.length !== bytes || raw.toString('base64') !== b64.trim()) throw new SecaiError(ErrorCode.CATALOG_INVALID, `${what} is not ${bytes} bytes of base64`);
  return new Uint8Array(raw);
}

/** The detached signature file's text for `bytes`, signed with a base64 Ed25519 secret key (64 bytes, libsodium layout). */
export async function signCatalog(bytes: Uint8Array, secretKeyB64: string): Promise<{ text: string; keyId: string }> {
  const sodium = await getSodium();
  const secret = decodeKey(secretKeyB64, sodium.crypto_sign_SECRETKEYBYTES, 'the secret key');
  const keyId = keyIdOf(sodium.crypto_sign_ed25519_sk_to_pk(secret));
  const sig = Buffer.from(sodium.crypto_sign_detached(bytes, secret)).toString('base64');
  return { text: `ed25519 ${keyId} ${sig}\n`, keyId };
}

/** Which trusted publisher signed exactly these bytes; throws CATALOG_INVALID otherwise. */
export async function verifyCatalogSignature(bytes: Uint8Array, sigText: string | null, signers: readonly CatalogSigner[], path: string): Promise<{ name: string; keyId: string }> {
  if (sigText === null) throw invalid(path, `no signature (${path}${SIGNATURE_SUFFIX} is missing)`);
  const m = SIG_LINE.exec(sigText);
  if (!m) throw invalid(path, `the signature file is malformed (expected one line "ed25519 <key id> <base64 signature>")`);
  const sodium = await getSodium();
  const keyId = m[1]!;
  const signer = signers.find((s) => keyIdOf(decodeKey(s.publicKey, sodium.crypto_sign_PUBLICKEYBYTES, `catalog signer ${s.name}'s public key`)) === keyId);
  if (!signer) throw invalid(path, `signed by key ${keyId}, which is not a trusted catalog publisher (trusted: ${signers.map((s) => s.name).join(', ') || 'none'})`);
  const pub = decodeKey(signer.publicKey, sodium.crypto_sign_PUBLICKEYBYTES, 'the public key');
  // The signature covers the exact bytes: one changed byte, a re-encoding or a trailing newline fails it.
  if (!sodium.crypto_sign_verify_detached(Buffer.from(m[2]!, 'base64'), bytes, pub)) {
    throw invalid(path, `the signature does not verify with ${signer.name}'s key (${keyId}): the file changed after signing, or another key signed it`);
  }
  return { name: signer.name, keyId };
}

/** Verifies, then validates; the YAML is parsed only once its signature verified. */
export async function parseCatalog(bytes: Uint8Array, sigText: string | null, path: string, o: CatalogOptions): Promise<LoadedCatalog> {
  const signer = await verifyCatalogSignature(bytes, sigText, o.signers, path);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw invalid(path, 'not UTF-8');
  }
  let catalog: CatalogDoc;
  try {
    catalog = parseConfig<CatalogDoc>(text, 'catalog.schema.json', path).value;
  } catch (err) {
    throw new SecaiError(ErrorCode.CATALOG_INVALID, `${(err as Error).message}; the catalog is not used`, { cause: err });
  }
  const seen = new Set<string>();
  for (const [i, m] of catalog.models.entries()) {
    if (seen.has(m.id)) throw invalid(path, `/models/${i}/id '${m.id}' appears twice`);
    seen.add(m.id);
    const refused = o.checkSource(m.source_url);
    if (refused) throw invalid(path, `/models/${i}/source_url of '${m.id}' is outside sources.allowlist.yaml (${refused})`);
  }
  return Object.freeze({ catalog, digest: createHash('sha256').update(bytes).digest('hex'), signer: Object.freeze(signer), path });
}

/** Reads `<configDir>/catalog.yaml` and its `.sig`; a missing catalog is CATALOG_INVALID too (the image ships one). */
export async function loadCatalog(configDir: string, o: CatalogOptions): Promise<LoadedCatalog> {
  const path = catalogPath(configDir);
  if (!existsSync(path)) throw invalid(path, 'missing');
  const size = statSync(path).size;
  if (size > MAX_CATALOG_BYTES) throw invalid(path, `${size} bytes, over the ${MAX_CATALOG_BYTES}-byte limit of a catalog`);
  const sigPath = path + SIGNATURE_SUFFIX;
  // A signature line is 107 bytes: a larger file is malformed without being read.
  const sig = !existsSync(sigPath) ? null : statSync(sigPath).size > 256 ? 'oversized' : readFileSync(sigPath, 'utf8');
  return parseCatalog(readFileSync(path), sig, path, o);
}

/** The entry with this id; SECAI_E_CATALOG_UNKNOWN when there is none. */
export function catalogEntry(c: LoadedCatalog, id: string): CatalogEntry {
  const e = c.catalog.models.find((m) => m.id === id);
  if (!e) throw new SecaiError(ErrorCode.CATALOG_UNKNOWN, `no model '${id.slice(0, 64)}' in the catalog (securectl models catalog lists them)`);
  return e;
}
