// bench:detect — from a real cause to its incident contained, p50/p99 over repeated causes of three kinds (a canary read,
// a byte flipped in place in the audit chain, a forbidden publish with a stolen identity), on a real appliance; plus the
// integrity monitor's idle CPU and its full-rescan throughput against `sha256sum` of the same files (bench/integrity-measure.ts).
//
// The policy contains these classes with lock_vault and disable_airlock only (ops that exist and succeed), so an
// incident ends `contained`. "Contained" is when its last containment step answered (the latest `steps[].at`, stamped
// by the incident actor as each op's reply arrives); the cause is stamped here just before it is made, on the same
// host's clock. Between repeats the incident is acknowledged and resolved (signed), so each cause opens a fresh one.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { BusClient } from '../bus/client.js';
import { loadIdentity } from '../bus/identities.js';
import { ensureOperatorKey } from '../bus/operator-keys.js';
import { homePaths } from '../common/paths.js';
import { getSodium } from '../common/sodium.js';
import { disposeAppliance, startAppliance, type Appliance } from '../test/helpers/appliance.js';
import { cleanup, fastPolicyDir } from '../test/helpers/vault-actor.js';
import { idleCpuPct, rescan } from './integrity-measure.js';
import { emit, round, summarize, table } from './stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 60);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 20);
const TARGETS = { containedP99Ms: 1000, idleCpuPct: 1, rescan: 0.8 };
const CONTAIN = ['lock_vault', 'disable_airlock'];

interface Summary { id: string; class: string; key: string; state: string; firstSeen: number; steps: { action: string; status: string; at: number | null }[] }
interface Sample { detectMs: number; containedMs: number; state: string }
type Kind = 'canary' | 'audit_flip' | 'forbidden_publish';

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000, everyMs = 50): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function causes(a: Appliance): Promise<{ samples: Record<Kind, Sample[]>; idle: { integrity: number; incident: number } }> {
  const paths = homePaths(a.home);
  const key = await ensureOperatorKey(paths.operatorKey, paths.trustedOperators);
  const cli = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'cli'), reconnect: false });
  // The attacker's connection: the gateway's credentials as someone who read the state directory has them.
  const stolen = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'gateway'), reconnect: false });
  try {
    type St = { state: string; canaries: { watching: boolean }[] };
    await until('integrity trusted, canaries watched', async () => {
      const s = await cli.command<St>(key, 'integrity', 'status');
      return s.state === 'trusted' && s.canaries.length && s.canaries.every((c) => c.watching) ? true : undefined;
    }, 120_000, 200);
    // Idle: nothing asks either actor anything while measured (their own scans and ticks are what is counted).
    const pidOf = async (actor: string) => (await cli.command<{ pid: number }>(key, actor, 'ping')).pid;
    const [integrity, incident] = await Promise.all([idleCpuPct(await pidOf('integrity'), IDLE_S), idleCpuPct(await pidOf('incident'), IDLE_S)]);

    const unresolved = async () => (await cli.command<{ incidents: Summary[] }>(key, 'incident', 'list', { state: 'unresolved', limit: 100 })).incidents;
    /** The incident `pred` picks once every step has answered, timed from `t0` (Date.now() just before the cause). */
    const measure = async (t0: number, pred: (i: Summary) => boolean): Promise<Sample> => {
      const i = await until('the incident contained', async () => (await unresolved()).find((x) => pred(x) && x.state !== 'open'), 30_000, 100);
      if (i.steps.length !== CONTAIN.length || i.steps.some((s) => s.status !== 'done')) throw new Error(`containment did not succeed: ${JSON.stringify(i)}`);
      const doneAt = Math.max(...i.steps.map((s) => s.at ?? Infinity));
      await cli.command(key, 'incident', 'ack', { id: i.id, note: 'bench' });
      await cli.command(key, 'incident', 'resolve', { id: i.id, note: 'bench' });
      return { detectMs: i.firstSeen - t0, containedMs: doneAt - t0, state: i.state };
    };
    const reopenAirlock = () => cli.command(key, 'airlock', 'enable', {});

    const samples: Record<Kind, Sample[]> = { canary: [], audit_flip: [], forbidden_publish: [] };
    const canary = join(paths.vault, 'recovery-key.txt');
    const chain = join(paths.audit, 'chain.jsonl');
    for (let r = 0; r < REPEATS; r++) {
      await reopenAirlock();
      let t0 = Date.now();
      readFileSync(canary);
      samples.canary.push(await measure(t0, (x) => x.class === 'unauthorized_access' && x.key === `canary:${canary}`));

      // One byte of the second record flipped in place (same size, still JSON): the audit actor's folder watch sees it.
      await reopenAirlock();
      const text = readFileSync(chain, 'utf8');
      const lineStart = text.indexOf('\n') + 1;
      const at = Buffer.byteLength(text.slice(0, text.indexOf('"subject":"', lineStart) + 11));
      const fd = openSync(chain, 'r+');
      try {
        const was = Buffer.from(text.slice(text.indexOf('"subject":"', lineStart) + 11, text.indexOf('"subject":"', lineStart) + 12));
        t0 = Date.now();
        writeSync(fd, Buffer.from(was[0] === 0x73 ? 'S' : 's'), 0, 1, at);
        const s = await measure(t0, (x) => x.class === 'integrity_violation' && x.key === 'audit-chain');
        writeSync(fd, was, 0, 1, at);
        samples.audit_flip.push(s);
      } finally {
        closeSync(fd);
      }
      await until('the chain verified again', async () => (a.ctl(['audit', 'verify']).code === 0 ? true : undefined), 30_000, 200);

      await reopenAirlock();
      t0 = Date.now();
      stolen.nc.publish(`secai.evt.vault.bench_${r}`, new Uint8Array([0x80])); // a new subject each time: reported at once, not in the 10 s summary
      await stolen.nc.flush();
      samples.forbidden_publish.push(await measure(t0, (x) => x.class === 'policy_bypass_attempt' && x.key === 'identity:gateway'));
    }
    return { samples, idle: { integrity, incident } };
  } finally {
    await stolen.close().catch(() => undefined); // lint-ok: closing
    await cli.close();
  }
}

