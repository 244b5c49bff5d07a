// Rejected artifacts do not pile up: payloads are dropped past the retention policy (oldest first) and on
// `securectl models purge`, while every report, reason and hash stays (#13.4).
import t from 'tap';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFESTS } from '../../runtime/catalog.js';
import { planRetention } from '../../actors/quarantine/retention.js';
import { decode } from '../../bus/codec.js';
import { defineManifest } from '../../bus/manifest.js';
import { ensureOperatorKey } from '../../bus/operator-keys.js';
import { eventSubject } from '../../bus/subjects.js';
import { ErrorCode } from '../../common/errors.js';
import { encodePickle } from '../fixtures/pickle-writer.js';
import { startTestBus } from '../helpers/bus.js';
import { cleanup, fastPolicyDir, killHard, startActorProcess } from '../helpers/vault-actor.js';

const day = 86_400_000;
const at = (msAgo: number) => new Date(Date.UTC(2026, 11, 4) - msAgo).toISOString();
const now = Date.UTC(2026, 11, 4);

t.test('retention — count, bytes and age each drop the oldest payloads first', async (t) => {
  const e = [
    { id: 'a', finishedAt: at(5 * day), bytes: 100 },
    { id: 'b', finishedAt: at(3 * day), bytes: 100 },
    { id: 'c', finishedAt: at(1 * day), bytes: 100 },
  ];
  t.same(planRetention(e, { max_rejected: 10, max_rejected_bytes: 1000, max_age_days: 30 }, now), [], 'within every bound');
  t.same(planRetention(e, { max_rejected: 1, max_rejected_bytes: 1000, max_age_days: 30 }, now), ['a', 'b'], 'count: the newest stays');
  t.same(planRetention(e, { max_rejected: 10, max_rejected_bytes: 250, max_age_days: 30 }, now), ['a'], 'bytes');
  t.same(planRetention(e, { max_rejected: 10, max_rejected_bytes: 1000, max_age_days: 2 }, now), ['a', 'b'], 'age');
  t.same(planRetention(e, { max_rejected: 0, max_rejected_bytes: 1000, max_age_days: 30 }, now), ['a', 'b', 'c'], 'zero keeps none');
  t.same(planRetention(e, { max_rejected: 10, max_rejected_bytes: 1000, max_age_days: 0 }, now), ['a', 'b', 'c'], 'age zero keeps none');
  t.same(planRetention([{ id: 'x', finishedAt: 'garbage', bytes: 1 }], { max_rejected: 10, max_rejected_bytes: 1000, max_age_days: 30 }, now), ['x'], 'an unreadable date is not kept forever');
});

t.test('retention — over the real bus: three rejected imports keep one payload, all reports; purge drops the rest', async (t) => {
  const watcher = defineManifest({ name: 'watcher', kind: 'client', description: 'test: reads quarantine events', serves: {}, commands: {}, publishes: {}, requests: [], subscribes: ['quarantine.*'] });
  const bus = await startTestBus([...MANIFESTS, watcher], { streams: true });
  const policy = fastPolicyDir((y) => y.replace(/^(\s*behavioral_test:) optional$/m, '$1 off').replace(/^(\s*max_rejected:) \d+$/m, '$1 1'));
  const q = await startActorProcess(bus, 'quarantine', policy, { SECAI_QUARANTINE_SETTLE_MS: '100' });
  t.teardown(async () => { await killHard(q); await bus.stop(); cleanup(policy); });
  const w = await bus.connect('watcher');
  const verdicts: { id: string; outcome: string; sha256: string | null }[] = [];
  const purged: { ids: string[]; freedBytes: number; by: string }[] = [];
  w.nc.subscribe(eventSubject('quarantine', 'verdict'), { callback: (_e, m) => { verdicts.push(decode(m.data) as never); } });
  w.nc.subscribe(eventSubject('quarantine', 'purged'), { callback: (_e, m) => { purged.push(decode(m.data) as never); } });
  await w.nc.flush();
  const until = async (ok: () => boolean, what: string) => {
    for (let i = 0; i < 600 && !ok(); i++) await new Promise((r) => setTimeout(r, 100));
    if (!ok()) throw new Error(`timed out waiting for ${what}`);
  };

  // Three pickles (refused at the format gate), one after another: 64 KiB of payload each.
  const incoming = bus.paths.incoming;
  mkdirSync(incoming, { recursive: true });
  for (let i = 0; i < 3; i++) {
    writeFileSync(join(incoming, `evil-${i}.pkl`), Buffer.concat([encodePickle([{ module: 'os', name: 'system', args: ['id'] }]), Buffer.alloc(64 * 1024)]));
    await until(() => verdicts.length === i + 1, `verdict ${i + 1}`);
  }
  t.ok(verdicts.every((v) => v.outcome === 'rejected'), 'all three rejected (at the format gate)');
  await until(() => purged.length >= 2, 'two retention purges');
  const rejectedDir = join(bus.paths.quarantine, 'rejected');
  const withPayload = readdirSync(rejectedDir).filter((id) => readdirSync(join(rejectedDir, id)).some((f) => f !== 'report.json'));
  t.same(withPayload, [verdicts[2]!.id], 'only the newest payload is kept');
  for (const v of verdicts) t.ok(existsSync(join(rejectedDir, v.id, 'report.json')), `${v.id}: its report stays`);
  t.match(purged[0], { ids: [verdicts[0]!.id], by: 'retention policy' });
  t.ok(purged[0]!.freedBytes >= 64 * 1024, `${purged[0]!.freedBytes} bytes freed`);

  // The operator: one id, then everything; refusals change nothing.
  const cli = await bus.connect('cli');
  const key = await ensureOperatorKey(bus.paths.operatorKey, bus.paths.trustedOperators);
  await t.rejects(cli.command(key, 'quarantine', 'purge', { id: verdicts[0]!.id }), { code: ErrorCode.INVALID_STATE }, 'already dropped');
  await t.rejects(cli.command(key, 'quarantine', 'purge', { id: 'nope' }), { code: ErrorCode.JOB_NOT_FOUND });
  const all = await cli.command<{ purged: { id: string; bytes: number }[]; freedBytes: number }>(key, 'quarantine', 'purge', {});
  t.same(all.purged.map((p) => p.id), [verdicts[2]!.id]);
  t.same(readdirSync(rejectedDir).filter((id) => readdirSync(join(rejectedDir, id)).some((f) => f !== 'report.json')), [], 'no payload left');
  const report = await cli.command<{ state: string; purged: { by: string }; results: { stage: string; evidence: { sha256?: string } }[] }>(key, 'quarantine', 'get', { id: verdicts[2]!.id });
  t.match(report, { state: 'rejected', purged: { by: /^operator / } });
  await until(() => purged.some((p) => p.by.startsWith('operator ')), 'the operator purge event');
});
