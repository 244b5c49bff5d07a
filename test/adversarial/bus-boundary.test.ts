// One running appliance, attacked at its bus boundary: replays, forgeries, malformed and huge messages,
// a tampered audit chain, and a look at every listening socket.
import t from 'tap';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { encode } from '../../bus/codec.js';
import { signCommand } from '../../bus/envelope.js';
import { loadIdentity } from '../../bus/identities.js';
import { ensureOperatorKey } from '../../bus/operator-keys.js';
import { getSodium } from '../../common/sodium.js';
import { keyIdOf } from '../../bus/envelope.js';
import { ErrorCode } from '../../common/errors.js';
import { homePaths } from '../../common/paths.js';
import { disposeAppliance, startAppliance } from '../helpers/appliance.js';

const a = await startAppliance();
t.teardown(() => disposeAppliance(a));
const paths = homePaths(a.home);
const cli = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'cli'), reconnect: false });
const gateway = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'gateway'), reconnect: false });
t.teardown(async () => { await cli.close(); await gateway.close(); });
const key = await ensureOperatorKey(paths.operatorKey, paths.trustedOperators);

t.test('signed commands — securectl status and ping answer through signed envelopes', async (t) => {
  const s = a.ctl(['status', '--json']);
  t.equal(s.code, 0, s.stderr);
  t.ok(s.json().actors.some((x: { name: string; ready: boolean }) => x.name === 'audit' && x.ready));
  const p = a.ctl(['ping', 'audit', '--json']);
  t.equal(p.code, 0, p.stderr);
  t.equal(p.json().actor, 'audit');
});

t.test('signed commands — a replayed envelope is rejected and the rejection is audited', async (t) => {
  const env = await signCommand(key, 'secai.cmd.audit.tail', { n: 1 });
  await t.resolves(cli.requestSubject('secai.cmd.audit.tail', env, 5000));
  await t.rejects(cli.requestSubject('secai.cmd.audit.tail', env, 5000), { code: ErrorCode.REPLAYED });
  // The rejection event is acked by JetStream before the reply; the audit actor appends it within a batch.
  let recs: { payload: { code: string; nonce: string; caller: string } }[] = [];
  for (let i = 0; i < 20 && !recs.some((r) => r.payload.nonce === env.nonce); i++) {
    await new Promise((r) => setTimeout(r, 200));
    recs = a.ctl(['audit', 'tail', '-n', '50', '--subject', 'secai.evt.audit.command_rejected', '--json']).json().records;
  }
  t.ok(recs.some((r) => r.payload.code === ErrorCode.REPLAYED && r.payload.nonce === env.nonce), 'REPLAYED rejection with its nonce is in the audit chain');
  t.equal(recs.find((r) => r.payload.nonce === env.nonce)?.payload.caller, 'cli', 'and the identity that sent it');
});

t.test('signed commands — forged, tampered and expired envelopes are rejected', async (t) => {
  const sodium = await getSodium();
  const kp = sodium.crypto_sign_keypair();
  const mallory = { keyId: keyIdOf(kp.publicKey), publicKey: kp.publicKey, secretKey: kp.privateKey };
  await t.rejects(cli.command(mallory, 'supervisor', 'status'), { code: ErrorCode.KEY_UNKNOWN });
  const env = await signCommand(key, 'secai.cmd.supervisor.status', {});
  await t.rejects(cli.requestSubject('secai.cmd.supervisor.status', { ...env, args: { x: 1 } }, 5000), { code: ErrorCode.SIGNATURE_INVALID });
  const old = await signCommand(key, 'secai.cmd.audit.verify', {}, Date.now() - 10 * 60_000);
  await t.rejects(cli.requestSubject('secai.cmd.audit.verify', old, 5000), { code: ErrorCode.EXPIRED });
  // A valid envelope for one actor, delivered to another.
  const forPing = await signCommand(key, 'secai.cmd.audit.ping', {});
  await t.rejects(cli.requestSubject('secai.cmd.gateway.ping', forPing, 5000), { code: ErrorCode.ENVELOPE_INVALID });
  const unsigned = { op: 'status' };
  await t.rejects(cli.requestSubject('secai.cmd.supervisor.status', unsigned, 5000), { code: ErrorCode.SCHEMA });
});

t.test('malformed messages — bad msgpack, wrong schema and huge payloads get error replies; the actor lives', async (t) => {
  const raw = async (subject: string, bytes: Uint8Array) => {
    const m = await gateway.nc.request(subject, bytes, { timeout: 5000 });
    return (await import('../../bus/codec.js')).decode(m.data) as { ok: boolean; error?: { code: string } };
  };
  t.match(await raw('secai.audit.status', new Uint8Array([0xc1])), { ok: false, error: { code: ErrorCode.BAD_MESSAGE } });
  t.match(await raw('secai.audit.status', new Uint8Array([0x92, 0x01])), { ok: false, error: { code: ErrorCode.BAD_MESSAGE } });
  t.match(await raw('secai.audit.status', encode({ unexpected: true })), { ok: false, error: { code: ErrorCode.SCHEMA } });
  t.match(await raw('secai.audit.tail', encode({ n: 'all' })), { ok: false, error: { code: ErrorCode.SCHEMA } });
  t.match(await raw('secai.audit.tail', encode({ n: 1, subject: 'x'.repeat(600_000) })), { ok: false, error: { code: ErrorCode.PAYLOAD_TOO_LARGE } });
  // Over the server's max_payload: the client refuses to send it, the bus and actor never see it.
  t.throws(() => gateway.nc.publish('secai.audit.status', new Uint8Array(2 * 1024 * 1024)));
  const deep: Record<string, unknown> = {};
  let cur = deep;
  for (let i = 0; i < 100; i++) { cur.x = {}; cur = cur.x as Record<string, unknown>; }
  t.match(await raw('secai.audit.status', encode(deep)), { ok: false, error: { code: ErrorCode.BAD_MESSAGE } });
  const status = await gateway.request<{ records: number }>('audit', 'status');
  t.ok(status.records > 0, 'audit still answers');
  const sup = a.ctl(['status', '--json']).json() as { actors: { name: string; restarts: number }[] };
  t.equal(sup.actors.find((x) => x.name === 'audit')!.restarts, 0, 'and never crashed');
});

