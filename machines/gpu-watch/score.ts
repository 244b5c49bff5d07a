// The GPU watch's judge: one probe's observation against the policy and the first-seen baseline → findings, a score, a verdict. Pure.
import type { IncidentClass } from '../../contracts/detection.js';
import type { GpuWatchSection } from '../../policy/sections.js';

/** One NVIDIA display-class PCI function as sysfs shows it (ids lower-case `0x…`). */
export interface PciGpu {
  /** `0000:18:00.0` */
  bus: string;
  vendor: string;
  device: string;
  subsystem: string;
  class: string;
  /** The bound kernel driver (`nvidia`, `vfio-pci`, `nouveau`), or null when none is bound. */
  driver: string | null;
}

/** One row of `nvidia-smi --query-gpu=…`; null where the tool printed `[N/A]` (ECC off, no sensor). */
export interface SmiGpu {
  index: number;
  bus: string;
  uuid: string;
  name: string;
  driverVersion: string;
  temperatureC: number | null;
  eccUncorrected: number | null;
  /** The `clocks_throttle_reasons.active` bit mask. */
  throttleReasons: number | null;
}

export interface XidEvent { bus: string; code: number; line: string }

/** A source that answered, was not there, or could not be read (the last one counts against the GPU: fail closed). */
export type Source<T> = { state: 'ok'; value: T } | { state: 'absent' } | { state: 'failed'; error: string };

/** What one probe saw. Every source is data: a probe never throws for what it read. */
export interface Observation {
  at: number;
  /** The kernel module version from /proc/driver/nvidia/version. */
  driver: Source<string>;
  /** NVIDIA display-class devices on the PCI bus (sysfs). */
  devices: Source<PciGpu[]>;
  smi: Source<SmiGpu[]>;
  /** XID reports in the kernel log; `absent` where the log cannot be read by this process (not a finding). */
  xids: Source<XidEvent[]>;
}

/** What the first good probe of this start saw: a later difference is a finding when policy pins nothing. */
export interface Baseline {
  driverVersion: string | null;
  /** bus → `vendor:device` and its driver. */
  devices: Record<string, { id: string; driver: string | null }>;
}

export const FINDING_KINDS = ['driver_changed', 'unexpected_device', 'device_missing', 'ecc_uncorrected', 'xid_error', 'temperature', 'clocks_throttled', 'probe_failed'] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

export interface Finding {
  kind: FindingKind;
  /** Stable for one cause (`driver`, `device:0000:18:00.0`, `xid:0000:18:00.0:79`): the detection key. */
  key: string;
  summary: string;
  weight: number;
  evidence: Record<string, unknown>;
}

export type Verdict = 'absent' | 'healthy' | 'warning' | 'critical';

export interface Judgement { verdict: Verdict; score: number; findings: Finding[]; baseline: Baseline | null }

export type GpuSettings = Pick<GpuWatchSection, 'allowed_devices' | 'expected_driver_versions' | 'require_allowed_present' | 'weights' | 'warning_score' | 'critical_score' | 'max_temperature_c'>;

/**
 * Which incident class a finding raises. The identity of the hardware and driver stack (a driver other than the one
 * expected, a device not allowed) is what attestation vouches for: `attestation_failure`. A device that vanished,
 * corrupts memory, reports XIDs, overheats or cannot be probed is a GPU whose integrity is in doubt: `integrity_violation`.
 */
export const CLASS_OF: Record<FindingKind, IncidentClass> = {
  driver_changed: 'attestation_failure',
  unexpected_device: 'attestation_failure',
  device_missing: 'integrity_violation',
  ecc_uncorrected: 'integrity_violation',
  xid_error: 'integrity_violation',
  temperature: 'integrity_violation',
  clocks_throttled: 'integrity_violation',
  probe_failed: 'integrity_violation',
};

/**
 * Throttle reasons that say the hardware protects itself (nvml: HW slowdown 0x8, SW thermal 0x20, HW thermal 0x40,
 * HW power brake 0x80). Idle (0x1), application clocks (0x2), the software power cap (0x4) and sync boost (0x10)
 * are how a healthy GPU runs.
 */
