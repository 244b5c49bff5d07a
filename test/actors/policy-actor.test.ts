// The policy engine as a process on a real bus (no full appliance): decisions, atomic signed reload,
// and the events that carry the evidence.
import t from 'tap';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from '../../bus/codec.js';
import { defineManifest } from '../../bus/manifest.js';
import { ensureOperatorKey } from '../../bus/operator-keys.js';
import { policyManifest } from '../../actors/policy/manifest.js';
import { supervisorManifest } from '../../actors/supervisor/manifest.js';
import { startTestBus } from '../helpers/bus.js';
import { ROOT } from '../helpers/appliance.js';

const operator = defineManifest({
  name: 'policyop', kind: 'client', description: 'test', serves: {}, commands: {}, publishes: {},
  requests: [], subscribes: [], sends: ['policy.reload'],
});
const watcher = defineManifest({
  name: 'policywatch', kind: 'client', description: 'test', serves: {}, commands: {}, publishes: {},
  requests: ['policy.decide', 'policy.show'], subscribes: ['policy.*'],
});

t.test('policy actor — decides, reloads atomically by signed command, publishes denies, reloads and allow counts', async (t) => {
  const bus = await startTestBus([supervisorManifest, operator, policyManifest, watcher], { streams: true });
  t.teardown(() => bus.stop());
  const config = mkdtempSync(join(tmpdir(), 'secai-config-'));
  t.teardown(() => rmSync(config, { recursive: true, force: true }));
  for (const f of readdirSync(join(ROOT, 'policy'))) if (f.endsWith('.yaml')) copyFileSync(join(ROOT, 'policy', f), join(config, f));

  const child = spawn(process.execPath, ['--import=tsx', join(ROOT, 'actors', 'policy', 'main.ts')], {
    env: { ...process.env, SECAI_BUS_URL: bus.url, SECAI_HOME: bus.paths.home, SECAI_CONFIG: config, SECAI_POLICY_ALLOW_FLUSH_MS: '300', SECAI_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  t.teardown(() => new Promise<void>((r) => { if (child.exitCode !== null) return r(); child.once('exit', () => r()); child.kill('SIGTERM'); }));
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`policy actor not ready:\n${stderr}`)), 120_000);
    child.on('message', (m: { type?: string }) => { if (m?.type === 'ready') { clearTimeout(timer); res(); } });
    child.once('exit', (c) => { clearTimeout(timer); rej(new Error(`policy actor exited ${c}:\n${stderr}`)); });
  });

  const client = await bus.connect('policywatch');
  const events: { subject: string; data: any }[] = [];
  client.subscribe('secai.evt.policy.*', (m) => { events.push({ subject: m.subject, data: decode(m.data) }); });
  await client.nc.flush();
  const cli = await bus.connect('policyop');
  const key = await ensureOperatorKey(bus.paths.operatorKey, bus.paths.trustedOperators);

  const home = bus.paths.home;
  const ws = { path: join(home, 'workspace', 'a.txt'), access: 'read' };
  const shown = await client.request<{ digest: string; policy: any }>('policy', 'show');
  const d1 = shown.digest;
  t.equal(shown.policy.paths.allow[0].root, join(home, 'workspace'), '$SECAI_HOME bound to the actor\'s home');
  t.match(await client.request('policy', 'decide', { domain: 'path_access', input: ws }), { decision: 'allow', rule: 'workspace', policyDigest: d1 });
  const denied = await client.request<{ inputHash: string }>('policy', 'decide', { domain: 'path_access', input: { path: join(home, 'keys', 'k'), access: 'read' } });
  t.match(denied, { decision: 'deny', rule: 'no-keys' });
  t.match(await client.request('policy', 'decide', { domain: 'teleport', input: {} }), { decision: 'deny', rule: 'unknown-domain' });

  // A bad file: the command fails with the line, and the old policy stays in force.
  const good = readFileSync(join(config, 'policy.yaml'), 'utf8');
  writeFileSync(join(config, 'policy.yaml'), good.replace('case_insensitive: false', 'case_insensitve: false'));
  await t.rejects(cli.command(key, 'policy', 'reload', {}, 30_000), { code: 'SECAI_E_CONFIG_INVALID', message: /policy\.yaml:\d+: \/paths unknown key 'case_insensitve'/ });
  t.equal((await client.request<{ digest: string }>('policy', 'show')).digest, d1, 'old policy still in force');
  t.match(await client.request('policy', 'decide', { domain: 'path_access', input: ws }), { decision: 'allow', policyDigest: d1 });

  // An unsigned or wrongly signed reload never reaches the handler (the bus layer refuses it).
  await t.rejects(client.nc.request('secai.cmd.policy.reload', new Uint8Array(), { timeout: 2000 }), 'the watcher identity may not even send the command');

  // A good file replaces it.
  writeFileSync(join(config, 'policy.yaml'), good.replace('    - { id: workspace, root: $SECAI_HOME/workspace, access: [read, write] }\n', ''));
  const r = await cli.command<{ digest: string; previous: string; changed: boolean }>(key, 'policy', 'reload', {}, 30_000);
  t.match(r, { previous: d1, changed: true });
  t.not(r.digest, d1);
  t.match(await client.request('policy', 'decide', { domain: 'path_access', input: ws }), { decision: 'deny', rule: 'default-deny', policyDigest: r.digest });

  // A burst of allows under the new policy: counted, and published as a handful of summaries.
  const reg = { path: join(home, 'registry', 'm.gguf'), access: 'read' };
  await Promise.all(Array.from({ length: 50 }, () => client.request('policy', 'decide', { domain: 'path_access', input: reg })));
  const total = () => events.filter((e) => e.subject.endsWith('.allows')).flatMap((e) => e.data.counts as { rule: string; n: number }[]).filter((c) => c.rule === 'registry-read').reduce((a, c) => a + c.n, 0);
  for (let i = 0; i < 100 && total() < 50; i++) await new Promise((res) => setTimeout(res, 100));
  const bySubject = (s: string) => events.filter((e) => e.subject === `secai.evt.policy.${s}`);
  t.ok(bySubject('decided').some((e) => e.data.rule === 'no-keys' && e.data.inputHash === denied.inputHash), 'the deny was published with its input hash');
  t.notOk(JSON.stringify(bySubject('decided')).includes('"path"'), 'decision events do not carry the raw input');
  t.match(bySubject('reload_failed')[0]?.data, { kept: d1, error: /case_insensitve/ });
  t.match(bySubject('reloaded')[0]?.data, { previous: d1, digest: r.digest });
  t.equal(total(), 50, 'all 50 allows are counted');
  t.ok(bySubject('allows').length < 10, `in a few summaries (${bySubject('allows').length}), not one event each`);
  t.equal(bySubject('decided').filter((e) => e.data.decision === 'allow').length, 0, 'no allow is published on its own');
});
