// An actor whose loop runs but whose bus connection carries nothing (a blackholed TCP connection, made with a real
// nftables rule) answers its IPC heartbeat yet serves nobody: the supervisor's bus ping finds it, kills and restarts it.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { loadIdentity } from '../../bus/identities.js';
import { standardOp } from '../../bus/op-ref.js';
import { disposeAppliance, startAppliance } from '../helpers/appliance.js';
import { slot, until } from './helpers.js';

/** The local port of the established connection `pid` holds to the bus port (ss -tnp). */
function busConnectionPort(pid: number, busPort: number): number | undefined {
  const out = execFileSync('ss', ['-tnpH', 'state', 'established', `( dport = :${busPort} )`], { encoding: 'utf8' });
  const line = out.split('\n').find((l) => l.includes(`pid=${pid},`));
  const local = line?.trim().split(/\s+/)[2];
  const port = Number(local?.slice(local.lastIndexOf(':') + 1));
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

t.test('faults — an actor cut off the bus (its loop alive) is found by the bus ping, restarted, and answers again', async (t) => {
  const a = await startAppliance({ headless: true, env: { SECAI_HEARTBEAT_MS: '300' } });
  t.teardown(() => disposeAppliance(a));
  const busPort = Number(new URL(a.busUrl).port);
  const before = slot(a, 'registry');
  t.equal(before.slot, 'ready');
  const local = await until('the registry connection', () => busConnectionPort(before.pid, busPort));

  // Both directions of that one connection are dropped on loopback: the process and its IPC channel are untouched.
  const table = `secai_partition_${process.pid}`;
  const nft = (cmd: string) => execFileSync('nft', [cmd], { stdio: ['ignore', 'ignore', 'pipe'] });
  nft(`add table inet ${table}`);
  t.teardown(() => { try { nft(`delete table inet ${table}`); } catch { /* lint-ok: already removed */ } });
  nft(`add chain inet ${table} out { type filter hook output priority 0 ; policy accept ; }`);
  nft(`add rule inet ${table} out tcp sport ${local} tcp dport ${busPort} drop`);
  nft(`add rule inet ${table} out tcp sport ${busPort} tcp dport ${local} drop`);

  // The gateway's view (it may ask the registry's snapshot): no answer within 1.5 s while cut off.
  const gw = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(join(a.home, 'keys', 'bus'), 'gateway'), reconnect: false });
  t.teardown(() => gw.close());
  await t.rejects(gw.call(standardOp('registry', 'snapshot'), {}, 1500), 'cut off: the registry does not answer over the bus');
  t.equal(slot(a, 'registry').pid, before.pid, 'yet its process runs and answers IPC (the heartbeat alone would keep it)');

  const after = await until('registry restarted', () => {
    const s = slot(a, 'registry');
    return s.slot === 'ready' && s.pid !== before.pid ? s : undefined;
  }, 60_000, 100);
  t.match(after.reason, /bus pings unanswered while its IPC heartbeat answered/, 'status says why');
  t.equal(after.restarts, before.restarts + 1);
  const back = a.ctl(['ping', 'registry', '--json']);
  t.equal(back.code, 0, `the new registry answers: ${back.stderr}`);
  t.equal(back.json().pid, after.pid);
  await until('actor_unresponsive recorded', () => {
    const text = readFileSync(join(a.home, 'audit', 'chain.jsonl'), 'utf8');
    return /actor_unresponsive[^\n]*bus pings unanswered/.test(text) ? true : undefined;
  });
  t.equal(slot(a, 'audit').restarts, 0, 'no other actor was blamed');
});
