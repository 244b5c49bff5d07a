// A real full disk in the middle of a vault write: SECAI_HOME on a small tmpfs (needs root), the minimum free space set
// to 0 so nothing is refused up front and the write itself meets ENOSPC. The commit fails with STORAGE_FULL, no half
// record or temp file is left, the records written before are intact, the owner can lock, and writes work again once
// space returns — without a restart.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { loadIdentity } from '../../bus/identities.js';
import { disposeAppliance, startAppliance } from '../helpers/appliance.js';

const root = process.getuid?.() === 0;
const P = 'a passphrase for the full disk 71c';

t.test('faults (slow) — disk full during a vault write: STORAGE_FULL, nothing half-written, earlier records intact, writes resume', { skip: root ? false : 'needs root to mount a tmpfs' }, async (t) => {
  const mnt = mkdtempSync(join(tmpdir(), 'secai-vfull-'));
  t.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=96m,mode=0700', 'tmpfs', mnt]).status, 0, 'tmpfs mounted');
  t.teardown(() => { spawnSync('umount', ['-l', mnt]); rmSync(mnt, { recursive: true, force: true }); });
  const home = join(mnt, 'home');
  const a = await startAppliance({ home, headless: true, env: { SECAI_MIN_FREE_MB: '0' } });
  t.teardown(() => disposeAppliance(a));
  const keys = join(home, 'keys', 'bus');
  // The identities that set up the vault (auth) and write records (gateway), as those actors do.
  const auth = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(keys, 'auth') });
  const gw = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(keys, 'gateway') });
  t.teardown(async () => { await auth.close(); await gw.close(); });
  await auth.request('vault', 'setup', { passphrase: P }, 60_000);
  const write = async (key: string, value: Buffer) => {
    const { ticket } = await gw.request<{ ticket: string }>('vault', 'put', { key, value }, 30_000);
    return gw.request('vault', 'commit', { ticket }, 30_000);
  };
  const before = Buffer.from('written before the disk filled');
  await write('before', before);

  // The owner has used securectl before the disk fills (its operator key exists, as on any set-up appliance).
  t.equal(a.ctl(['ping', 'vault', '--json']).code, 0, 'securectl works before the fault');
  const ballast = join(mnt, 'ballast');
  spawnSync('dd', ['if=/dev/zero', `of=${ballast}`, 'bs=64k'], { stdio: 'ignore' });
  await t.rejects(write('during', Buffer.alloc(256 * 1024, 7)), { code: 'SECAI_E_STORAGE_FULL', message: /no space left/ }, 'the commit is refused with the storage code');
  const recs = join(home, 'vault', 'records', 'gateway');
  t.same(readdirSync(recs).filter((n) => n.endsWith('.tmp')), [], 'no temp file left behind');
  t.notOk(readdirSync(recs).some((n) => n.startsWith(`${Buffer.from('during').toString('hex')}.`)), 'no half record');
  const got = await gw.request<{ value: Uint8Array }>('vault', 'get', { key: 'before' }, 30_000);
  t.same(Buffer.from(got.value), before, 'the record written before is intact');
  const lock = a.ctl(['vault', 'lock', '--json'], { timeoutMs: 30_000 });
  t.equal(lock.code, 0, `the owner can lock on a full disk: ${lock.stdout}${lock.stderr}`);

  rmSync(ballast);
  t.notOk(existsSync(ballast));
  await auth.request('vault', 'unlock', { passphrase: P }, 60_000);
  const value = Buffer.alloc(256 * 1024, 9);
  await write('after', value);
  const back = await gw.request<{ value: Uint8Array }>('vault', 'get', { key: 'after' }, 30_000);
  t.same(Buffer.from(back.value), value, 'writes work again without a restart');
  t.same(Buffer.from((await gw.request<{ value: Uint8Array }>('vault', 'get', { key: 'before' }, 30_000)).value), before, 'and the old record still reads');
});
