// GPU watch scorer on recorded fixtures: each case is probed for real (sysfs tree, version file, a stand-in
// nvidia-smi process, a kmsg recording) and judged against a pinned policy; unreadable output fails closed.
import t, { type Test } from 'tap';
import { rmSync } from 'node:fs';
import { probe, probeDeps, type ProbeDeps } from '../../actors/gpu-watch/probe.js';
import { CLASS_OF, judge, type Baseline, type GpuSettings } from '../../machines/gpu-watch/score.js';
import { H100, H200, HEALTHY, OTHERS, RTX4090, tempGpuRoot, type GpuScenario } from '../fixtures/gpu-root.js';

/** The shipped weights and thresholds, pinned to the fixtures' H100 and driver. */
const PINNED: GpuSettings = {
  allowed_devices: ['0x10de:0x2330'], expected_driver_versions: ['550.54.15'], require_allowed_present: true,
  weights: { driver_changed: 100, unexpected_device: 100, device_missing: 60, ecc_uncorrected: 60, xid_error: 40, temperature: 20, clocks_throttled: 10 },
  warning_score: 20, critical_score: 60, max_temperature_c: 90,
};
/** The shipped policy.yaml defaults: nothing pinned, first seen is expected. */
const DEFAULTS: GpuSettings = { ...PINNED, allowed_devices: [], expected_driver_versions: [], require_allowed_present: false };

async function observe(t: Test, scenario: GpuScenario, deps: Partial<ProbeDeps> = {}) {
  const root = tempGpuRoot(scenario);
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  return probe({ ...probeDeps(root, undefined), ...deps });
}
async function judged(t: Test, scenario: GpuScenario, p: GpuSettings = PINNED, baseline: Baseline | null = null, deps: Partial<ProbeDeps> = {}) {
  return judge(await observe(t, scenario, deps), p, baseline);
}
const kinds = (j: { findings: { kind: string }[] }) => j.findings.map((f) => f.kind).sort();

t.test('gpu score — healthy H100 pair: every source read, score 0, baseline recorded', async (t) => {
  const o = await observe(t, HEALTHY);
  t.equal(o.driver.state === 'ok' && o.driver.value, '550.54.15');
  t.same(o.devices.state === 'ok' && o.devices.value.map((d) => `${d.bus} ${d.vendor}:${d.device} ${d.subsystem} ${d.driver}`),
    ['0000:18:00.0 0x10de:0x2330 0x10de:0x16c1 nvidia', '0000:2a:00.0 0x10de:0x2330 0x10de:0x16c1 nvidia'], 'NVSwitch bridge, host bridge and NIC are not GPUs');
  t.equal(o.smi.state, 'ok');
  t.same(o.smi.state === 'ok' && o.smi.value.map((g) => [g.bus, g.temperatureC, g.eccUncorrected, g.throttleReasons]), [['0000:18:00.0', 34, 0, 1], ['0000:2a:00.0', 36, 0, 1]]);
  t.same(o.xids, { state: 'ok', value: [] });
  const j = judge(o, PINNED, null);
  t.equal(j.verdict, 'healthy');
  t.equal(j.score, 0);
  t.same(j.findings, []);
  t.same(j.baseline, { driverVersion: '550.54.15', devices: { '0000:18:00.0': { id: '0x10de:0x2330', driver: 'nvidia' }, '0000:2a:00.0': { id: '0x10de:0x2330', driver: 'nvidia' } } });
  t.equal(judge(o, DEFAULTS, null).verdict, 'healthy', 'healthy under the shipped defaults too');
});

t.test('gpu score — an H200 with ECC [N/A] is healthy when allowed, and an unexpected_device when only H100 is', async (t) => {
  const h200: GpuScenario = { ...HEALTHY, devices: [H200('0000:9b:00.0')], smi: { file: 'smi-h200x1-healthy.csv' } };
  const ok = await judged(t, h200, { ...PINNED, allowed_devices: ['0x10de:0x2335'], expected_driver_versions: ['550.54.15', '550.90.07'] });
  // The kernel module file says 550.54.15 but this nvidia-smi says 550.90.07: a userland/kernel mismatch is a driver finding.
  t.same(kinds(ok), ['driver_changed']);
  t.match(ok.findings[0]!.summary, /nvidia-smi reports driver 550\.90\.07 but the kernel module is 550\.54\.15/);
  const bad = await judged(t, { ...h200, version: null }, PINNED);
  t.ok(kinds(bad).includes('unexpected_device'));
  t.equal(bad.verdict, 'critical');
});

