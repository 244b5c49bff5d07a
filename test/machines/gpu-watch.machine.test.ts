// GPU watch machine with transition() only: no probe runs, no file is read; each verdict path and what it reports.
import t from 'tap';
import { initialTransition, transition, type AnyEventObject } from 'xstate';
import { gpuWatchMachine, verdictOfState, type GpuWatchEvent, type GpuWatchSettings } from '../../machines/gpu-watch/gpu-watch.machine.js';
import type { Observation, PciGpu, SmiGpu } from '../../machines/gpu-watch/score.js';

type Snap = ReturnType<typeof initialTransition<typeof gpuWatchMachine>>[0];
type Actions = ReturnType<typeof transition<typeof gpuWatchMachine>>[1];
const step = (s: Snap, e: GpuWatchEvent | AnyEventObject) => transition(gpuWatchMachine, s, e as GpuWatchEvent);
const named = (a: Actions) => a.map((x) => x.type as string);

const settings: GpuWatchSettings = {
  intervalMs: 30_000, allowed_devices: [], expected_driver_versions: [], require_allowed_present: false,
  weights: { driver_changed: 100, unexpected_device: 100, device_missing: 60, ecc_uncorrected: 60, xid_error: 40, temperature: 20, clocks_throttled: 10 },
  warning_score: 20, critical_score: 60, max_temperature_c: 90,
};
const gpu = (bus: string): PciGpu => ({ bus, vendor: '0x10de', device: '0x2330', subsystem: '0x10de:0x16c1', class: '0x030200', driver: 'nvidia' });
const row = (bus: string, over: Partial<SmiGpu> = {}): SmiGpu => ({
  index: 0, bus, uuid: 'GPU-9f3c2a1e-5b7d-4c8e-a1f2-3d4e5f6a7b8c', name: 'NVIDIA H100 80GB HBM3', driverVersion: '550.54.15', temperatureC: 35, eccUncorrected: 0, throttleReasons: 1, ...over,
});
function obs(o: { version?: string | null; buses?: string[]; smi?: Partial<SmiGpu>; xid?: boolean } = {}): Observation {
  const version = o.version === undefined ? '550.54.15' : o.version;
  const buses = o.buses ?? ['0000:18:00.0'];
  return {
    at: 1000,
    driver: version ? { state: 'ok', value: version } : { state: 'absent' },
    devices: { state: 'ok', value: buses.map(gpu) },
    smi: buses.length ? { state: 'ok', value: buses.map((b) => row(b, { driverVersion: version ?? '550.54.15', ...o.smi })) } : { state: 'absent' },
    xids: { state: 'ok', value: o.xid ? [{ bus: '0000:18:00.0', code: 79, line: 'NVRM: Xid (PCI:0000:18:00): 79' }] : [] },
  };
}
const probed = (from: 'probe' | 'reprobe', o: Observation) => ({ type: `xstate.done.actor.${from}`, output: o });
const verdict = (s: Snap) => verdictOfState(s.value);

function started(o: Observation = obs()): [Snap, Actions] {
  const [s0] = initialTransition(gpuWatchMachine, { settings });
  return step(s0, probed('probe', o));
}
/** From a verdict's waiting state: the interval fires, then the probe answers `o`. */
function tick(s: Snap, o: Observation): [Snap, Actions] {
  const top = verdict(s);
  const [p] = step(s, { type: `xstate.after.interval.gpu-watch.${top}.waiting` });
  t.same(p.value, { [top]: 'probing' }, `the interval starts a probe from ${top}`);
  return step(p, probed('reprobe', o));
}

t.test('gpu-watch machine — starting probes at once; a healthy probe → healthy, reported, baseline kept', async (t) => {
  const [s0] = initialTransition(gpuWatchMachine, { settings });
  t.equal(s0.value, 'starting');
  t.equal(verdictOfState(s0.value), 'starting');
  const [s, a] = started();
  t.same(s.value, { healthy: 'waiting' });
  t.ok(named(a).includes('report'));
  t.same(s.context.outbox, [], 'nothing to detect');
  t.same(s.context.baseline, { driverVersion: '550.54.15', devices: { '0000:18:00.0': { id: '0x10de:0x2330', driver: 'nvidia' } } });
  t.equal(s.context.probes, 1);
  t.equal(s.context.previous, null);
});

t.test('gpu-watch machine — no GPU and none required → absent, probed again on the interval (a GPU may be hot-plugged)', async (t) => {
  const none: Observation = { at: 1, driver: { state: 'absent' }, devices: { state: 'ok', value: [] }, smi: { state: 'absent' }, xids: { state: 'absent' } };
  const [s] = started(none);
  t.same(s.value, { absent: 'waiting' });
  t.same(s.context.outbox, []);
  t.equal(s.context.baseline, null);
  const [s2] = tick(s, obs());
  t.same(s2.value, { healthy: 'waiting' }, 'a GPU that appears later is judged (and becomes the baseline)');
  const [req] = step(initialTransition(gpuWatchMachine, { settings: { ...settings, require_allowed_present: true } })[0], probed('probe', none));
  t.same(req.value, { critical: 'waiting' }, 'required and missing: critical');
  t.equal(req.context.outbox[0]!.finding.kind, 'device_missing');
});

