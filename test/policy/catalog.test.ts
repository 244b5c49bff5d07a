// The signed model catalog: the shipped one verifies; a changed byte, another signer, an unknown key, a schema
// violation or a source URL outside the allowlist each refuse the whole file with SECAI_E_CATALOG_INVALID.
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getSodium } from '../../common/sodium.js';
import { catalogOptions } from '../../actors/quarantine/catalog-import.js';
import type { SourcesAllowlist } from '../../actors/quarantine/stages/source.js';
import { CATALOG_SIGNERS } from '../../policy/catalog-signers.js';
import { catalogEntry, keyIdOf, loadCatalog, parseCatalog, signCatalog, type CatalogOptions } from '../../policy/catalog.js';
import { parseConfig } from '../../policy/load.js';
import { ROOT } from '../helpers/appliance.js';

const sodium = await getSodium();
const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');
const testKey = sodium.crypto_sign_keypair();
const otherKey = sodium.crypto_sign_keypair();
const allowlist = parseConfig<SourcesAllowlist>(readFileSync(join(ROOT, 'policy', 'sources.allowlist.yaml'), 'utf8'), 'sources.allowlist.schema.json', 'sources.allowlist.yaml').value;
const shipped = catalogOptions({ catalogSigners: [], source: { allowlist, local: 'warn' } });
const trustingTest: CatalogOptions = { ...shipped, signers: [...CATALOG_SIGNERS, { name: 'test-publisher', publicKey: b64(testKey.publicKey) }] };

const entry = (over: Record<string, unknown> = {}) => ({
  id: 'tiny', name: 'Tiny', family: 'llama', format: 'gguf', size_bytes: 1234, license: 'Apache-2.0',
  source_url: 'https://huggingface.co/org/tiny-GGUF/resolve/main/tiny.gguf', sha256: 'a'.repeat(64),
  pin_verified: true, pin_source: 'hashed by the test', tags: ['small'], ...over,
});
const yamlOf = (models: unknown[]) => Buffer.from(`version: 1\npublisher: test\nmodels:\n${models.map((m) => `  - ${JSON.stringify(m)}\n`).join('')}`);
const signed = async (bytes: Buffer, secret = testKey.privateKey) => (await signCatalog(bytes, b64(secret))).text;

async function refused(t: Test, p: Promise<unknown>, why: RegExp) {
  await t.rejects(p, { code: 'SECAI_E_CATALOG_INVALID', message: why });
}