t.test('gpu score — driver swapped to 560.35.03 (open module): driver_changed, critical, attestation_failure', async (t) => {
  const scenario = { ...HEALTHY, version: 'proc-driver-nvidia-version-560.35.03-open.txt', smi: { file: 'smi-h100x2-driver-560.csv' } };
  const pinned = await judged(t, scenario);
  t.same(kinds(pinned), ['driver_changed']);
  t.equal(pinned.verdict, 'critical');
  t.equal(pinned.score, 100);
  t.match(pinned.findings[0]!.evidence, { expected: ['550.54.15'], found: '560.35.03', pinnedByPolicy: true });
  t.equal(CLASS_OF[pinned.findings[0]!.kind], 'attestation_failure');
  // Nothing pinned: the version of the first probe is the expected one.
  const first = judge(await observe(t, HEALTHY), DEFAULTS, null);
  const later = await judged(t, scenario, DEFAULTS, first.baseline);
  t.same(kinds(later), ['driver_changed']);
  t.match(later.findings[0]!.evidence, { expected: ['550.54.15'], found: '560.35.03', pinnedByPolicy: false });
  t.same(later.baseline, first.baseline, 'the baseline never moves to the new driver');
});

t.test('gpu score — an RTX 4090 appears: unexpected_device by the allowlist, and by the baseline when nothing is pinned', async (t) => {
  const scenario = { ...HEALTHY, devices: [...HEALTHY.devices, RTX4090('0000:3b:00.0')] };
  const j = await judged(t, scenario);
  t.same(kinds(j), ['unexpected_device']);
  t.equal(j.verdict, 'critical');
  t.match(j.findings[0], { key: 'device:0000:3b:00.0', evidence: { device: '0x2684', subsystem: '0x10de:0x165b' } });
  const first = judge(await observe(t, HEALTHY), DEFAULTS, null);
  const later = await judged(t, scenario, DEFAULTS, first.baseline);
  t.same(kinds(later), ['unexpected_device']);
  t.match(later.findings[0]!.summary, /appeared at 0000:3b:00\.0 after the watch started/);
  t.equal(judge(await observe(t, scenario), DEFAULTS, null).verdict, 'healthy', 'without a pin, what the first probe sees is the baseline (docs: pin allowed_devices)');
});

t.test('gpu score — a GPU gone from the bus: device_missing (critical at 60), integrity_violation', async (t) => {
  const first = judge(await observe(t, HEALTHY), PINNED, null);
  const gone = { ...HEALTHY, devices: [...OTHERS, H100('0000:18:00.0')], smi: { file: 'smi-h100x1-gone.csv' } };
  const j = await judged(t, gone, PINNED, first.baseline);
  t.same(kinds(j), ['device_missing']);
  t.equal(j.score, 60);
  t.equal(j.verdict, 'critical');
  t.equal(CLASS_OF.device_missing, 'integrity_violation');
  t.match(j.findings[0], { key: 'device:0000:2a:00.0', evidence: { expected: '0x10de:0x2330' } });
  // Every GPU and the driver gone: not `absent` once a GPU was seen.
  const all = await judged(t, { devices: OTHERS, version: null, smi: null, kmsg: null }, DEFAULTS, first.baseline);
  t.same(kinds(all), ['device_missing', 'device_missing', 'driver_changed']);
  t.equal(all.verdict, 'critical');
});

t.test('gpu score — 2 uncorrected ECC errors: ecc_uncorrected, critical', async (t) => {
  const j = await judged(t, { ...HEALTHY, smi: { file: 'smi-h100x2-ecc.csv' } });
  t.same(kinds(j), ['ecc_uncorrected']);
  t.match(j.findings[0], { key: 'ecc:0000:2a:00.0', evidence: { count: 2, uuid: 'GPU-4e1d7c3b-0a9f-4b2e-8c6d-5f7a9b1c3d2e' } });
  t.equal(j.verdict, 'critical');
});

t.test('gpu score — XID 79 in the kernel log: one xid_error (twice logged), warning', async (t) => {
  const j = await judged(t, { ...HEALTHY, kmsg: 'kmsg-xid79.txt' });
  t.same(kinds(j), ['xid_error']);
  t.match(j.findings[0], { key: 'xid:0000:2a:00.0:79', evidence: { xid: 79, times: 2, line: /^NVRM: Xid \(PCI:0000:2a:00\): 79/ } });
  t.equal(j.score, 40);
  t.equal(j.verdict, 'warning');
});

t.test('gpu score — 97 °C with HW and SW thermal slowdown: temperature + clocks_throttled, warning; a power cap alone is no finding', async (t) => {
  const j = await judged(t, { ...HEALTHY, smi: { file: 'smi-h100x2-hot.csv' } });
  t.same(kinds(j), ['clocks_throttled', 'temperature']);
  t.equal(j.score, 30);
  t.equal(j.verdict, 'warning');
  t.ok(j.findings.every((f) => f.key.endsWith('0000:18:00.0')), 'GPU 1 (71 °C, reason 0x4 SW power cap) is fine');
});

