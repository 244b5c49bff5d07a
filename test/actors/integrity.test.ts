// The integrity monitor in a real appliance: real files, real inotify, real signed commands. Legitimate changes (a promotion,
// a signed policy reload) raise nothing; a canary read, a changed model, a policy edit outside a reload and a forged baseline
// are each detected; a rebaseline accepts only the diff it quotes, and only when signed by a trusted operator.
import t from 'tap';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { loadIdentity } from '../../bus/identities.js';
import { ensureOperatorKey } from '../../bus/operator-keys.js';
import { getSodium } from '../../common/sodium.js';
import { keyIdOf } from '../../bus/envelope.js';
import { homePaths } from '../../common/paths.js';
import { writeTinyLlama } from '../fixtures/tiny-llama.js';
import { disposeAppliance, ROOT, startAppliance } from '../helpers/appliance.js';
import { policyText } from '../policy/helpers.js';
import { parsePolicy } from '../../policy/snapshot.js';

const config = mkdtempSync(join(tmpdir(), 'secai-config-'));
const models = mkdtempSync(join(tmpdir(), 'secai-models-'));
t.teardown(() => { rmSync(config, { recursive: true, force: true }); rmSync(models, { recursive: true, force: true }); });
for (const f of readdirSync(join(ROOT, 'policy'))) if (f.endsWith('.yaml')) copyFileSync(join(ROOT, 'policy', f), join(config, f));
const base = parsePolicy(policyText(), 'policy.yaml', '/h').value as unknown as Record<string, Record<string, unknown>>;
/** Stage 6 off (no behavioural run); a short grace so a policy edit without reload becomes a finding quickly. */
const policy = (maxTokens: number) => policyText({
  inference: { ...base['inference'], max_tokens: maxTokens, behavioral: { ...(base['inference']!['behavioral'] as object), enabled: false } },
  integrity: { ...base['integrity'], scan_interval_seconds: 2, pending_grace_seconds: 3, escalate_after: 100 },
});
writeFileSync(join(config, 'policy.yaml'), policy(2048));

const a = await startAppliance({ env: { SECAI_CONFIG: config, SECAI_TEST: '1' }, timeoutMs: 60_000 });
t.teardown(() => disposeAppliance(a));
const paths = homePaths(a.home);
if (a.ctl(['policy', 'show', '--json']).code !== 0) throw new Error(`policy show failed:\n${a.output()}`);
const key = await ensureOperatorKey(paths.operatorKey, paths.trustedOperators);
const cli = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'cli'), reconnect: false });
t.teardown(() => cli.close());

