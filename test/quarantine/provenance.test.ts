import t from 'tap';
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { provenanceStage, type ProvenanceOptions } from '../../actors/quarantine/stages/provenance.js';
import type { Artifact } from '../../actors/quarantine/stages/types.js';

const dir = mkdtempSync(join(tmpdir(), 'secai-prov-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const ed = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();

let n = 0;
function model(bytes = Buffer.from('GGUF' + 'x'.repeat(5000))): Artifact {
  const path = join(dir, `m${n++}.gguf`);
  writeFileSync(path, bytes);
  return { path, kind: 'file', name: 'm.gguf', origin: { type: 'local' }, size: bytes.length };
}
const opts = (o: Partial<ProvenanceOptions> = {}): ProvenanceOptions => ({ trustedKeys: [{ name: 'release', pem: pem(ec.publicKey) }, { name: 'ed', pem: pem(ed.publicKey) }], requireSignature: false, ...o });
const noop = () => {};

t.test('provenance — a cosign ECDSA-P256 blob signature by a trusted key passes', async (t) => {
  const a = model();
  writeFileSync(`${a.path}.sig`, sign('sha256', readFileSync(a.path), ec.privateKey).toString('base64') + '\n');
  t.match(await provenanceStage(a, opts(), noop), { stage: 'provenance', verdict: 'pass', evidence: { signed: true, kind: 'cosign_blob', key: 'release' } });
});

t.test('provenance — an Ed25519 blob signature by a trusted key passes', async (t) => {
  const a = model();
  writeFileSync(`${a.path}.sig`, sign(null, readFileSync(a.path), ed.privateKey).toString('base64'));
  t.match(await provenanceStage(a, opts(), noop), { verdict: 'pass', evidence: { key: 'ed' } });
});

t.test('provenance — a signature over other bytes fails', async (t) => {
  const a = model();
  writeFileSync(`${a.path}.sig`, sign('sha256', Buffer.from('something else'), ec.privateKey).toString('base64'));
  t.match(await provenanceStage(a, opts(), noop), { verdict: 'fail', evidence: { rule: 'bad_signature' } });
});

t.test('provenance — a model changed after signing fails', async (t) => {
  const a = model();
  writeFileSync(`${a.path}.sig`, sign('sha256', readFileSync(a.path), ec.privateKey).toString('base64'));
  const b = readFileSync(a.path); b[100] = b[100]! ^ 1; writeFileSync(a.path, b);
  t.match(await provenanceStage(a, opts(), noop), { verdict: 'fail' });
});

t.test('provenance — a valid signature by a key policy does not trust fails', async (t) => {
  const a = model();
  writeFileSync(`${a.path}.sig`, sign('sha256', readFileSync(a.path), other.privateKey).toString('base64'));
  t.match(await provenanceStage(a, opts(), noop), { verdict: 'fail', evidence: { rule: 'bad_signature' } });
  t.match(await provenanceStage(a, opts({ trustedKeys: [] }), noop), { verdict: 'fail', evidence: { rule: 'no_trusted_keys' } });
});

t.test('provenance — garbage in the .sig file fails, never throws', async (t) => {
  const a = model();
  writeFileSync(`${a.path}.sig`, '<<not base64>>');
  t.match(await provenanceStage(a, opts(), noop), { verdict: 'fail', evidence: { rule: 'malformed_signature' } });
  const b = model();
  writeFileSync(`${b.path}.sig`, 'AAAA');
  t.match(await provenanceStage(b, opts(), noop), { verdict: 'fail' });
});

t.test('provenance — unsigned is labelled; policy decides warn or fail', async (t) => {
  const a = model();
  t.match(await provenanceStage(a, opts(), noop), { verdict: 'warn', evidence: { signed: false, label: 'unsigned' } });
  t.match(await provenanceStage(a, opts({ requireSignature: true }), noop), { verdict: 'fail', reason: /policy requires a signature/ });
});

const bundle = (sig: Buffer, digest: Buffer, vm: Record<string, unknown>) => JSON.stringify({
  mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
  verificationMaterial: vm,
  messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: digest.toString('base64') }, signature: sig.toString('base64') },
});

t.test('provenance — a sigstore bundle (public key hint) verifies offline; wrong digest or key fails', async (t) => {
  const a = model();
  const bytes = readFileSync(a.path);
  const digest = createHash('sha256').update(bytes).digest();
  writeFileSync(`${a.path}.sigstore.json`, bundle(sign('sha256', bytes, ec.privateKey), digest, { publicKey: { hint: 'release' } }));
  t.match(await provenanceStage(a, opts(), noop), { verdict: 'pass', evidence: { kind: 'sigstore_bundle', key: 'release', transparencyLog: /offline/ } });

  const b = model();
  writeFileSync(`${b.path}.sigstore.json`, bundle(sign('sha256', readFileSync(b.path), ec.privateKey), createHash('sha256').update('x').digest(), { publicKey: { hint: 'release' } }));
  t.match(await provenanceStage(b, opts(), noop), { verdict: 'fail', evidence: { rule: 'digest_mismatch' } });

  const c = model();
  writeFileSync(`${c.path}.bundle`, bundle(sign('sha256', readFileSync(c.path), other.privateKey), createHash('sha256').update(readFileSync(c.path)).digest(), { publicKey: { hint: 'release' } }));
  t.match(await provenanceStage(c, opts(), noop), { verdict: 'fail', evidence: { rule: 'bad_signature' } });

  const d = model();
  writeFileSync(`${d.path}.sigstore.json`, '{"not":"a bundle"}');
  t.match(await provenanceStage(d, opts(), noop), { verdict: 'error', reason: /messageSignature/ });
});

t.test('provenance — a sigstore bundle with a certificate: its key must be trusted', async (t) => {
  let certDer: Buffer;
  try {
    const keyPath = join(dir, 'k.pem');
    writeFileSync(keyPath, ec.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    certDer = execFileSync('openssl', ['req', '-new', '-x509', '-key', keyPath, '-subj', '/CN=secai-test', '-days', '1', '-outform', 'DER']);
  } catch {
    t.fail('openssl is needed to make a test certificate');
    return;
  }
  const a = model();
  const bytes = readFileSync(a.path);
  writeFileSync(`${a.path}.sigstore.json`, bundle(sign('sha256', bytes, ec.privateKey), createHash('sha256').update(bytes).digest(), { certificate: { rawBytes: certDer.toString('base64') }, tlogEntries: [] }));
  t.match(await provenanceStage(a, opts(), noop), { verdict: 'pass', evidence: { key: 'release' } });
  t.match(await provenanceStage(a, opts({ trustedKeys: [{ name: 'ed', pem: pem(ed.publicKey) }] }), noop), { verdict: 'fail', evidence: { rule: 'untrusted_key' } });
});
