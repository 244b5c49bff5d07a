// The signed model catalog from an attacker's side: someone who can write the config folder but holds no trusted
// publisher key. Every change they can make refuses the whole catalog; nothing of it is listed or downloaded.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getSodium } from '../../common/sodium.js';
import { catalogOptions } from '../../actors/quarantine/catalog-import.js';
import type { SourcesAllowlist } from '../../actors/quarantine/stages/source.js';
import { loadCatalog, MAX_CATALOG_BYTES, parseCatalog, signCatalog } from '../../policy/catalog.js';
import { CATALOG_SIGNERS } from '../../policy/catalog-signers.js';
import { parseConfig } from '../../policy/load.js';
import { ROOT } from '../helpers/appliance.js';

const sodium = await getSodium();
const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');
const publisher = sodium.crypto_sign_keypair();
const allowlist = parseConfig<SourcesAllowlist>(readFileSync(join(ROOT, 'policy', 'sources.allowlist.yaml'), 'utf8'), 'sources.allowlist.schema.json', 'sources.allowlist.yaml').value;
const opts = catalogOptions({ catalogSigners: [{ name: 'publisher', publicKey: b64(publisher.publicKey) }], source: { allowlist, local: 'warn' } });
const shippedBytes = readFileSync(join(ROOT, 'policy', 'catalog.yaml'));
const shippedSig = readFileSync(join(ROOT, 'policy', 'catalog.yaml.sig'), 'utf8');
const shippedOpts = { ...opts, signers: CATALOG_SIGNERS };

function configWith(files: Record<string, string | Buffer>): string {
  const d = mkdtempSync(join(tmpdir(), 'secai-catalog-adv-'));
  for (const [name, data] of Object.entries(files)) writeFileSync(join(d, name), data);
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

t.test('catalog adversarial — the pin swapped for the attacker\'s file hash: the publisher\'s signature no longer verifies', async (t) => {
  const first = /sha256: ([0-9a-f]{64})/.exec(shippedBytes.toString())![1]!;
  const evil = Buffer.from(shippedBytes.toString().replace(first, 'e'.repeat(64)));
  await t.rejects(parseCatalog(evil, shippedSig, 'catalog.yaml', shippedOpts), { code: 'SECAI_E_CATALOG_INVALID', message: /does not verify/ });
});

t.test('catalog adversarial — the source URL moved to a lookalike host and re-signed with the attacker\'s own key: untrusted', async (t) => {
  const mallory = sodium.crypto_sign_keypair();
  const evil = Buffer.from(shippedBytes.toString().replace(/https:\/\/huggingface\.co\//g, 'https://huggingface.co.evil.com/'));
  const sig = (await signCatalog(evil, b64(mallory.privateKey))).text;
  await t.rejects(parseCatalog(evil, sig, 'catalog.yaml', shippedOpts), { code: 'SECAI_E_CATALOG_INVALID', message: /not a trusted catalog publisher/ });
  // Even with a trusted signature, the lookalike host is outside the allowlist.
  const signedByPublisher = (await signCatalog(evil, b64(publisher.privateKey))).text;
  await t.rejects(parseCatalog(evil, signedByPublisher, 'catalog.yaml', opts), { code: 'SECAI_E_CATALOG_INVALID', message: /outside sources\.allowlist\.yaml/ });
});

t.test('catalog adversarial — a valid signature of another catalog by the same trusted key does not carry over', async (t) => {
  const a = Buffer.from('version: 1\npublisher: p\nmodels: []\n');
  const sigOfA = (await signCatalog(a, b64(publisher.privateKey))).text;
  t.equal((await parseCatalog(a, sigOfA, 'catalog.yaml', opts)).catalog.models.length, 0, 'A with its own signature loads');
  await t.rejects(parseCatalog(shippedBytes, sigOfA, 'catalog.yaml', opts), { code: 'SECAI_E_CATALOG_INVALID', message: /does not verify/ });
});

t.test('catalog adversarial — an oversized catalog or signature file is refused without being read', async (t) => {
  const big = configWith({ 'catalog.yaml': Buffer.alloc(MAX_CATALOG_BYTES + 1, 0x20), 'catalog.yaml.sig': shippedSig });
  await t.rejects(loadCatalog(big, shippedOpts), { code: 'SECAI_E_CATALOG_INVALID', message: /over the 1048576-byte limit/ });
  const bigSig = configWith({ 'catalog.yaml': shippedBytes, 'catalog.yaml.sig': shippedSig + ' '.repeat(10_000) });
  await t.rejects(loadCatalog(bigSig, shippedOpts), { code: 'SECAI_E_CATALOG_INVALID', message: /malformed/ });
  t.equal((await loadCatalog(configWith({ 'catalog.yaml': shippedBytes, 'catalog.yaml.sig': shippedSig }), shippedOpts)).signer.name, 'secai-catalog-2026', 'the real pair loads');
});

t.test('catalog adversarial — a trusted publisher\'s YAML alias bomb is bounded: refused, not expanded', async (t) => {
  const bomb = Buffer.from(`version: 1\npublisher: p\na: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\nmodels: []\n`);
  const sig = (await signCatalog(bomb, b64(publisher.privateKey))).text;
  await t.rejects(parseCatalog(bomb, sig, 'catalog.yaml', opts), { code: 'SECAI_E_CATALOG_INVALID' });
});

t.test('catalog adversarial — not UTF-8, or a second YAML document, is refused even when signed', async (t) => {
  for (const bytes of [Buffer.from([0x76, 0x65, 0x72, 0xff, 0xfe]), Buffer.from('version: 1\npublisher: p\nmodels: []\n---\nversion: 1\n')]) {
    const sig = (await signCatalog(bytes, b64(publisher.privateKey))).text;
    await t.rejects(parseCatalog(bytes, sig, 'catalog.yaml', opts), { code: 'SECAI_E_CATALOG_INVALID' });
  }
});
