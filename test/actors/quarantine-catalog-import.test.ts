// Catalog imports on a real appliance (built dist/, real bus, real airlock) from a local HTTPS model server: the
// catalog is signed by a test publisher that this appliance's policy trusts (quarantine.catalog_signers). A file that
// matches its entry's pin is promoted; one that does not is rejected at stage 3 with both hashes in the reason.
import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { disposeAppliance, SECURECTL_BIN, startAppliance } from '../helpers/appliance.js';
import { sha256 as sha, startCatalogOrigin } from '../helpers/catalog-origin.js';

t.setTimeout(600_000);
const origin = await startCatalogOrigin();
t.teardown(() => origin.dispose());
const { config, server, tiny, other, catalog } = origin;

const a = await startAppliance({ env: origin.env, timeoutMs: 120_000 });
t.teardown(() => disposeAppliance(a));
// Not a.ctl (spawnSync): the model server lives in this process and must keep answering while securectl waits.
function ctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string; json: () => any }> {
  const child = spawn(process.execPath, [SECURECTL_BIN, ...args], { env: a.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
  return new Promise((res) => child.once('close', (code) => { clearTimeout(timer); res({ code: code ?? -1, stdout, stderr, json: () => JSON.parse(stdout) }); }));
}

t.test('catalog import — securectl models catalog lists the entries of the catalog the test publisher signed', async (t) => {
  const r = await ctl(['models', 'catalog', '--json']);
  t.equal(r.code, 0, r.stderr);
  const c = r.json();
  t.match(c, { publisher: 'test publisher', signer: { name: 'test-publisher' }, digest: sha(catalog) });
  t.same(c.models.map((m: { id: string }) => m.id), ['tiny', 'tiny-swapped']);
  t.match(c.models[0], { sha256: sha(tiny), sourceUrl: 'https://models.test/org/tiny/resolve/main/tiny-cat.gguf', pinVerified: true });
});

t.test('catalog import — a download that matches its pin passes stage 3 and is promoted (exit 0)', async (t) => {
  const r = await ctl(['models', 'pull', 'tiny', '--json']);
  t.equal(r.code, 0, `exit 0 (promoted) ${r.stderr.slice(-500)}`);
  const v = r.json();
  t.equal(v.outcome, 'promoted');
  t.equal(v.sha256, sha(tiny));
  const integrity = v.results.find((x: { stage: string }) => x.stage === 'integrity');
  t.match(integrity, { verdict: 'pass', reason: /matches the pin for catalog:tiny/ });
  const report = (await ctl(['models', 'report', v.id, '--json'])).json();
  t.match(report.origin, { type: 'url', url: 'https://models.test/org/tiny/resolve/main/tiny-cat.gguf', catalog: { id: 'tiny', sha256: sha(tiny), catalogDigest: sha(catalog) } }, 'the job records the catalog entry and version it came from');
  t.ok(server.hits.includes('/org/tiny/resolve/main/tiny-cat.gguf'), 'fetched from the origin through the airlock');
  t.ok((await ctl(['models', 'list', '--json'])).json().models.some((m: { name: string; sha256: string }) => m.name === 'tiny-cat' && m.sha256 === sha(tiny)), 'in the registry');
});

t.test('catalog import — a download that does not match its pin is rejected at stage 3 with both hashes (exit 1)', async (t) => {
  const r = await ctl(['models', 'pull', 'tiny-swapped', '--json']);
  t.equal(r.code, 1, `exit 1 (rejected) ${r.stderr.slice(-500)}`);
  const v = r.json();
  t.equal(v.outcome, 'rejected');
  const integrity = v.results.find((x: { stage: string }) => x.stage === 'integrity');
  t.equal(integrity.verdict, 'fail');
  t.match(integrity.reason, new RegExp(`catalog entry tiny-swapped pins ${sha(tiny)}, the downloaded file is ${sha(other)}`), 'expected and found, whole');
  t.match(v.reason, /integrity/);
  t.notOk((await ctl(['models', 'list', '--json'])).json().models.some((m: { name: string }) => m.name === 'tiny-swapped'), 'not in the registry');
});

t.test('catalog import — an unknown id, and a catalog changed after signing, are errors (exit 2) and download nothing', async (t) => {
  const hits = server.hits.length;
  const unknown = await ctl(['models', 'pull', 'no-such-model']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /SECAI_E_CATALOG_UNKNOWN/);
  // One byte changed in the appliance's own config folder: the catalog is read per request, so it is refused at once.
  const tampered = Buffer.from(catalog);
  const at = tampered.indexOf(sha(tiny));
  tampered[at] = tampered[at] === 0x30 ? 0x31 : 0x30;
  writeFileSync(join(config, 'catalog.yaml'), tampered);
  const list = await ctl(['models', 'catalog']);
  t.equal(list.code, 2);
  t.match(list.stderr, /does not verify.*SECAI_E_CATALOG_INVALID/);
  const pull = await ctl(['models', 'pull', 'tiny']);
  t.equal(pull.code, 2);
  t.match(pull.stderr, /does not verify.*SECAI_E_CATALOG_INVALID/);
  t.equal(server.hits.length, hits, 'no request reached the origin');
  writeFileSync(join(config, 'catalog.yaml'), catalog);
  t.equal((await ctl(['models', 'catalog'])).code, 0, 'the signed bytes again: usable again');
});
