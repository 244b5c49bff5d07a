// One config owner, in a real appliance: `securectl policy reload` reaches the vault, quarantine, inference and
// airlock actors (each applies its policy section, and behaviour changes); a bad file changes nothing; a forged
// reloaded event from another identity is refused by the bus and changes nothing.
import t from 'tap';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { encode } from '../../bus/codec.js';
import { loadIdentity } from '../../bus/identities.js';
import { ensureOperatorKey } from '../../bus/operator-keys.js';
import { homePaths } from '../../common/paths.js';
import { parsePolicy } from '../../policy/snapshot.js';
import { sectionsOf, type SectionName } from '../../policy/sections.js';
import { writeTinyLlama } from '../fixtures/tiny-llama.js';
import { disposeAppliance, ROOT, startAppliance } from '../helpers/appliance.js';
import { startModelServer } from '../helpers/download-server.js';
import { policyText } from '../policy/helpers.js';
import { httpFetch } from '../helpers/http.js';

const server = await startModelServer();
t.teardown(() => server.stop());
const config = mkdtempSync(join(tmpdir(), 'secai-config-'));
const models = mkdtempSync(join(tmpdir(), 'secai-models-'));
t.teardown(() => { rmSync(config, { recursive: true, force: true }); rmSync(models, { recursive: true, force: true }); });
for (const f of readdirSync(join(ROOT, 'policy'))) if (f.endsWith('.yaml')) copyFileSync(join(ROOT, 'policy', f), join(config, f));

const base = policyText();
const inferenceOf = (p: Record<string, unknown>) => ({ ...(parse(base).inference as object), ...p });
const destination = { id: 'models', host: 'models.test', schemes: ['http'], ports: [80], methods: ['GET'], path_prefix: '/m/' };
/** The test's policy: stage 6 off (no behavioral run), the airlock on in its loopback test mode, plus `patch`. */
function policy(patch: Record<string, Record<string, unknown>> = {}): string {
  return policyText({
    ...patch,
    inference: inferenceOf({ behavioral: { enabled: false, max_critical_hits: 0, max_score: 0.3, max_tokens: 48, threads: 1, sequences: 4, context_size: 1024, early_stop: true, category_max_tokens: {} }, ...patch['inference'] }),
    airlock: { enabled: true, allow_loopback_for_tests: true, destinations: [destination], ...patch['airlock'] },
  });
}
function parse(text: string): Record<string, unknown> {
  return parsePolicy(text, 'policy.yaml', '/h').value as unknown as Record<string, unknown>;
}
writeFileSync(join(config, 'policy.yaml'), policy());

const a = await startAppliance({
  env: { SECAI_CONFIG: config, SECAI_TEST: '1', SECAI_TEST_AIRLOCK_HOSTS: `models.test=127.0.0.1:${server.port}` },
  timeoutMs: 60_000,
});
t.teardown(() => disposeAppliance(a));
const paths = homePaths(a.home);
// securectl makes the operator key on first use; the test signs its own commands with the same key.
if (a.ctl(['policy', 'show', '--json']).code !== 0) throw new Error(`policy show failed:\n${a.output()}`);
const key = await ensureOperatorKey(paths.operatorKey, paths.trustedOperators);
const cli = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'cli'), reconnect: false });
// A stand-in for the quarantine's airlock calls (the ACL lets only the quarantine identity request downloads).
const quarantine = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'quarantine'), reconnect: false });
t.teardown(async () => { await cli.close(); await quarantine.close(); });

/** The section digests an actor applies now (ping reports them). */
const applied = async (actor: string) => (await cli.command<{ sections?: Record<string, string> }>(key, actor, 'ping')).sections ?? {};
const digestOf = (text: string, name: SectionName) => sectionsOf(parsePolicy(text, 'policy.yaml', a.home).value)[name].digest;

