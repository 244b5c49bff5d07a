// A real full disk: SECAI_HOME on a small tmpfs (needs root), filled to the last byte, then freed.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { disposeAppliance, startAppliance } from '../helpers/appliance.js';
import { health, until } from './helpers.js';

const root = process.getuid?.() === 0;

t.test('faults (slow) — disk full: imports refused, lock and panic answer, audit appends resume with nothing lost after space returns', { skip: root ? false : 'needs root to mount a tmpfs' }, async (t) => {
  const mnt = mkdtempSync(join(tmpdir(), 'secai-full-'));
  t.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=96m,mode=0700', 'tmpfs', mnt]).status, 0, 'tmpfs mounted');
  t.teardown(() => { spawnSync('umount', ['-l', mnt]); rmSync(mnt, { recursive: true, force: true }); });
  const home = join(mnt, 'home');
  const a = await startAppliance({ home, headless: true, env: { SECAI_MIN_FREE_MB: '16', SECAI_STORAGE_CHECK_MS: '200' } });
  t.teardown(() => disposeAppliance(a));
  const model = join(tmpdir(), `secai-full-model-${process.pid}.gguf`);
  writeFileSync(model, Buffer.from('GGUF not really a model'));
  t.teardown(() => rmSync(model, { force: true }));
  // The owner's operator key exists before the fault (securectl creates it on first use).
  t.equal(a.ctl(['status', '--json']).code, 0);
  await until('audit has records', () => (readFileSync(join(home, 'audit', 'chain.jsonl'), 'utf8').length > 0 ? true : undefined));

  // Fill to the last byte (dd stops at ENOSPC).
  const ballast = join(mnt, 'ballast');
  spawnSync('dd', ['if=/dev/zero', `of=${ballast}`, 'bs=1M'], { stdio: 'ignore' });
  await until('degraded_storage', async () => ((await health(a)).body.state === 'degraded_storage' ? true : undefined));

  const imp = a.ctl(['models', 'import', model, '--json'], { timeoutMs: 30_000 });
  t.equal(imp.json().error?.code, 'SECAI_E_STORAGE_FULL', 'import refused with the storage code');
  const t0 = Date.now();
  const lock = a.ctl(['vault', 'lock', '--json'], { timeoutMs: 30_000 });
  t.equal(lock.code, 0, `lock answers on a full disk: ${lock.stdout}${lock.stderr}`);
  const panic = a.ctl(['panic', '1', '--json'], { timeoutMs: 30_000 });
  t.equal(panic.code, 0, `panic 1 answers on a full disk: ${panic.stdout}${panic.stderr}`);
  t.ok(Date.now() - t0 < 15_000, `lock and panic answered in ${Date.now() - t0} ms`);

  rmSync(ballast);
  const t1 = Date.now();
  await until('healthy again', async () => ((await health(a)).status === 200 ? true : undefined), 60_000, 200);
  const st = a.ctl(['status', '--json'], { timeoutMs: 30_000 });
  t.equal(st.code, 0, `commands answer again ${Date.now() - t1} ms after space returned`);
  await until('the panic reached the chain after storage returned', () => {
    const text = readFileSync(join(home, 'audit', 'chain.jsonl'), 'utf8');
    return text.includes('secai.evt.vault.panicked') && text.includes('secai.evt.supervisor.storage_recovered') ? true : undefined;
  }, 60_000, 250);
  // What the appliance said while it happened (for the record of this run).
  t.comment(a.output().split('\n').filter((l) => /ENOSPC|append|outbox|storage|JetStream|nats/i.test(l)).slice(0, 20).join('\n'));
  const v = a.ctl(['audit', 'verify', '--json'], { timeoutMs: 60_000 });
  t.equal(v.code, 0, `the chain verifies: ${v.stdout}`);
});
