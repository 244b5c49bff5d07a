// Another local user must not read the appliance's state: SECAI_HOME and its folders are 0700 after `secai up`, even one left 0755.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { homePaths } from '../../common/paths.js';
import { SECAI_BIN, startAppliance, tempHome } from '../helpers/appliance.js';

const mode = (p: string) => statSync(p).mode & 0o777;

/** Every folder under `dir`, not following links. */
function folders(dir: string): string[] {
  const out = [dir];
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) out.push(...folders(join(dir, e.name)));
  return out;
}

t.test('home permissions — a SECAI_HOME left 0755 (and its folders) is 0700 once secai up runs', async (t) => {
  const home = tempHome('secai-home-perm-');
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const p = homePaths(home);
  // What an older version left behind: world-readable folders.
  for (const d of [p.quarantine, p.incoming, p.registry, p.audit, p.keys]) mkdirSync(d, { recursive: true, mode: 0o755 });
  for (const d of [home, p.quarantine, p.incoming, p.registry, p.audit, p.keys]) chmodSync(d, 0o755);
  const app = await startAppliance({ home });
  t.teardown(() => app.stop());
  t.equal(mode(home), 0o700, 'SECAI_HOME is 0700');
  for (const d of Object.values(p)) {
    if (lstatSync(d, { throwIfNoEntry: false })?.isDirectory()) t.equal(mode(d), 0o700, `${relative(home, d) || '.'} is 0700`);
  }
  // Everything the appliance created below: 0700, except nats-server's own store (0750, inside the 0700 bus/).
  const open = folders(home).filter((d) => !d.startsWith(join(p.jetstream, '')) && mode(d) !== 0o700).map((d) => `${relative(home, d)} ${mode(d).toString(8)}`);
  t.same(open, [], 'no folder under SECAI_HOME grants group or other access');
  for (const d of folders(p.jetstream)) t.equal(mode(d) & 0o007, 0, `${relative(home, d)}: nothing for other users`);
});

t.test('home permissions — a SECAI_HOME owned by another user is refused before anything is written', async (t) => {
  // As root, a folder given to nobody; as any other user, a folder root owns.
  let home = '/';
  if (process.getuid?.() === 0) {
    home = tempHome('secai-home-foreign-');
    chownSync(home, 65534, 65534);
    t.teardown(() => rmSync(home, { recursive: true, force: true }));
  }
  const before = readdirSync(home).sort();
  const r = spawnSync(process.execPath, [SECAI_BIN, 'up', '--headless'], { env: { ...process.env, SECAI_HOME: home, SECAI_HTTP_PORT: '0', SECAI_LOG_LEVEL: 'warn' }, encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 2, 'secai up exits 2');
  t.match(r.stderr, /\[SECAI_E_HOME_UNSAFE\]/, 'with a clear error code');
  t.match(r.stderr, /belongs to uid \d+, not to this user/);
  t.same(readdirSync(home).sort(), before, 'nothing was written in it');
});