t.test('reply forgery — a chosen reply subject forges no vault panic into the audit chain (issue #12.1)', async (t) => {
  // As the gateway: ask the audit actor for its status, naming the vault's panic event as the reply subject.
  gateway.nc.publish('secai.audit.status', encode({}), { reply: 'secai.evt.vault.panicked' });
  gateway.nc.publish('secai.audit.status', encode({}), { reply: 'secai.state.vault' });
  await gateway.nc.flush();
  // Answered in order after the forged ones: by now the audit actor has seen them.
  await gateway.request('audit', 'status');
  // A signed ping's acceptance is appended after anything the forged requests could have published.
  const ping = a.ctl(['ping', 'audit', '--json']);
  t.equal(ping.code, 0, ping.stderr);
  let recs: { subject: string }[] = [];
  for (let i = 0; i < 50 && !recs.some((r) => r.subject === 'secai.evt.audit.command_accepted'); i++) {
    recs = a.ctl(['audit', 'tail', '-n', '500', '--json']).json().records;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(recs.some((r) => r.subject === 'secai.evt.audit.command_accepted'), 'the marker reached the chain');
  t.notOk(recs.some((r) => r.subject === 'secai.evt.vault.panicked'), 'no vault panic in the chain');
  t.notOk(a.output().includes('sessions_ended'), 'auth ended no sessions');
});

t.test('state messages — garbage on secai.state.vault from the vault\'s own identity is not believed', async (t) => {
  const vault = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'vault'), reconnect: false });
  t.teardown(() => vault.close());
  const before = (await cli.command<{ actors: { name: string; state: unknown }[] }>(key, 'supervisor', 'status')).actors.find((x) => x.name === 'vault')!.state;
  t.ok(before, `the vault reports a state (${JSON.stringify(before)})`);
  for (const junk of [{}, 'junk', { actor: 'vault', value: null, status: 'active', event: 'x', seq: 1, at: 1 },
    { actor: 'audit', value: 'forged', status: 'active', event: 'x', seq: 1, at: 1 },
    { actor: 'vault', value: { a: { b: { c: { d: { e: { f: { g: { h: { i: 'x' } } } } } } } } }, status: 'active', event: 'x', seq: 1, at: 1 }]) {
    vault.nc.publish('secai.state.vault', encode(junk));
  }
  // Flushed: the server has queued the junk to the supervisor before the status request below reaches it.
  await vault.nc.flush();
  const after = (await cli.command<{ actors: { name: string; state: unknown }[] }>(key, 'supervisor', 'status')).actors;
  t.same(after.find((x) => x.name === 'vault')!.state, before, 'status still shows the vault\'s real state');
  t.notSame(after.find((x) => x.name === 'audit')!.state, 'forged', 'a snapshot naming another actor changed nothing');
});

t.test('loopback only — every listening socket of the appliance is on 127.0.0.1 or ::1', async (t) => {
  const st = a.ctl(['status', '--json']).json() as { appliance: { pid: number; bus: { pid: number } }; actors: { pid: number }[] };
  const pids = [st.appliance.pid, st.appliance.bus.pid, ...st.actors.map((x) => x.pid)];
  const inodes = new Set<string>();
  for (const pid of pids) {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch { /* lint-ok: fd closed meanwhile */ }
    }
  }
  const listening: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9]!)) continue; // 0A = LISTEN
      listening.push(f[1]!);
    }
  }
  t.ok(listening.length >= 2, `found the bus and gateway listeners (${listening.join(', ')})`);
  for (const addr of listening) {
    const ip = addr.split(':')[0]!;
    const loopback = ip === '0100007F' || ip === '00000000000000000000000001000000';
    t.ok(loopback, `listener ${addr} is loopback`);
  }
});

t.test('audit — editing one record makes securectl audit verify fail and name it', async (t) => {
  const file = join(paths.audit, 'chain.jsonl');
  const ok = a.ctl(['audit', 'verify', '--json']);
  t.equal(ok.code, 0, 'intact before');
  const lines = readFileSync(file, 'utf8').split('\n');
  lines[2] = lines[2]!.replace('"subject":"', '"subject":"X');
  writeFileSync(file, lines.join('\n'));
  const bad = a.ctl(['audit', 'verify']);
  t.equal(bad.code, 1, 'exit 1: found something');
  t.match(bad.stdout, /BROKEN at record 3.*record 3 was modified/);
  const human = a.ctl(['audit', 'verify', '--json']).json();
  t.match(human, { ok: false, brokenAt: 3 });
});
