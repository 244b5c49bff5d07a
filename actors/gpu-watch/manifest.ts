// The GPU watch's bus contract: its verdict and findings (status, probe), the verdict changes it publishes, and its detection.
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';
import { detection, INCIDENT_CLASSES } from '../../contracts/detection.js';
import { FINDING_KINDS } from '../../machines/gpu-watch/score.js';

const VERDICTS = ['absent', 'healthy', 'warning', 'critical'] as const;
const SOURCE_STATES = ['ok', 'absent', 'failed'] as const;
const id = s.string({ maxLength: 64 });
const finding = s.object({
  kind: s.string({ enum: FINDING_KINDS }), class: s.string({ enum: INCIDENT_CLASSES }), key: s.string({ maxLength: 256 }),
  summary: s.string({ maxLength: 1024 }), weight: s.integer({ minimum: 0, maximum: 1000 }),
});
const pciGpu = s.object({ bus: id, vendor: id, device: id, subsystem: id, class: id, driver: s.nullable(id) });
const smiGpu = s.object({
  index: s.integer({ minimum: 0 }), bus: id, uuid: id, name: s.string({ maxLength: 96 }), driverVersion: id,
  temperatureC: s.nullable(s.integer()), eccUncorrected: s.nullable(s.integer({ minimum: 0 })), throttleReasons: s.nullable(s.integer({ minimum: 0 })),
});
const source = s.object({ state: s.string({ enum: SOURCE_STATES }), error: s.string({ maxLength: 1024 }) }, ['error']);

export const gpuStatus = s.object({
  state: s.string({ enum: ['starting', ...VERDICTS] }),
  score: s.integer({ minimum: 0 }),
  findings: s.array(finding, 64),
  driverVersion: s.nullable(id),
  devices: s.array(pciGpu, 64),
  gpus: s.array(smiGpu, 64),
  xids: s.integer({ minimum: 0 }),
  sources: s.object({ driver: source, sysfs: source, smi: source, kernelLog: source }),
  baseline: s.nullable(s.object({ driverVersion: s.nullable(id), devices: s.map(s.object({ id, driver: s.nullable(id) }), 64) })),
  probes: s.integer({ minimum: 0 }),
  probedAt: s.nullable(s.number()),
  intervalMs: s.integer({ minimum: 0 }),
});

export const gpuWatchManifest = defineManifest({
  name: 'gpu-watch',
  kind: 'actor',
  description: 'Fingerprints the GPU stack (driver version, PCI devices, nvidia-smi health, XIDs) against the policy allowlist on an interval; a critical verdict is a detection.',
  entry: 'actors/gpu-watch/main.js',
  serves: {
    status: { request: s.empty(), reply: gpuStatus, description: 'The verdict (absent, healthy, warning, critical), its score and findings, what the last probe read.', maxBytes: 1024 },
  },
  commands: {
    status: { request: s.empty(), reply: gpuStatus, description: 'The GPU verdict and findings (securectl gpu status).', roles: ['admin', 'auditor'] },
    probe: { request: s.empty(), reply: gpuStatus, timeoutMs: 30_000, description: 'Probe now and answer the new verdict (securectl gpu probe).', roles: ['admin', 'operator'] },
  },
  publishes: {
    detection,
    verdict_changed: s.object({
      verdict: s.string({ enum: VERDICTS }), previous: s.nullable(s.string({ enum: VERDICTS })), score: s.integer({ minimum: 0 }),
      findings: s.array(finding, 64), at: s.integer({ minimum: 0 }),
    }),
  },
  requests: ['policy.section'],
  subscribes: ['policy.reloaded'],
});