t.test('gpu score — garbage, truncated, huge, binary, failing or hung nvidia-smi: probe_failed, at least warning, never healthy', async (t) => {
  const healthyText = (await import('node:fs')).readFileSync(new URL('../fixtures/gpu/smi-h100x2-healthy.csv', import.meta.url), 'utf8');
  const cases: [string, NonNullable<GpuScenario['smi']>, RegExp, Partial<ProbeDeps>?][] = [
    ['garbage', { text: 'Segmentation fault\n<html>oops</html>\n' }, /fields, expected 8/],
    ['truncated mid-row', { text: healthyText.slice(0, healthyText.length - 40) }, /line 2: \d fields, expected 8|line 2: uuid/],
    ['a row with a bad bus id', { text: healthyText.replace('00000000:2A:00.0', 'pci-zero') }, /PCI bus id 'pci-zero'/],
    ['a temperature that is not a number', { text: healthyText.replace(', 34,', ', hot,') }, /temperature 'hot'/],
    ['empty output, exit 0', { text: '' }, /no GPU rows/],
    ['binary output', { text: '\0\0\x7fELF\0' }, /binary output/],
    ['huge output (2 MiB)', { text: `${healthyText.split('\n')[0]}\n`.repeat(2 * 1024 * 1024 / 120) }, /more than 1048576 bytes/],
    ['more rows than GPUs', { text: Array.from({ length: 70 }, (_, i) => healthyText.split('\n')[0]!.replace('00000000:18', `00000000:${(i + 16).toString(16)}`)).join('\n') }, /more than 64 rows/],
    ['exit 9, cannot talk to the driver', { file: 'smi-failed.txt', code: 9 }, /exited 9: NVIDIA-SMI has failed/],
    ['hung past its timeout', { text: healthyText }, /did not answer within 300 ms/, { smiTimeoutMs: 300 }],
  ];
  for (const [name, smi, why, deps] of cases) {
    const scenario = { ...HEALTHY, smi };
    const root = tempGpuRoot(scenario);
    t.teardown(() => rmSync(root, { recursive: true, force: true }));
    if (name.startsWith('hung')) (await import('node:fs')).writeFileSync(`${root}/usr/bin/nvidia-smi`, '#!/bin/sh\nexec sleep 30\n');
    const o = await probe({ ...probeDeps(root, undefined), ...deps });
    t.equal(o.smi.state, 'failed', `${name}: failed`);
    if (o.smi.state === 'failed') t.match(o.smi.error, why, `${name}: ${o.smi.error.slice(0, 120)}`);
    const j = judge(o, PINNED, null);
    t.not(j.verdict, 'healthy', `${name}: not healthy`);
    t.ok(j.score >= PINNED.warning_score, `${name}: at least warning (${j.verdict})`);
    t.ok(j.findings.some((f) => f.kind === 'probe_failed' && f.key === 'probe:nvidia-smi'));
    t.equal(j.baseline, null, `${name}: an unreadable probe does not become the baseline`);
  }
});

t.test('gpu score — a malformed version file or sysfs attribute is probe_failed, not a missing driver', async (t) => {
  const root = tempGpuRoot(HEALTHY);
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const fs = await import('node:fs');
  fs.writeFileSync(`${root}/proc/driver/nvidia/version`, 'NVRM version: tampered\n');
  fs.writeFileSync(`${root}/sys/bus/pci/devices/0000:18:00.0/device`, 'h100\n');
  const j = judge(await probe(probeDeps(root, undefined)), PINNED, null);
  t.same(j.findings.filter((f) => f.kind === 'probe_failed').map((f) => f.key).sort(), ['probe:driver', 'probe:sysfs']);
  t.not(j.verdict, 'healthy');
});

t.test('gpu score — no GPU: absent with nothing required; device_missing (critical) when policy requires one', async (t) => {
  const none: GpuScenario = { devices: OTHERS.filter((d) => d.vendor !== '0x10de'), version: null, smi: { file: 'smi-failed.txt', code: 9 }, kmsg: 'kmsg-clean.txt' };
  const o = await observe(t, none);
  t.same(o.smi, { state: 'absent' }, 'nvidia-smi is not asked about a GPU that is not there');
  t.same(judge(o, DEFAULTS, null), { verdict: 'absent', score: 0, findings: [], baseline: null });
  const req = judge(o, { ...DEFAULTS, require_allowed_present: true }, null);
  t.equal(req.verdict, 'critical');
  t.same(kinds(req), ['device_missing']);
  t.equal(judge(await observe(t, { devices: [], version: null, smi: null, kmsg: null }), DEFAULTS, null).verdict, 'absent', 'an empty root (no sysfs) is absent too');
});

t.test('gpu score — the real probe on this host: reads / without a stand-in root, never throws, and is absent where there is no NVIDIA GPU', async (t) => {
  const deps = probeDeps(undefined, process.env['PATH']);
  t.equal(deps.root, '/');
  const o = await probe(deps);
  t.not(o.devices.state, 'failed', `sysfs read: ${JSON.stringify(o.devices).slice(0, 200)}`);
  const fs = await import('node:fs');
  const hasNvidia = fs.existsSync('/proc/driver/nvidia/version') || (o.devices.state === 'ok' && o.devices.value.length > 0);
  const j = judge(o, DEFAULTS, null);
  if (!hasNvidia) t.same(j, { verdict: 'absent', score: 0, findings: [], baseline: null }, 'no GPU here: absent');
  else t.ok(['healthy', 'warning', 'critical'].includes(j.verdict), `a GPU here: ${j.verdict} ${JSON.stringify(j.findings).slice(0, 300)}`);
});
