// Stage 4, provenance: an offline cosign blob signature or sigstore bundle checked against the public keys policy trusts.
import { createHash, createPublicKey, createVerify, verify as cryptoVerify, X509Certificate, type KeyObject } from 'node:crypto';
import { createReadStream, existsSync, lstatSync, readFileSync } from 'node:fs';
import { guarded, stageResult } from './stage-result.js';
import type { StageRunner } from './types.js';

export interface TrustedKey {
  name: string;
  /** SPKI public key, PEM (ECDSA P-256 or Ed25519). */
  pem: string;
}

export interface ProvenanceOptions {
  trustedKeys: readonly TrustedKey[];
  /** Fail, rather than warn, when the artifact carries no signature. */
  requireSignature: boolean;
  /** Ed25519 signs the whole message (no streaming): larger blobs are refused with an error verdict. */
  maxEd25519Bytes?: number;
}

/** Sidecar files next to the artifact that carry its signature. */
export const SIDECAR_SUFFIXES = ['.sig', '.sigstore.json', '.bundle'] as const;

export const MAX_SIDECAR = 1024 * 1024;

interface Key { name: string; key: KeyObject; spki: string }

function parseKeys(keys: readonly TrustedKey[]): Key[] {
  return keys.map((k) => {
    const key = createPublicKey(k.pem);
    return { name: k.name, key, spki: key.export({ type: 'spki', format: 'der' }).toString('base64') };
  });
}

function readSidecar(path: string): Buffer | null {
  if (!existsSync(path)) return null;
  const st = lstatSync(path);
  if (!st.isFile()) throw new Error(`${path} is not a regular file`);
  if (st.size > MAX_SIDECAR) throw new Error(`${path} is larger than ${MAX_SIDECAR} bytes`);
  return readFileSync(path);
}

async function sha256Of(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return h.digest('hex');
}

