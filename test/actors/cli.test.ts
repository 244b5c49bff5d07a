import t from 'tap';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { SECAI_BIN, SECURECTL_BIN, tempHome } from '../helpers/appliance.js';

t.test('cli — without a running appliance, verbs fail with exit 2 and say how to start it', async (t) => {
  const home = tempHome();
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const env = { ...process.env, SECAI_HOME: home };
  for (const [bin, args] of [[SECURECTL_BIN, ['status']], [SECURECTL_BIN, ['audit', 'verify', '--json']], [SECAI_BIN, ['status']]] as const) {
    const r = spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8' });
    t.equal(r.status, 2, `${args.join(' ')} exits 2`);
    t.match(r.stdout + r.stderr, /npm start|SECAI_E_NOT_RUNNING/);
  }
});

t.test('cli — unknown verbs and bad arguments are usage errors (exit 2)', async (t) => {
  const home = tempHome();
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const env = { ...process.env, SECAI_HOME: home };
  t.equal(spawnSync(process.execPath, [SECURECTL_BIN, 'frobnicate'], { env }).status, 2);
  t.equal(spawnSync(process.execPath, [SECURECTL_BIN, 'status', '--bogus'], { env }).status, 2);
  t.equal(spawnSync(process.execPath, [SECAI_BIN, 'sideways'], { env }).status, 2);
  t.equal(spawnSync(process.execPath, [SECURECTL_BIN, '--help'], { env }).status, 0);
});

t.test('cli — a bare securectl and securectl help print the usage and exit 0 (npx securectl --help is npm\'s own)', async (t) => {
  const home = tempHome();
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const env = { ...process.env, SECAI_HOME: home };
  for (const args of [[], ['help']]) {
    const r = spawnSync(process.execPath, [SECURECTL_BIN, ...args], { env, encoding: 'utf8' });
    t.equal(r.status, 0, `securectl ${args.join(' ')}`);
    t.match(r.stdout, /^usage: securectl <verb>/, 'usage on stdout');
    t.match(r.stdout, /audit verify/);
  }
});
