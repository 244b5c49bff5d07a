// Adversarial: policy files that are wrong in small ways fail closed, and the message points at the line.
import t from 'tap';
import { parsePolicy } from '../../policy/snapshot.js';
import { parseConfig } from '../../policy/load.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { POLICY_FILE } from '../policy/helpers.js';

// Mutations apply to the shipped file's text, comments and layout included.
const policyText = () => readFileSync(POLICY_FILE, 'utf8');

const bad: [string, (text: string) => string, RegExp][] = [
  ['a typo in a key', (s) => s.replace('  enabled: false\n  # Tests only', '  enabeld: false\n  # Tests only'), /:\d+: \/airlock unknown key 'enabeld'.*missing key 'enabled'|:\d+: \/airlock missing key 'enabled'/],
  ['a missing section', (s) => s.replace(/^sensitivity:[\s\S]*?(?=^\S|$(?![\s\S]))/m, ''), /missing key 'sensitivity'/],
  ['defaults that allow', (s) => s.replace('decision: deny', 'decision: allow'), /\/defaults\/decision must be equal to one of the allowed values/],
  ['a relative path root', (s) => s.replace('root: $SECAI_HOME/workspace', 'root: workspace'), /\/paths\/allow\/0\/root must match pattern/],
  ['a path rule with ..', (s) => s.replace('root: $SECAI_HOME/workspace', 'root: $SECAI_HOME/../etc'), /'\.\.' segment/],
  ['an IP literal destination', (s) => s.replace('host: huggingface.co', 'host: 10.0.0.1'), /\/airlock\/destinations\/0\/host must NOT be valid/],
  ['a wildcard host', (s) => s.replace('host: huggingface.co', "host: '*.huggingface.co'"), /\/airlock\/destinations\/0\/host must match pattern/],
  ['an unknown PII kind', (s) => s.replace('block: [email,', 'block: [emails,'), /\/airlock\/scan\/block\/0 must be equal to one of the allowed values/],
  ['a duplicate key', (s) => s.replace('  enabled: false\n  # Tests only', '  enabled: false\n  enabled: true\n  # Tests only'), /Map keys must be unique/],
  ['web search switched on (not built: refused, not ignored)', (s) => s.replace(/^search:\n  enabled: false/m, 'search:\n  enabled: true'), /\/search\/enabled must be equal to constant/],
  ['a path rule with a query string (never matches a path)', (s) => s.replace('root: $SECAI_HOME/workspace', 'root: $SECAI_HOME/workspace?mode=ro'), /policy path '\$SECAI_HOME\/workspace\?mode=ro': contains '\?'/],
  ['a deny rule with a glob (never matches a path)', (s) => s.replace('prefix: $SECAI_HOME/keys', 'prefix: $SECAI_HOME/keys/*'), /contains '\*'/],
  ['a deny rule with ? standing for one character', (s) => s.replace('prefix: $SECAI_HOME/keys', 'prefix: $SECAI_HOME/key?'), /contains '\?'/],
  ['an agent action rule with both a decision and a risk', (s) => s.replace('{ id: list-low, action: fs.list, risk: low }', '{ id: list-low, action: fs.list, risk: low, decision: allow }'), /\/agent_risk\/actions\/\d+ must match exactly one schema/],
  ['a zero refill rate', (s) => s.replace('refill_per_sec: 5 }', 'refill_per_sec: 0 }'), /refill_per_sec must be > 0/],
];

t.test('policy files — each small mistake is refused with the line it is on', async (t) => {
  const good = policyText();
  t.ok(parsePolicy(good, 'policy.yaml', '/home/x').digest, 'the shipped policy is valid');
  for (const [what, mutate, msg] of bad) {
    const text = mutate(good);
    t.not(text, good, `${what}: the mutation applies`);
    t.throws(() => parsePolicy(text, 'policy.yaml', '/home/x'), { code: 'SECAI_E_CONFIG_INVALID', message: msg }, what);
    try { parsePolicy(text, 'policy.yaml', '/home/x'); } catch (err) { t.match((err as Error).message, /policy\.yaml:\d+/, `${what}: names the file and line`); }
  }
});

t.test('policy files — the line number is the offending line', async (t) => {
  const text = policyText().replace('  enabled: false\n  # Tests only', '  enabled: maybe\n  # Tests only');
  const line = text.split('\n').findIndex((l) => l.includes('enabled: maybe')) + 1;
  t.throws(() => parsePolicy(text, 'policy.yaml', '/h'), { message: new RegExp(`policy\\.yaml:${line}: /airlock/enabled must be boolean`) });
});

t.test('appliance.yaml — a non-loopback listener is refused', async (t) => {
  const text = 'version: 1\nhttp: { host: 0.0.0.0, port: 8480 }\nmcp_firewall: { host: 127.0.0.1, port: 8496 }\nairlock: { host: 127.0.0.1, port: 8490 }\nstate_dir: /var/lib/secure-ai\nlog_level: info\n';
  t.throws(() => parseConfig(text, 'appliance.schema.json', 'appliance.yaml'), { code: 'SECAI_E_CONFIG_INVALID', message: /appliance\.yaml:2: \/http\/host must be equal to one of the allowed values/ });
});

t.test('agent.yaml — unknown keys are refused', async (t) => {
  // The shipped file with one key more: only that key is wrong.
  const shipped = readFileSync(join(import.meta.dirname, '..', '..', 'policy', 'agent.yaml'), 'utf8');
  const text = `${shipped}auto_approve: true\n`;
  const line = text.split('\n').length - 1;
  t.throws(() => parseConfig(text, 'agent.schema.json', 'agent.yaml'), { message: new RegExp(`^agent\\.yaml:${line}: /\\S* ?unknown key 'auto_approve'$`) });
});

t.test('securectl policy check — offline, exit 0 valid, 1 invalid (with the line), 2 error', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'secai-check-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ctl = (file: string) => spawnSync(process.execPath, ['--import=tsx', join(import.meta.dirname, '..', '..', 'bin', 'securectl.ts'), 'policy', 'check', file], { encoding: 'utf8', env: { ...process.env, SECAI_HOME: join(dir, 'no-appliance') } });
  const good = join(dir, 'policy.yaml');
  writeFileSync(good, policyText());
  const ok = ctl(good);
  t.equal(ok.status, 0, ok.stderr);
  t.match(ok.stdout, /^valid: .*policy\.yaml \(sha256 [0-9a-f]{64}\)/);
  const badDir = join(dir, 'bad');
  (await import('node:fs')).mkdirSync(badDir);
  writeFileSync(join(badDir, 'policy.yaml'), policyText().replace('cross_mounts: false', 'cross_mounts: nope'));
  const bad = ctl(join(badDir, 'policy.yaml'));
  t.equal(bad.status, 1);
  t.match(bad.stderr, /invalid: .*policy\.yaml:\d+: \/paths\/cross_mounts must be boolean/);
  t.equal(ctl(join(dir, 'missing.yaml')).status, 2, 'a missing file is an error, not a verdict');
  writeFileSync(join(dir, 'whatever.yaml'), 'a: 1\n');
  t.equal(ctl(join(dir, 'whatever.yaml')).status, 2, 'a file with no schema is an error');
});