interface Status { state: string; generation: number; findings: { key: string; class: string; level: string; summary: string; path: string; model?: string; count: number }[]; pending: unknown[]; canaries: { path: string; watching: boolean }[]; lastScan: { at: number } | null }
const status = () => cli.command<Status>(key, 'integrity', 'status');
async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms: ${JSON.stringify(v).slice(0, 2000)}\n${a.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
/** Two full scans after `since`: whatever they would find is found by then. */
const scannedSince = async (since: number) => {
  const first = await until('a scan', status, (s) => (s.lastScan?.at ?? 0) > since);
  return until('a second scan', status, (s) => (s.lastScan?.at ?? 0) > first.lastScan!.at);
};
const detections = () => {
  const r = a.ctl(['audit', 'tail', '-n', '200', '--subject', 'secai.evt.integrity.detection', '--json']);
  return (r.json().records as { payload: { class: string; key: string; target: { model?: string; path?: string }; evidence: Record<string, unknown> } }[]).map((x) => x.payload);
};

await until('the monitor is trusted with its canaries watched', status, (s) => s.state === 'trusted' && s.canaries.length === 4 && s.canaries.every((c) => c.watching));

t.test('integrity — a promoted model and a signed policy reload raise no finding', async (t) => {
  writeTinyLlama(join(models, 'tiny.gguf'));
  const r = a.ctl(['models', 'import', join(models, 'tiny.gguf'), '--json'], { timeoutMs: 180_000 });
  t.equal(r.code, 0, r.code === 0 ? "promoted" : `not promoted: ${r.stdout.slice(0, 2000)}${r.stderr}`);
  writeFileSync(join(config, 'policy.yaml'), policy(1000));
  const rl = a.ctl(['policy', 'reload', '--json']);
  t.equal(rl.code, 0, rl.stdout + rl.stderr);
  const s = await scannedSince(Date.now());
  t.same(s.findings, [], 'no finding');
  t.equal(s.state, 'trusted');
  t.same(s.pending, [], 'nothing left pending');
  t.ok(s.generation > 1, 'the baseline took the promotion and the reload');
});

t.test('integrity — reading a canary is an unauthorized_access detection at once', async (t) => {
  const canary = join(paths.vault, 'recovery-key.txt');
  const t0 = Date.now();
  readFileSync(canary);
  const s = await until('the canary finding', status, (x) => x.findings.some((f) => f.key === `canary:${canary}`), 5000);
  t.ok(Date.now() - t0 < 5000, `seen after ${Date.now() - t0} ms`);
  t.equal(s.state, 'degraded');
  const d = await until('the detection in the audit chain', async () => detections(), (ds) => ds.some((x) => x.class === 'unauthorized_access' && x.target.path === canary));
  t.ok(d.length > 0);
});

t.test('integrity — a deleted canary is reported and planted again', async (t) => {
  const canary = join(paths.registry, 'hf-token.txt');
  rmSync(canary);
  const s = await until('reported removed', status, (x) => x.findings.some((f) => f.key === `canary:${canary}` && /removed/.test(f.summary)), 5000);
  t.ok(s);
  await until('planted again and watched', async () => existsSync(canary) && (await status()).canaries.every((c) => c.watching), (v) => v, 5000);
  t.pass('the canary is back');
});

t.test('integrity — a changed registry model file is a manifest_mismatch naming the model', async (t) => {
  const entry = (JSON.parse(readFileSync(join(paths.registry, 'manifest.json'), 'utf8')) as { entries: { name: string; path: string }[] }).entries[0]!;
  const file = join(paths.registry, entry.path);
  chmodSync(join(file, '..'), 0o755);
  chmodSync(file, 0o644);
  const bytes = readFileSync(file);
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
  writeFileSync(file, bytes);
  const s = await until('the model finding', status, (x) => x.findings.some((f) => f.path === file && f.class === 'manifest_mismatch'), 10_000);
  t.equal(s.findings.find((f) => f.path === file)!.model, entry.name);
  const d = await until('the detection', async () => detections(), (ds) => ds.some((x) => x.class === 'manifest_mismatch' && x.target.model === entry.name));
  t.ok(d);
});

t.test('integrity — policy.yaml changed outside a signed reload is an integrity_violation and recovery_required', async (t) => {
  const file = join(config, 'policy.yaml');
  writeFileSync(file, policy(999));
  const pending = await until('pending first', status, (x) => x.pending.length > 0, 10_000);
  t.ok(pending.pending.length, 'the edit waits for its reload');
  const s = await until('the finding after the grace', status, (x) => x.findings.some((f) => f.path === file && f.class === 'integrity_violation'), 15_000);
  t.equal(s.state, 'recovery_required');
});

t.test('integrity — a forged baseline is detected', async (t) => {
  const file = join(a.home, 'integrity', 'baseline.json');
  const b = JSON.parse(readFileSync(file, 'utf8')) as { entries: Record<string, { sha256: string }> };
  const first = Object.keys(b.entries)[0]!;
  b.entries[first]!.sha256 = '0'.repeat(64);
  writeFileSync(file, JSON.stringify(b));
  const s = await until('the baseline finding', status, (x) => x.findings.some((f) => f.key === 'baseline'), 10_000);
  t.match(s.findings.find((f) => f.key === 'baseline')!.summary, /signature/);
});

t.test('integrity — rebaseline refuses a stale digest and an unknown key, and accepts exactly the diff shown', async (t) => {
  const d = a.ctl(['integrity', 'diff', '--json']);
  t.equal(d.code, 1, d.code === 1 ? "diff lists changes" : d.stdout + d.stderr);
  const diff = d.json() as { digest: string; total: number; changes: { path: string }[] };
  t.ok(diff.changes.some((c) => c.path === join(config, 'policy.yaml')), 'the diff lists the policy edit');
  // Something else changes after the diff was shown: its digest no longer matches.
  writeFileSync(join(config, 'policy.yaml'), policy(998));
  const stale = a.ctl(['integrity', 'rebaseline', '--confirm', diff.digest, '--json']);
  t.equal(stale.code, 2);
  t.match(stale.json(), { ok: false, error: { code: 'SECAI_E_DIGEST_MISMATCH' } });
  // A key the appliance does not trust cannot rebaseline, whatever digest it quotes.
  const sodium = await getSodium();
  const kp = sodium.crypto_sign_keypair();
  const stranger = { keyId: keyIdOf(kp.publicKey), publicKey: kp.publicKey, secretKey: kp.privateKey };
  const fresh = a.ctl(['integrity', 'diff', '--json']).json() as { digest: string };
  await t.rejects(cli.command(stranger, 'integrity', 'rebaseline', { confirm: fresh.digest }), { code: 'SECAI_E_KEY_UNKNOWN' });
  t.equal((await status()).state, 'recovery_required', 'still recovery_required');
  const ok = a.ctl(['integrity', 'rebaseline', '--confirm', fresh.digest, '--json']);
  t.equal(ok.code, 0, ok.stdout + ok.stderr);
  const s = await status();
  t.equal(s.state, 'trusted');
  t.same(s.findings, []);
  const st = a.ctl(['integrity', 'status', '--json']);
  t.equal(st.code, 0, `the CLI says trusted too: ${st.stdout}${st.stderr}`);
});
