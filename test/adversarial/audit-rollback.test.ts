// A real appliance whose audit files are restored or deleted while it is stopped: the restarted audit actor raises the alarm.
import t from 'tap';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { BusClient } from '../../bus/client.js';
import { decode } from '../../bus/codec.js';
import { loadIdentity } from '../../bus/identities.js';
import { AUDIT_CONSUMER, AUDIT_STREAMS } from '../../bus/subjects.js';
import { startAppliance, type Appliance } from '../helpers/appliance.js';

const BROKEN_SUBJECT = 'secai.evt.audit.chain_broken';

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** The supervisor's identity administers JetStream: the test reads consumer positions and the tap stream with it. */
async function admin(a: Appliance) {
  const bus = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(join(a.home, 'keys', 'bus'), 'supervisor') });
  const jsm = await jetstreamManager(bus.nc);
  return { bus, jsm };
}

/** Waits until the audit actor acknowledged everything both tap streams hold: the chain has it and JetStream knows. */
async function settled(a: Appliance): Promise<void> {
  const { bus, jsm } = await admin(a);
  try {
    await until('the audit consumers to ack every tapped message', async () => {
      for (const st of [AUDIT_STREAMS.events.name, AUDIT_STREAMS.commands.name]) {
        const [si, ci] = await Promise.all([jsm.streams.info(st), jsm.consumers.info(st, AUDIT_CONSUMER)]);
        if (ci.ack_floor.stream_seq < si.state.last_seq) return undefined;
      }
      return true;
    });
  } finally {
    await bus.close();
  }
}

/** The last chain_broken event the audit actor published on the bus (as the tap stream kept it), if any. */
async function lastAlarm(a: Appliance): Promise<{ seq: number; payload: { reason: string; expected?: string; found?: string } } | undefined> {
  const { bus, jsm } = await admin(a);
  try {
    const m = await jsm.streams.getMessage(AUDIT_STREAMS.events.name, { last_by_subj: BROKEN_SUBJECT });
    return m ? { seq: m.seq, payload: decode(m.data) as { reason: string } } : undefined;
  } finally {
    await bus.close();
  }
}

function auditState(a: Appliance): unknown {
  const r = a.ctl(['status', '--json']);
  if (r.code !== 0) throw new Error(r.stderr || r.stdout);
  return (r.json() as { actors: { name: string; state: unknown }[] }).actors.find((x) => x.name === 'audit')?.state;
}

async function witnesses(a: Appliance, tag: string, n: number): Promise<void> {
  const gw = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(join(a.home, 'keys', 'bus'), 'gateway') });
  for (let i = 0; i < n; i++) await gw.publishEvent('gateway', 'listening', { port: 60_000 + i, url: `witness-${tag}-${i}` });
  await gw.close();
}