async function main(): Promise<void> {
  await getSodium();
  const r = await rescan(ROUNDS);
  const ratio = r.ours / r.base;
  console.log(table([
    ['rescan (best of ' + ROUNDS + ')', 'files', 'MB', 'MB/s'],
    ['integrity monitor', r.files, round(r.mb, 1), round(r.ours, 0)],
    ['sha256sum', r.files, round(r.mb, 1), round(r.base, 0)],
  ]));
  const config = fastPolicyDir((y) => {
    const doc = parse(y) as Record<string, Record<string, unknown>>;
    const containment = doc['incidents']!['containment'] as Record<string, Record<string, string[]>>;
    doc['incidents'] = {
      ...doc['incidents'],
      containment: { ...containment, unauthorized_access: { high: CONTAIN, critical: CONTAIN }, integrity_violation: { critical: CONTAIN }, policy_bypass_attempt: { high: CONTAIN } },
    };
    return stringify(doc);
  });
  let run: Awaited<ReturnType<typeof causes>>;
  const a = await startAppliance({ env: { SECAI_CONFIG: config }, timeoutMs: 120_000 });
  try {
    run = await causes(a);
  } finally {
    await disposeAppliance(a);
    cleanup(config);
  }
  const kinds = Object.keys(run.samples) as Kind[];
  const stats = Object.fromEntries(kinds.map((k) => [k, { contained: summarize(run.samples[k].map((s) => s.containedMs)), detect: summarize(run.samples[k].map((s) => s.detectMs)) }]));
  const all = summarize(kinds.flatMap((k) => run.samples[k].map((s) => s.containedMs)));
  console.log(table([
    ['cause → contained (ms)', 'n', 'detect p50', 'detect p99', 'contained p50', 'contained p99', 'target p99'],
    ...kinds.map((k) => [k, stats[k]!.contained.n, round(stats[k]!.detect.p50, 1), round(stats[k]!.detect.p99, 1), round(stats[k]!.contained.p50, 1), round(stats[k]!.contained.p99, 1), `< ${TARGETS.containedP99Ms}`]),
    ['all', all.n, '', '', round(all.p50, 1), round(all.p99, 1), `< ${TARGETS.containedP99Ms}`],
  ]));
  console.log(table([
    ['idle CPU over ' + IDLE_S + ' s', '% of a core', 'target'],
    ['integrity monitor', round(run.idle.integrity, 3), `< ${TARGETS.idleCpuPct}`],
    ['incident actor', round(run.idle.incident, 3), ''],
  ]));
  const met = all.p99 < TARGETS.containedP99Ms && run.idle.integrity < TARGETS.idleCpuPct && ratio >= TARGETS.rescan;
  emit({
    bench: 'detect', repeats: REPEATS,
    ...Object.fromEntries(kinds.flatMap((k) => [[`${k}_p50_ms`, round(stats[k]!.contained.p50, 1)], [`${k}_p99_ms`, round(stats[k]!.contained.p99, 1)], [`${k}_detect_p99_ms`, round(stats[k]!.detect.p99, 1)]])),
    contained_p50_ms: round(all.p50, 1), contained_p99_ms: round(all.p99, 1), contained_target_ms: TARGETS.containedP99Ms,
    idle_cpu_pct: round(run.idle.integrity, 3), incident_idle_cpu_pct: round(run.idle.incident, 3), idle_target_pct: TARGETS.idleCpuPct, idle_s: IDLE_S,
    rescan_files: r.files, rescan_mb: round(r.mb, 1), ours_mbps: round(r.ours, 0), base_mbps: round(r.base, 0), ratio: round(ratio, 2), rescan_target: TARGETS.rescan,
    met,
  });
}

main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1); });