t.test('catalog — the shipped catalog.yaml verifies with the built-in publisher key and lists real Hugging Face models', async (t) => {
  const c = await loadCatalog(join(ROOT, 'policy'), shipped);
  t.equal(c.signer.name, 'secai-catalog-2026');
  t.ok(c.catalog.models.length >= 2);
  for (const m of c.catalog.models) {
    t.match(m.source_url, /^https:\/\/huggingface\.co\//, `${m.id} comes from huggingface.co`);
    t.match(m.sha256, /^[0-9a-f]{64}$/);
    t.equal(typeof m.pin_verified, 'boolean', `${m.id} says whether its pin was verified`);
  }
  t.ok(Object.isFrozen(c.catalog.models[0]), 'frozen');
  t.equal(catalogEntry(c, c.catalog.models[0]!.id).id, c.catalog.models[0]!.id);
  t.throws(() => catalogEntry(c, 'no-such-model'), { code: 'SECAI_E_CATALOG_UNKNOWN' });
});

t.test('catalog — a catalog signed by a trusted test key loads, with its digest and signer', async (t) => {
  const bytes = yamlOf([entry()]);
  const c = await parseCatalog(bytes, await signed(bytes), 'catalog.yaml', trustingTest);
  t.same(c.signer, { name: 'test-publisher', keyId: keyIdOf(testKey.publicKey) });
  t.match(c.digest, /^[0-9a-f]{64}$/);
  t.equal(c.catalog.models[0]!.sha256, 'a'.repeat(64));
});

t.test('catalog — one changed byte after signing refuses the whole file', async (t) => {
  const bytes = yamlOf([entry()]);
  const sig = await signed(bytes);
  const tampered = Buffer.from(bytes);
  const at = tampered.indexOf('aaaa');
  tampered[at] = 'b'.charCodeAt(0); // the pin an attacker would swap for their own file's hash
  await refused(t, parseCatalog(tampered, sig, 'catalog.yaml', trustingTest), /does not verify/);
  await refused(t, parseCatalog(Buffer.concat([bytes, Buffer.from('\n')]), sig, 'catalog.yaml', trustingTest), /does not verify/);
  // The shipped file too: a copy with one byte changed no longer verifies against its shipped signature.
  const real = readFileSync(join(ROOT, 'policy', 'catalog.yaml'));
  const realSig = readFileSync(join(ROOT, 'policy', 'catalog.yaml.sig'), 'utf8');
  const copy = Buffer.from(real);
  copy[copy.length - 2] = copy[copy.length - 2]! ^ 1;
  await refused(t, parseCatalog(copy, realSig, 'catalog.yaml', shipped), /does not verify/);
});

t.test('catalog — a signature by another key, claiming a trusted key id, is refused', async (t) => {
  const bytes = yamlOf([entry()]);
  const forged = (await signed(bytes, otherKey.privateKey)).replace(keyIdOf(otherKey.publicKey), keyIdOf(testKey.publicKey));
  await refused(t, parseCatalog(bytes, forged, 'catalog.yaml', trustingTest), /does not verify with test-publisher's key/);
});

t.test('catalog — a signature by a key that no one trusts is refused, naming the key', async (t) => {
  const bytes = yamlOf([entry()]);
  await refused(t, parseCatalog(bytes, await signed(bytes, otherKey.privateKey), 'catalog.yaml', trustingTest), new RegExp(`key ${keyIdOf(otherKey.publicKey)}, which is not a trusted catalog publisher`));
  // The test key itself is not trusted by the shipped options: a config folder cannot sign its own catalog.
  await refused(t, parseCatalog(bytes, await signed(bytes), 'catalog.yaml', shipped), /not a trusted catalog publisher/);
});

t.test('catalog — no signature, or a malformed one, is refused', async (t) => {
  const bytes = yamlOf([entry()]);
  await refused(t, parseCatalog(bytes, null, 'catalog.yaml', trustingTest), /no signature/);
  await refused(t, parseCatalog(bytes, 'not a signature', 'catalog.yaml', trustingTest), /malformed/);
  await refused(t, parseCatalog(bytes, (await signed(bytes)) + 'extra line\n', 'catalog.yaml', trustingTest), /malformed/);
});

t.test('catalog — schema violations refuse the file even when properly signed', async (t) => {
  const cases: [string, unknown[], RegExp][] = [
    ['unknown key', [entry({ mirror: 'https://evil.example/x.gguf' })], /unknown key 'mirror'/],
    ['missing pin', [(({ sha256: _s, ...rest }) => rest)(entry())], /missing key 'sha256'/],
    ['short pin', [entry({ sha256: 'abc' })], /sha256/],
    ['uppercase pin', [entry({ sha256: 'A'.repeat(64) })], /sha256/],
    ['http URL', [entry({ source_url: 'http://huggingface.co/org/m/resolve/main/m.gguf' })], /source_url/],
    ['bad id', [entry({ id: '../x' })], /id/],
    ['unknown format', [entry({ format: 'pickle' })], /format/],
    ['duplicate id', [entry(), entry()], /appears twice/],
  ];
  for (const [what, models, why] of cases) {
    const bytes = yamlOf(models);
    await refused(t, parseCatalog(bytes, await signed(bytes), 'catalog.yaml', trustingTest), why);
    t.pass(what);
  }
});

t.test('catalog — an entry whose source URL is outside the sources allowlist (host or path prefix) refuses the file', async (t) => {
  for (const url of ['https://evil.example/org/m.gguf', 'https://huggingface.co.evil.com/org/m.gguf', 'https://cdn-lfs.hf.co/repos/x/y']) {
    const bytes = yamlOf([entry({ source_url: url })]);
    await refused(t, parseCatalog(bytes, await signed(bytes), 'catalog.yaml', trustingTest), /outside sources\.allowlist\.yaml/);
  }
  // Path prefixes count: an allowlist narrowed to one organisation refuses another's repository.
  const narrow = catalogOptions({ catalogSigners: [{ name: 'test-publisher', publicKey: b64(testKey.publicKey) }], source: { allowlist: { ...allowlist, sources: [{ host: 'huggingface.co', subdomains: false, path_prefix: '/my-org/' }] }, local: 'warn' } });
  const other = yamlOf([entry({ source_url: 'https://huggingface.co/my-org-evil/m/resolve/main/m.gguf' })]);
  await refused(t, parseCatalog(other, await signed(other), 'catalog.yaml', narrow), /not under an allowlisted path/);
  const ok = yamlOf([entry({ source_url: 'https://huggingface.co/my-org/m/resolve/main/m.gguf' })]);
  t.equal((await parseCatalog(ok, await signed(ok), 'catalog.yaml', narrow)).catalog.models.length, 1, 'inside the prefix it loads');
});

t.test('catalog — a missing catalog.yaml is refused, not an empty catalog', async (t) => {
  await refused(t, loadCatalog('/nonexistent-secai-config', shipped), /missing/);
});