/** Verifies `sig` over the file with `key`: streamed for ECDSA (hash-then-sign), whole for Ed25519. */
async function verifyFile(path: string, size: number, key: KeyObject, sig: Buffer, maxEd: number): Promise<boolean> {
  if (key.asymmetricKeyType === 'ed25519') {
    if (size > maxEd) throw new Error(`Ed25519 signatures are verified in memory; ${size} bytes exceeds the ${maxEd}-byte limit`);
    return cryptoVerify(null, readFileSync(path), key, sig);
  }
  if (key.asymmetricKeyType !== 'ec') throw new Error(`unsupported key type ${key.asymmetricKeyType}`);
  const v = createVerify('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) v.update(c as Buffer);
  return v.verify(key, sig);
}

interface BundleParts { signature: Buffer; digest: string | null; key: KeyObject | null; keyHint: string | null; tlogEntries: number; mediaType: string }

/** The parts of a sigstore bundle (v0.1–v0.3) an offline check needs; anything else is refused. */
function parseBundle(raw: Buffer): BundleParts {
  const b = JSON.parse(raw.toString('utf8')) as Record<string, any>;
  const ms = b?.messageSignature;
  if (!ms || typeof ms.signature !== 'string') throw new Error('the bundle has no messageSignature (DSSE envelopes are not supported)');
  const vm = b.verificationMaterial ?? {};
  let key: KeyObject | null = null;
  const certB64: unknown = vm.certificate?.rawBytes ?? vm.x509CertificateChain?.certificates?.[0]?.rawBytes;
  if (typeof certB64 === 'string') key = new X509Certificate(Buffer.from(certB64, 'base64')).publicKey;
  const digest = ms.messageDigest?.algorithm === 'SHA2_256' && typeof ms.messageDigest.digest === 'string' ? Buffer.from(ms.messageDigest.digest, 'base64').toString('hex') : null;
  return {
    signature: Buffer.from(ms.signature, 'base64'), digest, key,
    keyHint: typeof vm.publicKey?.hint === 'string' ? vm.publicKey.hint : null,
    tlogEntries: Array.isArray(vm.tlogEntries) ? vm.tlogEntries.length : 0,
    mediaType: String(b.mediaType ?? ''),
  };
}

export const provenanceStage: StageRunner<ProvenanceOptions> = (artifact, options, progress) =>
  guarded('provenance', async (started) => {
    const maxEd = options.maxEd25519Bytes ?? 512 * 1024 * 1024;
    const unsigned = (why: string) => stageResult('provenance', started, options.requireSignature ? 'fail' : 'warn',
      options.requireSignature ? `unsigned: ${why}, and policy requires a signature` : `unsigned: ${why}`,
      { signed: false, label: 'unsigned', requireSignature: options.requireSignature });
    if (artifact.kind === 'folder') return unsigned('folder signatures are not supported yet');
    const trusted = parseKeys(options.trustedKeys);
    const sig = readSidecar(`${artifact.path}.sig`);
    const bundleRaw = readSidecar(`${artifact.path}.sigstore.json`) ?? readSidecar(`${artifact.path}.bundle`);
    if (!sig && !bundleRaw) return unsigned('no .sig, .sigstore.json or .bundle next to the model');
    progress(10);

    if (bundleRaw) {
      const b = parseBundle(bundleRaw);
      const sha256 = await sha256Of(artifact.path);
      progress(50);
      const base = { signed: true, kind: 'sigstore_bundle', mediaType: b.mediaType, sha256, tlogEntries: b.tlogEntries, transparencyLog: 'not checked (offline)' };
      if (b.digest && b.digest !== sha256) return stageResult('provenance', started, 'fail', 'the bundle signs a different digest than this file', { ...base, bundleDigest: b.digest, rule: 'digest_mismatch' });
      // The key must be one policy trusts: the bundle's certificate is not chained to Fulcio offline.
      const candidates = b.key ? trusted.filter((k) => k.spki === b.key!.export({ type: 'spki', format: 'der' }).toString('base64'))
        : trusted.filter((k) => !b.keyHint || k.name === b.keyHint);
      if (!candidates.length) return stageResult('provenance', started, 'fail', 'the bundle\'s key is not among the keys policy trusts', { ...base, rule: 'untrusted_key', keyHint: b.keyHint });
      for (const k of candidates) {
        if (await verifyFile(artifact.path, artifact.size, k.key, b.signature, maxEd)) {
          progress(100);
          return stageResult('provenance', started, 'pass', `sigstore bundle verified offline with trusted key ${k.name}`, { ...base, key: k.name });
        }
      }
      return stageResult('provenance', started, 'fail', 'the bundle\'s signature does not verify over this file', { ...base, rule: 'bad_signature' });
    }

    const text = sig!.toString('utf8').trim();
    if (!/^[A-Za-z0-9+/=\s]+$/.test(text)) return stageResult('provenance', started, 'fail', 'the .sig file is not base64', { signed: true, kind: 'cosign_blob', rule: 'malformed_signature' });
    const raw = Buffer.from(text, 'base64');
    if (!trusted.length) return stageResult('provenance', started, 'fail', 'a signature is present but policy trusts no keys', { signed: true, kind: 'cosign_blob', rule: 'no_trusted_keys' });
    for (const k of trusted) {
      let ok = false;
      try { ok = await verifyFile(artifact.path, artifact.size, k.key, raw, maxEd); } catch (e) { if ((e as Error).message.includes('exceeds')) throw e; }
      if (ok) {
        progress(100);
        return stageResult('provenance', started, 'pass', `cosign signature verified with trusted key ${k.name}`, { signed: true, kind: 'cosign_blob', key: k.name, algorithm: k.key.asymmetricKeyType });
      }
    }
    return stageResult('provenance', started, 'fail', 'the signature does not verify with any trusted key', { signed: true, kind: 'cosign_blob', rule: 'bad_signature', triedKeys: trusted.map((k) => k.name) });
  });