/** Waits (bounded) until every actor applies the section digests of `text`: the reload has landed. */
async function landed(text: string, owners: Record<string, readonly SectionName[]>): Promise<void> {
  for (const [actor, names] of Object.entries(owners)) {
    for (let i = 0; ; i++) {
      const got = await applied(actor);
      if (names.every((n) => got[n] === digestOf(text, n))) break;
      if (i > 200) throw new Error(`${actor} did not apply ${names.join(', ')}: ${JSON.stringify(got)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
function reload(text: string) {
  writeFileSync(join(config, 'policy.yaml'), text);
  return a.ctl(['policy', 'reload', '--json']);
}
const download = (path: string) => quarantine.request<{ status: number; id?: string }>('airlock', 'download', { url: `http://models.test${path}`, maxBytes: 16 * 1024 * 1024, maxMs: 30_000 }, 30_000);
const complete = async (max: number) => {
  const res = await httpFetch(`${a.httpUrl}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tiny-a', prompt: 'the world', max_tokens: max, temperature: 0 }),
  });
  const body = await res.json() as { usage?: { completion_tokens: number } };
  if (res.status !== 200) throw new Error(`completion failed: ${res.status} ${JSON.stringify(body)}`);
  return body.usage!.completion_tokens;
};

const owners = { vault: ['vault'], auth: ['vault'], quarantine: ['quarantine', 'inference'], inference: ['inference'], airlock: ['airlock', 'models'], gateway: ['local_api'] } as const satisfies Record<string, readonly SectionName[]>;

t.test('config reload — each actor applies its section at start, with the digest the policy actor computes', async (t) => {
  const text = readFileSync(join(config, 'policy.yaml'), 'utf8');
  await landed(text, owners);
  t.pass('vault, auth, quarantine, inference, airlock and gateway apply the sections of the file in force');
});

t.test('config reload — vault, quarantine, inference and airlock change behaviour on securectl policy reload', async (t) => {
  // Before: the vault idles out after 30 min, a tiny model imports, generation honours a request for 6 tokens,
  // and models.test is reachable through the airlock.
  t.equal(a.ctl(['vault', 'status', '--json']).json().idleMs, 30 * 60_000);
  writeTinyLlama(join(models, 'tiny-a.gguf'));
  writeTinyLlama(join(models, 'tiny-b.gguf'));
  const imported = a.ctl(['models', 'import', join(models, 'tiny-a.gguf'), '--json'], { timeoutMs: 180_000 });
  t.equal(imported.code, 0, `tiny-a is promoted: ${imported.stdout}${imported.stderr}`);
  t.equal(await complete(6), 6, 'six tokens as asked');
  const before = await download('/m/big.gguf');
  t.equal(before.status, 200, 'models.test is allowed');
  if (before.id) await quarantine.request('airlock', 'download_cancel', { id: before.id });
  t.match(a.ctl(['airlock', 'status', '--json']).json().destinations, [/models\.test/]);

  const text = policy({
    vault: { idle_lock_minutes: 7 },
    quarantine: { max_file_bytes: 1024 },
    inference: { max_tokens: 2 },
    airlock: { destinations: [{ ...destination, id: 'other', host: 'other.test' }] },
  });
  const r = reload(text);
  t.equal(r.code, 0, r.stdout + r.stderr);
  t.match(r.json(), { changed: true, restart: [] });
  t.same([...r.json().sections].sort(), ['airlock', 'inference', 'quarantine', 'vault']);
  await landed(text, owners);

  t.equal(a.ctl(['vault', 'status', '--json']).json().idleMs, 7 * 60_000, 'vault: the idle lock follows idle_lock_minutes');
  const refused = a.ctl(['models', 'import', join(models, 'tiny-b.gguf'), '--json'], { timeoutMs: 180_000 });
  t.equal(refused.code, 2, 'quarantine: the same kind of import is now refused');
  t.match(refused.stdout + refused.stderr, /over the 1024-byte limit \(quarantine\.max_file_bytes\)/);
  t.equal(await complete(6), 2, 'inference: a request for 6 tokens gets max_tokens = 2');
  await t.rejects(download('/m/big.gguf'), { code: 'SECAI_E_EGRESS_DENIED' }, 'airlock: the host that was allowed is refused');
  t.match(a.ctl(['airlock', 'status', '--json']).json().destinations, [/other\.test/], 'airlock: its status shows the new destinations');
});

t.test('config reload — a key that applies only after a restart is named in the reply', async (t) => {
  const current = readFileSync(join(config, 'policy.yaml'), 'utf8');
  const doc = parse(current) as { inference: Record<string, unknown> };
  const text = policy({
    vault: { idle_lock_minutes: 7 },
    quarantine: { max_file_bytes: 1024 },
    inference: { max_tokens: 2, context_size: Number(doc.inference['context_size']) * 2 },
    airlock: { destinations: [{ ...destination, id: 'other', host: 'other.test' }] },
  });
  const r = reload(text);
  t.equal(r.code, 0, r.stdout + r.stderr);
  t.same(r.json().sections, ['inference']);
  t.match(r.json().restart, [{ section: 'inference', keys: ['context_size'], reason: /loaded model keeps the worker/ }]);
  const plain = a.ctl(['policy', 'reload']);
  t.equal(plain.code, 0);
  t.match(plain.stdout, /unchanged/, 'the same file again changes nothing');
  await landed(text, owners);
});

t.test('config reload — an invalid policy is refused and nothing changes (fail closed)', async (t) => {
  const good = readFileSync(join(config, 'policy.yaml'), 'utf8');
  const before = Object.fromEntries(await Promise.all(Object.keys(owners).map(async (n) => [n, await applied(n)] as const)));
  const r = reload(good.replace('idle_lock_minutes: 7', 'idle_lock_minutes: 0').replace('max_file_bytes: 1024', 'max_file_bytes: big'));
  t.equal(r.code, 2, 'the reload fails');
  t.match(r.json().error, { code: 'SECAI_E_CONFIG_INVALID', message: /policy\.yaml:\d+: \/vault\/idle_lock_minutes/ });
  for (const n of Object.keys(owners)) t.same(await applied(n), before[n], `${n} applies what it applied before`);
  t.equal(a.ctl(['vault', 'status', '--json']).json().idleMs, 7 * 60_000, 'the vault keeps its idle limit');
  writeFileSync(join(config, 'policy.yaml'), good);
});

t.test('config reload — a reloaded event forged by another identity is refused by the bus and changes nothing', async (t) => {
  const vault = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'vault'), reconnect: false });
  t.teardown(() => vault.close());
  const errors: string[] = [];
  void (async () => { for await (const s of vault.nc.status()) if (s.type === 'error') errors.push(String((s as { error?: unknown }).error)); })();
  const before = await applied('vault');
  // The file on disk changes too: an actor that believed the event and read the file itself would pick it up.
  writeFileSync(join(config, 'policy.yaml'), readFileSync(join(config, 'policy.yaml'), 'utf8').replace('idle_lock_minutes: 7', 'idle_lock_minutes: 1'));
  vault.nc.publish('secai.evt.policy.reloaded', encode({ digest: 'f'.repeat(64), previous: 'e'.repeat(64), path: '/x', changed: ['vault'], restart: [] }));
  await vault.nc.flush();
  for (let i = 0; i < 200 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
  t.match(errors.join('\n'), /permission/i, 'the bus refused the publish');
  t.same(await applied('vault'), before, 'the vault applies the same section');
  t.equal(a.ctl(['vault', 'status', '--json']).json().idleMs, 7 * 60_000, 'and keeps its idle limit');
});
