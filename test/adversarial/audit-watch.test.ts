// The audit actor watches its own chain file: a byte flipped in place by an ordinary write (same inode, same size)
// is verified at once and published as chain_broken with the change as evidence, long before the periodic verify
// (an hour here); 200 of its own appends raise no alarm.
import t from 'tap';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { BusClient } from '../../bus/client.js';
import { decode } from '../../bus/codec.js';
import { loadIdentity } from '../../bus/identities.js';
import { AUDIT_STREAMS } from '../../bus/subjects.js';
import { disposeAppliance, startAppliance } from '../helpers/appliance.js';

const BROKEN = 'secai.evt.audit.chain_broken';
const a = await startAppliance({ env: { SECAI_AUDIT_VERIFY_MS: String(3_600_000) } });
t.teardown(() => disposeAppliance(a));
const keys = join(a.home, 'keys', 'bus');
// The supervisor's identity reads the tap stream (what the audit actor published); the gateway's makes appends.
const sup = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(keys, 'supervisor'), reconnect: false });
const gw = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(keys, 'gateway'), reconnect: false });
t.teardown(async () => { await sup.close(); await gw.close(); });
const jsm = await jetstreamManager(sup.nc);

async function alarm(): Promise<{ reason: string; trigger?: string; brokenAt: number } | undefined> {
  try {
    const m = await jsm.streams.getMessage(AUDIT_STREAMS.events.name, { last_by_subj: BROKEN });
    return m ? (decode(m.data) as { reason: string; trigger?: string; brokenAt: number }) : undefined;
  } catch {
    return undefined; // lint-ok: no such message yet
  }
}
const auditState = () => (a.ctl(['status', '--json']).json() as { actors: { name: string; state: unknown }[] }).actors.find((x) => x.name === 'audit')?.state;
const chainFile = join(a.home, 'audit', 'chain.jsonl');
const lines = () => readFileSync(chainFile, 'utf8').split('\n').filter(Boolean).length;

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test('audit watch — 200 appends by the audit actor itself raise no alarm', async (t) => {
  await until('audit following', () => (auditState() === 'following' ? true : undefined));
  const before = lines();
  // One at a time (each acked by JetStream before the next), so the actor appends in many small batches.
  for (let i = 0; i < 200; i++) await gw.publishEvent('gateway', 'listening', { port: 40_000 + i, url: `append-${i}` });
  await until('200 more records on disk', () => (lines() >= before + 200 ? true : undefined));
  // Events of the last appends may still be in flight: one more ordinary append, then look.
  await gw.publishEvent('gateway', 'listening', { port: 1, url: 'last' });
  await until('the last record', () => (readFileSync(chainFile, 'utf8').includes('"url":"last"') ? true : undefined));
  t.equal(await alarm(), undefined, 'no chain_broken was published');
  t.equal(auditState(), 'following');
});

t.test('audit watch — one byte flipped in place is chain_broken within seconds, with the change as evidence', async (t) => {
  const text = readFileSync(chainFile, 'utf8');
  const at = text.indexOf('append-100');
  t.ok(at > 0);
  const size = Buffer.byteLength(text);
  // An ordinary write into the file as it is: same inode, same size, one character changed.
  const fd = openSync(chainFile, 'r+');
  writeSync(fd, 'X', Buffer.byteLength(text.slice(0, at)));
  closeSync(fd);
  t.equal(Buffer.byteLength(readFileSync(chainFile, 'utf8')), size, 'same size');
  const got = await until('chain_broken', () => alarm());
  t.match(got, { reason: /./, trigger: /written by another hand/ }, 'the alarm names what changed');
  t.ok(got.brokenAt > 0, `broken at record ${got.brokenAt}`);
  t.equal(await until('audit broken', () => (auditState() === 'broken' ? 'broken' : undefined)), 'broken');
});
