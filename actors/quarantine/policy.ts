// Loads the quarantine section of policy.yaml, sources.allowlist.yaml and models.lock.yaml into stage options.
import { loadConfig } from '../../policy/load.js';
import { DEFAULT_DIFFUSION_OPTIONS, type DiffusionOptions } from './stages/diffusion.js';
import { DEFAULT_FORMAT_OPTIONS, type FormatOptions } from './stages/format.js';
import type { IntegrityOptions } from './stages/integrity.js';
import type { ProvenanceOptions } from './stages/provenance.js';
import type { SourceOptions, SourcesAllowlist } from './stages/source.js';
import { DEFAULT_STATIC_SCAN_OPTIONS, type StaticScanOptions } from './stages/static-scan.js';
import type { PipelinePolicy, StageName } from '../../machines/quarantine/quarantine.machine.js';
import type { RetentionPolicy } from './retention.js';

export interface QuarantineSection {
  stages: { behavioral_test: 'required' | 'optional' | 'off'; allow_warn: StageName[] };
  local_import: 'pass' | 'warn';
  require_signature: boolean;
  require_pin: boolean;
  trusted_keys: { name: string; pem: string }[];
  static_scan: { warn_score: number; fail_score: number; entropy_fail_bits: number; layer_z_threshold: number };
  max_file_bytes: number;
  max_folder_bytes: number;
  retention: RetentionPolicy;
}

export interface QuarantinePolicy {
  pipeline: PipelinePolicy;
  source: SourceOptions;
  format: FormatOptions;
  integrity: IntegrityOptions;
  provenance: ProvenanceOptions;
  staticScan: StaticScanOptions;
  diffusion: DiffusionOptions;
  maxFileBytes: number;
  maxFolderBytes: number;
  /** What of rejected artifacts is kept: their reports always, their payloads within these bounds. */
  retention: RetentionPolicy;
  /** SHA-256 of each file read: the policy version a verdict cites. */
  digests: Record<string, string>;
}

/** Throws SECAI_E_CONFIG_INVALID (naming the file and line) for any invalid file: the actor does not start. */
export function loadQuarantinePolicy(configDir: string): QuarantinePolicy {
  const policy = loadConfig<{ quarantine: QuarantineSection }>(configDir, 'policy');
  const allow = loadConfig<SourcesAllowlist & { version: 1 }>(configDir, 'sources.allowlist');
  const lock = loadConfig<{ version: 1; models: { name: string; sha256: string }[] }>(configDir, 'models.lock');
  const q = policy.value.quarantine;
  return {
    pipeline: { allowWarn: q.stages.allow_warn, behavioral: q.stages.behavioral_test },
    source: { allowlist: allow.value, local: q.local_import },
    format: DEFAULT_FORMAT_OPTIONS,
    integrity: { pins: new Map(lock.value.models.map((m) => [m.name, m.sha256])), requirePin: q.require_pin },
    provenance: { trustedKeys: q.trusted_keys, requireSignature: q.require_signature },
    staticScan: {
      ...DEFAULT_STATIC_SCAN_OPTIONS,
      warnScore: q.static_scan.warn_score, failScore: q.static_scan.fail_score,
      entropyFailBits: q.static_scan.entropy_fail_bits, layerZThreshold: q.static_scan.layer_z_threshold,
    },
    diffusion: DEFAULT_DIFFUSION_OPTIONS,
    maxFileBytes: q.max_file_bytes,
    maxFolderBytes: q.max_folder_bytes,
    retention: q.retention,
    digests: { policy: policy.digest, 'sources.allowlist': allow.digest, 'models.lock': lock.digest },
  };
}
