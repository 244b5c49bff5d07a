// Test helper: a config folder whose model catalog is signed by a test publisher that its policy trusts
// (quarantine.catalog_signers), with a local HTTPS origin (models.test) serving the catalog's files through the airlock.
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { getSodium } from '../../common/sodium.js';
import { signCatalog } from '../../policy/catalog.js';
import { encodeTinyLlama } from '../fixtures/tiny-llama.js';
import { POLICY_FILE, policyText } from '../policy/helpers.js';
import { ROOT } from './appliance.js';
import { startModelServer, type ModelServer } from './download-server.js';

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export interface CatalogOrigin {
  config: string;
  server: ModelServer;
  /** What the `tiny` entry pins and the origin serves. */
  tiny: Buffer;
  /** What the origin serves for `tiny-swapped`, whose entry pins `tiny`'s hash (a swapped or corrupted mirror). */
  other: Buffer;
  /** catalog.yaml's signed bytes. */
  catalog: Buffer;
  /** The appliance's environment: the config, the airlock's test switch and its map of models.test to the origin. */
  env: Record<string, string>;
  dispose(): Promise<void>;
}

export async function startCatalogOrigin(o: { policyEdit?: (yaml: string) => string } = {}): Promise<CatalogOrigin> {
  const tiny = encodeTinyLlama();
  const other = encodeTinyLlama({ seed: 7 });
  const server = await startModelServer({
    tls: { host: 'models.test' },
    files: { '/org/tiny/resolve/main/tiny-cat.gguf': tiny, '/org/tiny/resolve/main/tiny-swapped.gguf': other },
  });
  const sodium = await getSodium();
  const publisher = sodium.crypto_sign_keypair();
  const config = mkdtempSync(join(tmpdir(), 'secai-catalog-config-'));
  cpSync(join(ROOT, 'policy'), config, { recursive: true });
  const shipped = parse(readFileSync(POLICY_FILE, 'utf8')) as { quarantine: { stages: Record<string, unknown> } };
  const text = policyText({
    airlock: {
      enabled: true, allow_loopback_for_tests: true, timeout_ms: 5000,
      destinations: [{ id: 'models', host: 'models.test', schemes: ['https'], ports: [443], methods: ['GET'], path_prefix: '/org/' }],
    },
    // The behavioral stage (a model run in the sandbox) has its own tests; here the pin is what is judged.
    quarantine: { stages: { ...shipped.quarantine.stages, behavioral_test: 'off' }, catalog_signers: [{ name: 'test-publisher', public_key: Buffer.from(publisher.publicKey).toString('base64') }] },
  });
  writeFileSync(join(config, 'policy.yaml'), o.policyEdit ? o.policyEdit(text) : text);
  writeFileSync(join(config, 'sources.allowlist.yaml'), 'version: 1\nsources:\n  - { host: models.test, subdomains: false, path_prefix: /org/ }\nip_literals: []\n');
  const entry = (id: string, file: string, pin: string) => ({
    id, name: id, family: 'llama', format: 'gguf', size_bytes: tiny.length, license: 'Apache-2.0',
    source_url: `https://models.test/org/tiny/resolve/main/${file}`, sha256: pin, pin_verified: true, pin_source: 'hashed by this test', tags: ['test'],
  });
  const models = [entry('tiny', 'tiny-cat.gguf', sha256(tiny)), entry('tiny-swapped', 'tiny-swapped.gguf', sha256(tiny))];
  const catalog = Buffer.from(`version: 1\npublisher: test publisher\nmodels:\n${models.map((m) => `  - ${JSON.stringify(m)}\n`).join('')}`);
  writeFileSync(join(config, 'catalog.yaml'), catalog);
  writeFileSync(join(config, 'catalog.yaml.sig'), (await signCatalog(catalog, Buffer.from(publisher.privateKey).toString('base64'))).text);
  return {
    config, server, tiny, other, catalog,
    env: { SECAI_CONFIG: config, SECAI_TEST: '1', SECAI_TEST_AIRLOCK_HOSTS: `models.test=127.0.0.1:${server.port}`, SECAI_TEST_AIRLOCK_CA: server.certPath! },
    dispose: async () => { await server.stop(); rmSync(config, { recursive: true, force: true }); },
  };
}