t.test('audit rollback — restored, deleted and fully restored chains are broken at once; fresh and restarted ones intact', async (t) => {
  let a = await startAppliance();
  const home = a.home;
  t.teardown(async () => { await a.stop(); rmSync(home, { recursive: true, force: true }); });
  const chainFiles = ['chain.jsonl', 'head.json'].map((f) => join(home, 'audit', f));
  const anchorFile = join(home, 'keys', 'audit.anchor');
  const backup = join(home, 'attacker-backup');
  mkdirSync(backup);
  const keep = (f: string) => join(backup, f.split('/').pop()!);
  const restart = async () => { await a.stop(); a = await startAppliance({ home }); };

  // A fresh install starts clean and intact.
  await until('audit following', () => (auditState(a) === 'following' ? true : undefined));
  let v = a.ctl(['audit', 'verify', '--json']);
  t.equal(v.code, 0, `fresh install verifies: ${v.stdout}${v.stderr}`);

  // The attacker's backup, taken while the appliance runs; then more evidence is written.
  await witnesses(a, 'before', 5);
  await settled(a);
  t.ok(existsSync(anchorFile), 'the anchor lives outside audit/');
  [...chainFiles, anchorFile].filter(existsSync).forEach((f) => copyFileSync(f, keep(f)));
  await witnesses(a, 'after', 5);
  await settled(a);

  // A plain restart is intact.
  await restart();
  await until('audit following after a plain restart', () => (auditState(a) === 'following' ? true : undefined));
  v = a.ctl(['audit', 'verify', '--json']);
  t.equal(v.code, 0, `plain restart verifies: ${v.stdout}${v.stderr}`);
  t.equal(await lastAlarm(a), undefined, 'no alarm so far');
  await settled(a);

  // 1. Roll back chain.jsonl + head.json (no key needed) while stopped.
  await a.stop();
  chainFiles.forEach((f) => copyFileSync(keep(f), f));
  a = await startAppliance({ home });
  t.equal(await until('audit broken', () => (auditState(a) === 'broken' ? 'broken' : undefined)), 'broken', 'secai status shows the audit actor broken');
  const alarm = await until('the chain_broken event', () => lastAlarm(a));
  t.match(alarm.payload, { reason: /rolled back/, expected: /at least \d+ records/ }, 'the alarm was published on the bus with its evidence');
  v = a.ctl(['audit', 'verify', '--json']);
  t.equal(v.code, 1, 'audit verify exits 1');
  t.match(v.json(), { ok: false, reason: /the chain was rolled back/ });
  const plain = a.ctl(['audit', 'verify']);
  t.match(plain.stdout, /BROKEN.*rolled back[\s\S]*expected: at least \d+ records[\s\S]*found: {4}\d+ records/, 'the plain output says what was expected and found');

  // The break does not go away: new records are appended after it, and another restart still reports it.
  await settled(a);
  await restart();
  await until('audit still broken after another restart', () => (auditState(a) === 'broken' ? true : undefined));
  t.equal(a.ctl(['audit', 'verify']).code, 1, 'still broken after a restart');
  await settled(a);

  // 2. Delete chain.jsonl + head.json while stopped.
  await a.stop();
  chainFiles.forEach((f) => unlinkSync(f));
  a = await startAppliance({ home });
  await until('audit broken after deletion', () => (auditState(a) === 'broken' ? true : undefined));
  v = a.ctl(['audit', 'verify', '--json']);
  t.equal(v.code, 1, 'audit verify exits 1 after deletion');
  t.match(v.json(), { ok: false, brokenAt: 1, reason: /the chain is missing/ });
  await settled(a);

  // 3. Restore the chain AND the anchor from the same backup: they agree, but JetStream saw more acknowledged.
  await a.stop();
  [...chainFiles, anchorFile].filter((f) => existsSync(keep(f))).forEach((f) => copyFileSync(keep(f), f));
  a = await startAppliance({ home });
  await until('audit broken after a full restore', () => (auditState(a) === 'broken' ? true : undefined));
  v = a.ctl(['audit', 'verify', '--json']);
  t.equal(v.code, 1, 'audit verify exits 1 after a full restore');
  t.match(v.json(), { ok: false, reason: /records were lost: JetStream stream AUDIT_EVT had messages up to \d+ acknowledged/ }, `the lost records are named: ${v.stdout}`);
  t.notMatch(v.json().reason, /rolled back|missing/, 'the anchor alone saw nothing wrong');
  await settled(a);

  // 4. Delete the JetStream store: the streams come back empty, their sequences start again at 1.
  await a.stop();
  rmSync(join(home, 'bus', 'jetstream'), { recursive: true, force: true });
  a = await startAppliance({ home });
  await until('the recreated stream reported', async () => ((await lastAlarm(a))?.payload.reason.match(/AUDIT_EVT was recreated/) ? true : undefined));
  t.equal(auditState(a), 'broken', 'still broken');
  await witnesses(a, 'after-wipe', 3);
  await until('the witnesses published after the wipe in the chain', () => {
    const text = readFileSync(chainFiles[0]!, 'utf8');
    return [0, 1, 2].every((i) => text.includes('"witness-after-wipe-' + i + '"')) ? true : undefined;
  });
  t.pass('new messages with sequences the chain had seen before are recorded, not dropped as duplicates');
});