export const ALARMING_THROTTLE = 0x8 | 0x20 | 0x40 | 0x80;

/** At most this many findings are kept per probe (a flapping GPU logs XIDs by the hundred). */
export const MAX_FINDINGS = 64;

const idOf = (d: PciGpu) => `${d.vendor}:${d.device}`;

/** True when the probe saw no NVIDIA device and no NVIDIA driver: a machine without a GPU. */
export function nothingThere(o: Observation): boolean {
  return o.driver.state === 'absent' && (o.devices.state === 'absent' || (o.devices.state === 'ok' && o.devices.value.length === 0)) && o.smi.state !== 'ok';
}

/** The findings of one probe, its score (sum of weights) and verdict, and the baseline to keep. */
export function judge(o: Observation, p: GpuSettings, baseline: Baseline | null): Judgement {
  const findings: Finding[] = [];
  const add = (f: Omit<Finding, 'weight'>, weight?: number) => { if (findings.length < MAX_FINDINGS) findings.push({ ...f, weight: weight ?? p.weights[f.kind as keyof GpuSettings['weights']] }); };
  // An unreadable source may hide any finding: it weighs at least the warning threshold (fail closed, never a false healthy).
  const failed = (source: string, error: string) => add({ kind: 'probe_failed', key: `probe:${source}`, summary: `GPU probe of ${source} failed: ${error}`.slice(0, 1024), evidence: { source, error: error.slice(0, 1024) } }, p.warning_score);

  if (nothingThere(o) && (!baseline || Object.keys(baseline.devices).length === 0)) {
    if (!p.require_allowed_present) return { verdict: 'absent', score: 0, findings: [], baseline };
    add({ kind: 'device_missing', key: 'device:required', summary: 'no GPU on the PCI bus, and policy requires one', evidence: { allowed: p.allowed_devices } });
    return verdictOf(findings, p, baseline);
  }

  if (o.driver.state === 'failed') failed('driver', o.driver.error);
  if (o.devices.state === 'failed') failed('sysfs', o.devices.error);
  if (o.smi.state === 'failed') failed('nvidia-smi', o.smi.error);
  if (o.xids.state === 'failed') failed('kernel log', o.xids.error);
  const devices = o.devices.state === 'ok' ? o.devices.value : null;
  const smi = o.smi.state === 'ok' ? o.smi.value : [];

  // Driver: the kernel module's version (nvidia-smi's when /proc says nothing), against policy or the first one seen.
  const kernelVersion = o.driver.state === 'ok' ? o.driver.value : null;
  const smiVersions = [...new Set(smi.map((g) => g.driverVersion))];
  const version = kernelVersion ?? smiVersions[0] ?? null;
  if (kernelVersion && smiVersions.some((v) => v !== kernelVersion)) {
    add({ kind: 'driver_changed', key: 'driver:mismatch', summary: `nvidia-smi reports driver ${smiVersions.join(', ')} but the kernel module is ${kernelVersion}`, evidence: { kernel: kernelVersion, smi: smiVersions } });
  }
  const expected = p.expected_driver_versions.length > 0 ? [...p.expected_driver_versions] : baseline?.driverVersion ? [baseline.driverVersion] : [];
  if (version && expected.length > 0 && !expected.includes(version)) {
    add({ kind: 'driver_changed', key: 'driver', summary: `NVIDIA driver ${version} is not the expected ${expected.join(' or ')}`, evidence: { expected, found: version, pinnedByPolicy: p.expected_driver_versions.length > 0 } });
  } else if (!version && baseline?.driverVersion && o.driver.state === 'absent') {
    add({ kind: 'driver_changed', key: 'driver', summary: `the NVIDIA driver ${baseline.driverVersion} is no longer loaded`, evidence: { expected: [baseline.driverVersion], found: null } });
  }

  if (devices) {
    const allowed = new Set(p.allowed_devices);
    for (const d of devices) {
      const was = baseline?.devices[d.bus];
      if (allowed.size > 0 && !allowed.has(idOf(d))) {
        add({ kind: 'unexpected_device', key: `device:${d.bus}`, summary: `GPU ${idOf(d)} at ${d.bus} is not in the allowed devices`, evidence: { ...d, allowed: [...allowed] } });
      } else if (baseline && !was) {
        add({ kind: 'unexpected_device', key: `device:${d.bus}`, summary: `GPU ${idOf(d)} appeared at ${d.bus} after the watch started`, evidence: { ...d } });
      } else if (was && was.id !== idOf(d)) {
        add({ kind: 'unexpected_device', key: `device:${d.bus}`, summary: `the GPU at ${d.bus} changed from ${was.id} to ${idOf(d)}`, evidence: { ...d, expected: was.id } });
      } else if (was && was.driver !== d.driver) {
        add({ kind: 'driver_changed', key: `binding:${d.bus}`, summary: `the GPU at ${d.bus} is bound to ${d.driver ?? 'no driver'}, was ${was.driver ?? 'no driver'}`, evidence: { bus: d.bus, expected: was.driver, found: d.driver } });
      }
    }
    const here = new Set(devices.map((d) => d.bus));
    for (const [bus, was] of Object.entries(baseline?.devices ?? {})) {
      if (!here.has(bus)) add({ kind: 'device_missing', key: `device:${bus}`, summary: `GPU ${was.id} at ${bus} is gone from the PCI bus`, evidence: { bus, expected: was.id } });
    }
    if (p.require_allowed_present && !devices.some((d) => allowed.size === 0 || allowed.has(idOf(d))) && !findings.some((f) => f.kind === 'device_missing')) {
      add({ kind: 'device_missing', key: 'device:required', summary: 'no allowed GPU on the PCI bus, and policy requires one', evidence: { allowed: [...allowed], found: devices.map(idOf) } });
    }
  }

  for (const g of smi) {
    if (g.eccUncorrected !== null && g.eccUncorrected > 0) {
      add({ kind: 'ecc_uncorrected', key: `ecc:${g.bus}`, summary: `GPU ${g.bus} reports ${g.eccUncorrected} uncorrected ECC errors`, evidence: { bus: g.bus, uuid: g.uuid, count: g.eccUncorrected } });
    }
    if (g.temperatureC !== null && g.temperatureC > p.max_temperature_c) {
      add({ kind: 'temperature', key: `temperature:${g.bus}`, summary: `GPU ${g.bus} is at ${g.temperatureC} °C (limit ${p.max_temperature_c})`, evidence: { bus: g.bus, uuid: g.uuid, temperatureC: g.temperatureC, limitC: p.max_temperature_c } });
    }
    if (g.throttleReasons !== null && (g.throttleReasons & ALARMING_THROTTLE) !== 0) {
      add({ kind: 'clocks_throttled', key: `throttle:${g.bus}`, summary: `GPU ${g.bus} is throttled by the hardware (reasons 0x${g.throttleReasons.toString(16)})`, evidence: { bus: g.bus, uuid: g.uuid, reasons: `0x${g.throttleReasons.toString(16)}` } });
    }
  }

  if (o.xids.state === 'ok') {
    const seen = new Set<string>();
    for (const x of o.xids.value) {
      const key = `xid:${x.bus}:${x.code}`;
      if (seen.has(key)) continue;
      seen.add(key);
      add({ kind: 'xid_error', key, summary: `GPU ${x.bus} reported XID ${x.code}`, evidence: { bus: x.bus, xid: x.code, line: x.line.slice(0, 512), times: o.xids.value.filter((y) => y.bus === x.bus && y.code === x.code).length } });
    }
  }

  // The baseline is what the first probe that read everything saw; it never moves after (a change stays a change).
  const next = baseline ?? (findings.some((f) => f.kind === 'probe_failed') || !devices ? null : {
    driverVersion: version,
    devices: Object.fromEntries(devices.map((d) => [d.bus, { id: idOf(d), driver: d.driver }])),
  });
  return verdictOf(findings, p, next);
}

function verdictOf(findings: Finding[], p: GpuSettings, baseline: Baseline | null): Judgement {
  const score = findings.reduce((s, f) => s + f.weight, 0);
  const verdict: Verdict = score >= p.critical_score ? 'critical' : score >= p.warning_score ? 'warning' : 'healthy';
  return { verdict, score, findings, baseline };
}
