// The GPU watch in a real appliance, on a recorded H100 stand-in root (SECAI_GPU_ROOT): healthy at start; garbage
// nvidia-smi output is a warning (fail closed); the driver swapped under the running appliance is caught by the periodic
// probe and opens an attestation_failure incident with the evidence; a forged detection is refused by the bus; on this
// host's real / (no GPU, no nvidia-smi) the watch declares `absent`.
import t from 'tap';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { loadIdentity } from '../../bus/identities.js';
import { homePaths } from '../../common/paths.js';
import { HEALTHY, swapRecorded, tempGpuRoot } from '../fixtures/gpu-root.js';
import { disposeAppliance, ROOT, startAppliance, type Appliance } from '../helpers/appliance.js';
import { policyText } from '../policy/helpers.js';

async function until<T>(what: string, f: () => T | undefined | false, a: Appliance, ms = 40_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${a.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
const gpu = (a: Appliance, verb = 'status') => { const r = a.ctl(['gpu', verb, '--json']); return { code: r.code, ...JSON.parse(r.stdout || '{}') }; };

t.test('gpu-watch — on a recorded H100 pair: healthy; garbage nvidia-smi is a warning; a driver swapped at run time opens an incident with evidence', async (t) => {
  const root = tempGpuRoot(HEALTHY);
  const config = mkdtempSync(join(tmpdir(), 'secai-config-'));
  t.teardown(() => { rmSync(root, { recursive: true, force: true }); rmSync(config, { recursive: true, force: true }); });
  for (const f of readdirSync(join(ROOT, 'policy'))) if (f.endsWith('.yaml')) copyFileSync(join(ROOT, 'policy', f), join(config, f));
  writeFileSync(join(config, 'policy.yaml'), policyText({
    gpu_watch: { probe_interval_seconds: 5, allowed_devices: ['0x10de:0x2330'], expected_driver_versions: ['550.54.15'], require_allowed_present: true },
  }));
  const a = await startAppliance({ env: { SECAI_CONFIG: config, SECAI_GPU_ROOT: root }, timeoutMs: 60_000 });
  t.teardown(() => disposeAppliance(a));

  const st = gpu(a);
  t.equal(st.state, 'healthy', `probed before ready: ${JSON.stringify(st).slice(0, 600)}`);
  t.equal(st.code, 0, 'gpu status exits 0 when healthy');
  t.equal(st.driverVersion, '550.54.15');
  t.same(st.devices.map((d: { bus: string }) => d.bus), ['0000:18:00.0', '0000:2a:00.0']);
  t.same(st.gpus.map((g: { name: string }) => g.name), ['NVIDIA H100 80GB HBM3', 'NVIDIA H100 80GB HBM3']);
  t.equal(st.intervalMs, 5000);

  // Garbage from nvidia-smi: the signed probe answers a warning naming the source, never healthy.
  writeFileSync(join(root, 'recorded', 'nvidia-smi.out'), 'Segmentation fault (core dumped)\n');
  const bad = gpu(a, 'probe');
  t.equal(bad.state, 'warning');
  t.equal(bad.code, 1, 'gpu probe exits 1 on a warning');
  t.equal(bad.sources.smi.state, 'failed');
  t.match(bad.findings, [{ kind: 'probe_failed', key: 'probe:nvidia-smi' }]);
  swapRecorded(root, 'recorded/nvidia-smi.out', 'smi-h100x2-healthy.csv');
  t.equal(gpu(a, 'probe').state, 'healthy', 'restored');

  // The driver swapped under the running appliance: the next periodic probe (no operator asks) sees it.
  const before = gpu(a).probes;
  swapRecorded(root, 'proc/driver/nvidia/version', 'proc-driver-nvidia-version-560.35.03-open.txt');
  swapRecorded(root, 'recorded/nvidia-smi.out', 'smi-h100x2-driver-560.csv');
  const crit = await until('critical', () => { const s = gpu(a); return s.state === 'critical' && s; }, a);
  t.ok(crit.probes > before, 'found by a later probe');
  t.match(crit.findings, [{ kind: 'driver_changed', class: 'attestation_failure', key: 'driver', weight: 100 }]);

  const incidents = () => a.ctl(['incidents', 'list', '--json']).json().incidents as { id: string; class: string; key: string; state: string; severity: string; steps: { action: string; status: string }[] }[];
  const inc = await until('the incident', () => incidents().find((i) => i.key === 'gpu:driver' && i.state !== 'open'), a);
  t.equal(inc.class, 'attestation_failure');
  t.equal(inc.severity, 'critical');
  t.match(inc.steps, [{ action: 'lock_vault' }, { action: 'end_sessions' }, { action: 'disable_airlock' }], 'the policy\'s containment for attestation_failure critical ran');
  const shown = a.ctl(['incidents', 'show', inc.id, '--json']).json();
  t.match(shown.evidence[0], {
    class: 'attestation_failure', key: 'gpu:driver', severity: 'critical', target: { path: '/proc/driver/nvidia/version' },
    evidence: { finding: 'driver_changed', expected: ['550.54.15'], found: '560.35.03', pinnedByPolicy: true, score: 100, verdict: 'critical', driverVersion: '560.35.03' },
  });
  // The audit tap commits independently of the incident actor: wait (bounded) for both records.
  type Rec = { subject: string; payload: { verdict?: string } };
  const audit = await until('the detection and the verdict change in the audit chain', () => {
    const rs = a.ctl(['audit', 'tail', '-n', '50', '--subject', 'secai.evt.gpu-watch.', '--json']).json().records as Rec[];
    return rs.some((r) => r.subject === 'secai.evt.gpu-watch.detection') && rs.some((r) => r.subject === 'secai.evt.gpu-watch.verdict_changed' && r.payload.verdict === 'critical') ? rs : undefined;
  }, a);
  t.ok(audit.some((r) => r.subject === 'secai.evt.gpu-watch.detection'), 'the detection is in the audit chain');
  t.ok(audit.some((r) => r.subject === 'secai.evt.gpu-watch.verdict_changed' && r.payload.verdict === 'critical'), 'so is the verdict change');

  // Standing cause: later probes do not publish it again (one detection while it stays critical).
  await until('two more probes', () => gpu(a).probes >= crit.probes + 2, a);
  const dets = a.ctl(['audit', 'tail', '-n', '100', '--subject', 'secai.evt.gpu-watch.detection', '--json']).json().records.length;
  t.equal(dets, 1, 'one detection for one standing cause');

  // Attacker side: another identity cannot publish the GPU watch's detection (a forged all-clear or a false alarm).
  const vault = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(homePaths(a.home).busKeys, 'vault'), reconnect: false });
  t.teardown(() => vault.close());
  await t.rejects(vault.publishEvent('gpu-watch', 'detection', {
    class: 'attestation_failure', key: 'gpu:forged', summary: 'forged', severity: 'critical', evidence: {}, target: {}, at: Date.now(),
  }), 'publishing as the GPU watch is refused');
  await new Promise((r) => setTimeout(r, 500));
  t.notOk(incidents().some((i) => i.key === 'gpu:forged'), 'no incident from a forged detection');
});

t.test('gpu-watch — on this host\'s real / (no NVIDIA GPU, no nvidia-smi): absent, no detection', async (t) => {
  const a = await startAppliance({ timeoutMs: 60_000 });
  t.teardown(() => disposeAppliance(a));
  const st = gpu(a);
  // On a host with an NVIDIA GPU the same path judges it (a verdict, never `starting`); this file's fixtures cover those.
  const hasNvidia = existsSync('/proc/driver/nvidia/version') || readdirSync('/sys/bus/pci/devices').some((d) => { try { return readFileSync(`/sys/bus/pci/devices/${d}/vendor`, 'utf8').trim() === '0x10de'; } catch { return false; } });
  if (hasNvidia) { t.ok(['healthy', 'warning', 'critical'].includes(st.state), `a GPU on this host: ${st.state}`); return; }
  t.equal(st.state, 'absent', JSON.stringify(st).slice(0, 400));
  t.equal(st.code, 0);
  t.same(st.findings, []);
  t.same(st.sources.smi, { state: 'absent' });
  const recs = a.ctl(['audit', 'tail', '-n', '50', '--subject', 'secai.evt.gpu-watch.detection', '--json']).json().records;
  t.same(recs, []);
});