t.test('gpu-watch machine — healthy → driver swapped → critical: one attestation_failure report, not repeated on the next probe', async (t) => {
  let [s] = started();
  let a: Actions;
  [s, a] = tick(s, obs({ version: '560.35.03' }));
  t.same(s.value, { critical: 'waiting' });
  t.ok(named(a).includes('report'));
  t.equal(s.context.previous, 'healthy');
  t.match(s.context.outbox, [{ class: 'attestation_failure', verdict: 'critical', score: 100, finding: { kind: 'driver_changed', key: 'driver' } }]);
  t.equal(s.context.outbox.length, 1);
  t.same(s.context.reported, ['driver']);
  t.equal(s.context.judgement!.findings[0]!.kind, 'driver_changed');
  [s] = tick(s, obs({ version: '560.35.03' }));
  t.same(s.value, { critical: 'waiting' });
  t.same(s.context.reported, ['driver'], 'a standing cause is reported once');
  t.same(s.context.outbox, [], 'nothing new to report');
  // A new critical finding while critical is reported on its own.
  const [s3] = tick(s, obs({ version: '560.35.03', buses: ['0000:18:00.0', '0000:3b:00.0'] }));
  t.same(s3.context.reported, ['driver', 'device:0000:3b:00.0']);
  t.same(s3.context.outbox.map((r) => [r.class, r.finding.key]), [['attestation_failure', 'device:0000:3b:00.0']]);
});

t.test('gpu-watch machine — the outbox holds each new critical finding with its class, score and verdict', async (t) => {
  const [s0] = started();
  const [p] = step(s0, { type: 'gpu-watch.probe' });
  t.same(p.value, { healthy: 'probing' }, 'an operator probe starts one now');
  const snapAfter = step(p, probed('reprobe', obs({ version: '560.35.03', smi: { eccUncorrected: 3 } })))[0];
  t.same(snapAfter.context.reported.sort(), ['driver', 'ecc:0000:18:00.0']);
  t.equal(snapAfter.context.judgement!.score, 160);
  t.same(snapAfter.context.outbox.map((r) => [r.finding.key, r.class, r.score, r.verdict]).sort(), [['driver', 'attestation_failure', 160, 'critical'], ['ecc:0000:18:00.0', 'integrity_violation', 160, 'critical']]);
  t.same(snapAfter.context.judgement!.findings.map((f) => f.kind).sort(), ['driver_changed', 'ecc_uncorrected']);
});

t.test('gpu-watch machine — critical → healthy → critical again reports again (the incident actor counts it)', async (t) => {
  let [s] = started();
  [s] = tick(s, obs({ smi: { eccUncorrected: 1 } }));
  t.same(s.value, { critical: 'waiting' });
  t.same(s.context.reported, ['ecc:0000:18:00.0']);
  [s] = tick(s, obs());
  t.same(s.value, { healthy: 'waiting' });
  t.same(s.context.reported, []);
  t.equal(s.context.previous, 'critical');
  [s] = tick(s, obs({ smi: { eccUncorrected: 2 } }));
  t.same(s.context.reported, ['ecc:0000:18:00.0']);
});

t.test('gpu-watch machine — warning paths: an XID (40), over-temperature (20); no detection below critical', async (t) => {
  let [s] = started();
  let a: Actions;
  [s, a] = tick(s, obs({ xid: true }));
  t.same(s.value, { warning: 'waiting' });
  t.equal(s.context.judgement!.score, 40);
  t.same(s.context.reported, []);
  t.same(s.context.outbox, [], 'no detection below critical');
  t.ok(named(a).includes('report'), 'report runs (it announces the verdict change)');
  [s] = tick(s, obs({ smi: { temperatureC: 95 } }));
  t.same(s.value, { warning: 'waiting' });
  t.same(s.context.judgement!.findings.map((f) => f.kind), ['temperature']);
  [s] = tick(s, obs({ smi: { temperatureC: 60 } }));
  t.same(s.value, { healthy: 'waiting' });
});

t.test('gpu-watch machine — a probe that throws is judged unreadable: warning, never healthy, and no baseline from it', async (t) => {
  const [s0] = initialTransition(gpuWatchMachine, { settings });
  const [s] = step(s0, { type: 'xstate.error.actor.probe', error: new Error('EIO') });
  t.same(s.value, { warning: 'waiting' });
  t.equal(s.context.baseline, null);
  t.match(s.context.judgement!.findings.map((f) => f.key), ['probe:driver', 'probe:sysfs']);
  t.equal(s.context.judgement!.score, 40);
  // From healthy too.
  const [h] = started();
  const [p] = step(h, { type: 'gpu-watch.probe' });
  const [w] = step(p, { type: 'xstate.error.actor.reprobe', error: new Error('timeout') });
  t.same(w.value, { warning: 'waiting' });
  t.ok(w.context.baseline, 'the baseline from the good probe stays');
});

t.test('gpu-watch machine — settings apply in any state; the interval delay is read from them', async (t) => {
  const [s] = started();
  const [s2] = step(s, { type: 'gpu-watch.settings', settings: { ...settings, intervalMs: 5000, critical_score: 200 } });
  t.same(s2.value, { healthy: 'waiting' });
  t.equal(s2.context.settings.intervalMs, 5000);
  const [s3] = tick(s2, obs({ version: '560.35.03' }));
  t.same(s3.value, { warning: 'waiting' }, 'with critical_score 200 a driver change (100) is a warning');
});
