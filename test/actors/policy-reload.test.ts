// The policy engine in a real appliance: decisions over securectl, atomic reload (a bad file keeps the old
// policy and fails the command), and the evidence in the audit chain.
import t from 'tap';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { disposeAppliance, ROOT, startAppliance } from '../helpers/appliance.js';

t.test('policy engine — decide, reload atomically, audit the evidence (real appliance)', async (t) => {
  const config = mkdtempSync(join(tmpdir(), 'secai-config-'));
  t.teardown(() => rmSync(config, { recursive: true, force: true }));
  for (const f of readdirSync(join(ROOT, 'policy'))) if (f.endsWith('.yaml')) copyFileSync(join(ROOT, 'policy', f), join(config, f));
  const a = await startAppliance({ env: { SECAI_CONFIG: config, SECAI_POLICY_ALLOW_FLUSH_MS: '500' }, timeoutMs: 60_000 });
  t.teardown(() => disposeAppliance(a));

  const show = a.ctl(['policy', 'show', '--json']);
  t.equal(show.code, 0, show.stderr);
  const d1 = show.json().digest as string;
  t.match(d1, /^[0-9a-f]{64}$/);
  t.equal(show.json().policy.paths.allow[0].root, join(a.home, 'workspace'), '$SECAI_HOME is bound to this appliance');

  const ws = JSON.stringify({ path: join(a.home, 'workspace', 'a.txt'), access: 'read' });
  const allow = a.ctl(['policy', 'decide', 'path_access', ws, '--json']);
  t.equal(allow.code, 0, 'allow exits 0');
  t.match(allow.json(), { decision: 'allow', rule: 'workspace', policyDigest: d1 });
  const keys = a.ctl(['policy', 'decide', 'path_access', JSON.stringify({ path: join(a.home, 'keys', 'x'), access: 'read' })]);
  t.equal(keys.code, 1, 'deny exits 1');
  t.match(keys.stdout, /deny \(path_access, rule no-keys/);
  t.equal(a.ctl(['policy', 'decide', 'tool_access', '{"tool":"fs.write","args":{"path":"/x","content":""}}']).code, 1, 'ask exits 1');
  t.equal(a.ctl(['policy', 'decide', 'path_access', '{not json']).code, 2, 'bad JSON exits 2');
  const unknown = a.ctl(['policy', 'decide', 'teleport', '{}', '--json']);
  t.match(unknown.json(), { decision: 'deny', rule: 'unknown-domain' });

  // A bad file: the command fails, names the line, and the old policy stays in force.
  const good = readFileSync(join(config, 'policy.yaml'), 'utf8');
  writeFileSync(join(config, 'policy.yaml'), good.replace('case_insensitive: false', 'case_insensitve: false'));
  const bad = a.ctl(['policy', 'reload', '--json']);
  t.equal(bad.code, 2, 'a bad reload exits 2');
  t.match(bad.json().error, { code: 'SECAI_E_CONFIG_INVALID', message: /policy\.yaml:\d+: \/paths unknown key 'case_insensitve'/ });
  t.equal(a.ctl(['policy', 'show', '--json']).json().digest, d1, 'the old policy is still in force');
  t.equal(a.ctl(['policy', 'decide', 'path_access', ws]).code, 0, 'and still decides');

  // A good file replaces it.
  writeFileSync(join(config, 'policy.yaml'), good.replace('    - { id: workspace, root: $SECAI_HOME/workspace, access: [read, write] }\n', ''));
  const ok = a.ctl(['policy', 'reload', '--json']);
  t.equal(ok.code, 0, ok.stdout + ok.stderr);
  t.match(ok.json(), { previous: d1, changed: true });
  const d2 = ok.json().digest as string;
  t.not(d2, d1);
  const after = a.ctl(['policy', 'decide', 'path_access', ws, '--json']);
  t.equal(after.code, 1, 'the new policy no longer allows the workspace');
  t.match(after.json(), { decision: 'deny', rule: 'default-deny', policyDigest: d2 });

  const air = a.ctl(['airlock', 'status', '--json']);
  t.equal(air.code, 0, air.stderr);
  t.match(air.json(), { enabled: false, loopbackForTests: false, policyDigest: /^[0-9a-f]{64}$/ });

  // Evidence: denies, the failed and the good reload, and the aggregated allows are in the audit chain.
  let subjects: string[] = [];
  for (let i = 0; i < 40; i++) {
    const tail = a.ctl(['audit', 'tail', '-n', '200', '--subject', 'secai.evt.policy', '--json']);
    subjects = (tail.json().records as { subject: string }[]).map((r) => r.subject);
    if (subjects.includes('secai.evt.policy.allows') && subjects.includes('secai.evt.policy.reloaded')) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  for (const s of ['decided', 'reload_failed', 'reloaded', 'allows']) t.ok(subjects.includes(`secai.evt.policy.${s}`), `audit chain has secai.evt.policy.${s}`);
  t.equal(a.ctl(['audit', 'verify']).code, 0, 'and the chain verifies');
});
