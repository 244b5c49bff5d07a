// Low storage (free space pushed below the minimum with a real ballast file) refuses imports at once, keeps lock and
// panic working and recovers by itself; a CLI verb against a hung actor ends at its deadline and names the actor.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freeMb } from '../../common/storage.js';
import { SECURECTL_BIN, disposeAppliance, startAppliance, tempHome } from '../helpers/appliance.js';
import { health, resume, slot, status, until } from './helpers.js';

t.test('faults — a CLI verb against a hung actor ends at SECAI_CLI_DEADLINE_MS and names the actor', async (t) => {
  // Heartbeats off: the hung actor stays hung, so the deadline (not a restart) is what ends the wait.
  const a = await startAppliance({ headless: true, env: { SECAI_HEARTBEAT_MS: '0' } });
  t.teardown(() => disposeAppliance(a));
  const reg = slot(a, 'registry');
  process.kill(reg.pid, 'SIGSTOP');
  t.teardown(() => resume(reg.pid));

  const t0 = Date.now();
  const r = spawnSync(process.execPath, [SECURECTL_BIN, 'ping', 'registry', '--json'], {
    env: { ...a.env, SECAI_CLI_DEADLINE_MS: '1500' }, encoding: 'utf8', timeout: 30_000,
  });
  const ms = Date.now() - t0;
  t.equal(r.status, 2, 'exit 2 (error)');
  const out = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; message: string } };
  t.equal(out.error.code, 'SECAI_E_TIMEOUT');
  t.match(out.error.message, /actor 'registry' did not answer within 1500 ms/, 'names the actor');
  t.ok(ms < 15_000, `ended by the deadline, not hanging (${ms} ms)`);
  // The hung actor does not stop the others: the owner can still lock.
  const lock = a.ctl(['vault', 'lock', '--json'], { timeoutMs: 15_000 });
  t.equal(lock.code, 0, `vault lock answers while registry hangs: ${lock.stderr}`);
});

t.test('faults — degraded_storage: imports refused with SECAI_E_STORAGE_FULL, lock and panic work, recovery without restart', async (t) => {
  const home = tempHome();
  // The minimum sits 2 GiB under today's free space; a 4 GiB ballast file on the same filesystem crosses it for real.
  const min = Math.floor(freeMb(home)) - 2048;
  t.ok(min > 4096, 'enough free space for the test');
  const a = await startAppliance({ home, headless: true, env: { SECAI_MIN_FREE_MB: String(min), SECAI_STORAGE_CHECK_MS: '200' } });
  const ballast = `${home}.ballast`;
  t.teardown(async () => { rmSync(ballast, { force: true }); await disposeAppliance(a); });
  const model = join(home, 'm.gguf');
  writeFileSync(model, Buffer.from('GGUF not really a model'));
  t.equal((await health(a)).status, 200);

  const fa = spawnSync('fallocate', ['-l', '4G', ballast]);
  t.equal(fa.status, 0, `fallocate: ${fa.stderr?.toString()}`);
  const bad = await until('health reports degraded_storage', async () => {
    const h = await health(a);
    return h.status === 503 && h.body.state === 'degraded_storage' ? h : undefined;
  });
  t.equal(bad.body.storage, 'degraded_storage');
  // A JetStream write that fails with ENOSPC deadlocks nats-server 2.9.10: while storage is low the bus runs without it.
  const off = await until('nats-server restarted without JetStream', async () => {
    const h = await health(a);
    return h.body.reasons.some((r) => r.startsWith('JetStream is off')) ? status(a).appliance.bus.pid : undefined;
  });
  t.match(readFileSync(`/proc/${off}/cmdline`, 'utf8'), /nats-nojs\.conf/, 'the server runs from the config without JetStream');

  const t0 = Date.now();
  const imp = a.ctl(['models', 'import', model, '--json'], { timeoutMs: 20_000 });
  t.equal(imp.code, 2, 'import refused');
  t.equal(imp.json().error.code, 'SECAI_E_STORAGE_FULL', `refused with the storage code: ${imp.stdout}`);
  t.ok(Date.now() - t0 < 10_000, 'answered at once, not after a timeout');

  // A drop into incoming/ is not copied while storage is low (the copy would eat what is left): it waits, untouched.
  const drop = join(home, 'quarantine', 'incoming', 'dropped.gguf');
  writeFileSync(drop, Buffer.from('GGUF dropped while the disk was low'));
  await until('the drop is held', () => a.output().includes('incoming entry waits until storage returns'));
  t.ok(existsSync(drop), 'the dropped file is left where it was');

  const lock = a.ctl(['vault', 'lock', '--json']);
  t.equal(lock.code, 0, `lock works: ${lock.stderr}`);
  const panic = a.ctl(['panic', '1', '--json']);
  t.equal(panic.code, 0, `panic 1 works: ${panic.stderr}${panic.stdout}`);

  rmSync(ballast);
  await until('health ok again', async () => ((await health(a)).status === 200 ? true : undefined));
  const on = status(a).appliance.bus.pid;
  t.not(on, off, 'nats-server was restarted once more');
  t.notMatch(readFileSync(`/proc/${on}/cmdline`, 'utf8'), /nats-nojs\.conf/, 'with JetStream again');
  const again = a.ctl(['models', 'import', model, '--json'], { timeoutMs: 60_000 });
  t.not(again.json().error?.code, 'SECAI_E_STORAGE_FULL', 'imports are taken again without a restart');
  await until('the held drop is taken once storage returns', () => !existsSync(drop));

  await until('storage events and the panic in the chain', () => {
    const text = readFileSync(join(home, 'audit', 'chain.jsonl'), 'utf8');
    return ['supervisor.storage_degraded', 'supervisor.storage_recovered', 'vault.panicked', 'supervisor.bus_restarted'].every((e) => text.includes(`secai.evt.${e}`)) ? true : undefined;
  });
  t.equal(a.ctl(['audit', 'verify', '--json']).code, 0, 'the chain verifies');
});
