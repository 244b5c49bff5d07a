// Turns the quarantine section of policy.yaml (from the policy actor) and sources.allowlist.yaml / models.lock.yaml into stage options.
import { loadConfig } from '../../policy/load.js';
import type { QuarantineSection } from '../../policy/sections.js';
import { DEFAULT_DIFFUSION_OPTIONS, type DiffusionOptions } from './stages/diffusion.js';
import { DEFAULT_FORMAT_OPTIONS, type FormatOptions } from './stages/format.js';
import { DEFAULT_ONNX_LIMITS, type OnnxLimits } from './scan/onnx-parser.js';
import type { IntegrityOptions } from './stages/integrity.js';
import type { ProvenanceOptions } from './stages/provenance.js';
import type { SourceOptions, SourcesAllowlist } from './stages/source.js';
import { DEFAULT_STATIC_SCAN_OPTIONS, type StaticScanOptions } from './stages/static-scan.js';
import type { PipelinePolicy, StageName } from '../../machines/quarantine/quarantine.machine.js';
import type { RetentionPolicy } from './retention.js';

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
  /** Catalog publishers trusted besides the built-in ones (catalog-import.ts adds those). */
  catalogSigners: readonly { name: string; publicKey: string }[];
  /** SHA-256 of each file read: the policy version a verdict cites. */
  digests: Record<string, string>;
}

/** The quarantine's own config files (not policy.yaml): read at start; changing them needs a restart. */
export interface QuarantineFiles {
  allowlist: SourcesAllowlist;
  pins: ReadonlyMap<string, string>;
  digests: Record<string, string>;
}

/** Throws SECAI_E_CONFIG_INVALID (naming the file and line) for an invalid file: the actor does not start. */
export function loadQuarantineFiles(configDir: string): QuarantineFiles {
  const allow = loadConfig<SourcesAllowlist & { version: 1 }>(configDir, 'sources.allowlist');
  const lock = loadConfig<{ version: 1; models: { name: string; sha256: string }[] }>(configDir, 'models.lock');
  return {
    allowlist: allow.value,
    pins: new Map(lock.value.models.map((m) => [m.name, m.sha256])),
    digests: { 'sources.allowlist': allow.digest, 'models.lock': lock.digest },
  };
}

/** The ONNX parser's bounds with policy's (quarantine.onnx) in place of the defaults. */
function onnxLimits(q: QuarantineSection['onnx']): OnnxLimits {
  return Object.freeze({
    ...DEFAULT_ONNX_LIMITS, maxIrVersion: q.max_ir_version, maxNodes: q.max_nodes, maxInitializers: q.max_initializers, maxGraphDepth: q.max_graph_depth,
  });
}

/** Stage options from the `quarantine` section in force and the files; pure, so a reload only calls it again. */
export function quarantinePolicy(q: QuarantineSection, files: QuarantineFiles, sectionDigest: string): QuarantinePolicy {
  return {
    pipeline: { allowWarn: q.stages.allow_warn, behavioral: q.stages.behavioral_test },
    source: { allowlist: files.allowlist, local: q.local_import },
    format: {
      ...DEFAULT_FORMAT_OPTIONS,
      onnx: { limits: onnxLimits(q.onnx), opsets: Object.freeze({ ...q.onnx.opsets }), allowExternalData: q.onnx.allow_external_data },
    },
    integrity: { pins: new Map(files.pins), requirePin: q.require_pin },
    provenance: { trustedKeys: q.trusted_keys, requireSignature: q.require_signature },
    staticScan: {
      ...DEFAULT_STATIC_SCAN_OPTIONS,
      warnScore: q.static_scan.warn_score, failScore: q.static_scan.fail_score,
      entropyFailBits: q.static_scan.entropy_fail_bits, layerZThreshold: q.static_scan.layer_z_threshold,
    },
    diffusion: { ...DEFAULT_DIFFUSION_OPTIONS, onnxLimits: onnxLimits(q.onnx) },
    maxFileBytes: q.max_file_bytes,
    maxFolderBytes: q.max_folder_bytes,
    retention: q.retention,
    catalogSigners: q.catalog_signers.map((k) => ({ name: k.name, publicKey: k.public_key })),
    digests: { 'policy.quarantine': sectionDigest, ...files.digests },
  };
}
