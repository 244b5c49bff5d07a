// The sections of a validated, frozen policy.yaml, typed, each with a digest (SHA-256 of its canonical JSON).
import { createHash } from 'node:crypto';
import { canonicalJson } from '../common/canonical-json.js';
import type { IncidentsPolicy } from '../machines/incident/manager.machine.js';
import type { AgentRiskPolicy, AirlockPolicy, ModelsPolicy, PathsPolicy, SearchPolicy, SensitivityPolicy, ToolsPolicy } from './types.js';

/** policy.yaml `vault`: encryption at rest and sign-in (docs/vault.md); the auth actor reads it too. */
export interface VaultSection {
  idle_lock_minutes: number;
  argon2: 'interactive' | 'moderate' | 'sensitive';
  session_hours: number;
  session_idle_minutes: number;
  login: {
    free_attempts: number; base_delay_seconds: number; max_delay_seconds: number; lockout_after: number; lockout_minutes: number;
    global_max_failures: number; global_window_minutes: number;
  };
}

/** The stage names a quarantine `allow_warn` may list (the format gate never warns). */
export type WarnableStage = 'source' | 'integrity' | 'provenance' | 'static_scan' | 'behavioral' | 'diffusion';

/** policy.yaml `quarantine`: the import pipeline (docs/quarantine.md). */
export interface QuarantineSection {
  stages: { behavioral_test: 'required' | 'optional' | 'off'; allow_warn: readonly WarnableStage[] };
  local_import: 'pass' | 'warn';
  require_signature: boolean;
  require_pin: boolean;
  trusted_keys: readonly { name: string; pem: string }[];
  /** Ed25519 keys whose signed model catalogs are accepted (docs/quarantine.md). */
  catalog_signers: readonly { name: string; public_key: string }[];
  static_scan: { warn_score: number; fail_score: number; entropy_fail_bits: number; layer_z_threshold: number };
  /** ONNX operator sets (the default domain spelled ai.onnx) with their newest accepted version, external data, parser bounds. */
  onnx: {
    opsets: Readonly<Record<string, number>>; allow_external_data: boolean; max_ir_version: number;
    max_nodes: number; max_initializers: number; max_graph_depth: number;
  };
  max_file_bytes: number;
  max_folder_bytes: number;
  retention: { max_rejected: number; max_rejected_bytes: number; max_age_days: number };
}

/** policy.yaml `inference`: workers and generation (docs/inference.md); quarantine stage 6 reads `behavioral`. */
export interface InferenceSection {
  allow_unsandboxed: boolean;
  restart_on_session_end: boolean;
  /** 0: one per physical core. */
  threads: number;
  context_size: number;
  max_tokens: number;
  gpu: 'auto' | 'required' | 'off';
  load_on_demand: boolean;
  keep_alive_minutes: number;
  behavioral: {
    enabled: boolean; max_critical_hits: number; max_score: number; max_tokens: number; threads: number;
    /** Parallel sequences of one context, tokens per sequence, stop on a certain hit, tokens per suite category. */
    sequences: number; context_size: number; early_stop: boolean; category_max_tokens: Readonly<Record<string, number>>;
  };
}

/** policy.yaml `local_api`: who besides our own page may call the local model API (docs/inference.md). */
export interface LocalApiSection {
  allowed_origins: readonly string[];
  api_token_sha256: string | null;
}

/** What a finding of each kind makes of the integrity monitor's state (docs/integrity.md). */
export type IntegrityLevel = 'degraded' | 'recovery_required';

/** policy.yaml `integrity`: the integrity monitor and its canaries (docs/integrity.md). */
export interface IntegritySection {
  scan_interval_seconds: number;
  full_hash_interval_seconds: number;
  small_file_bytes: number;
  pending_grace_seconds: number;
  escalate_after: number;
  canaries: boolean;
  levels: { code: IntegrityLevel; config: IntegrityLevel; policy: IntegrityLevel; trust: IntegrityLevel; model: IntegrityLevel; registry_manifest: IntegrityLevel; canary: IntegrityLevel };
}
/** policy.yaml `incidents`: classes, containment per class and severity, dedup and flood bounds (docs/incidents.md). */
export type IncidentsSection = IncidentsPolicy;
/** policy.yaml `attestation`: the runtime attestor (docs/attestation.md). */
export interface AttestationSection {
  mode: 'auto' | 'tpm' | 'software';
  interval_seconds: number;
  pcr: 16 | 23;
}

/** How much each GPU watch finding weighs (docs/attestation.md#gpu-watch). */
export interface GpuWatchWeights {
  driver_changed: number; unexpected_device: number; device_missing: number; ecc_uncorrected: number;
  xid_error: number; temperature: number; clocks_throttled: number;
}

/** policy.yaml `gpu_watch`: the GPU integrity watch. */
export interface GpuWatchSection {
  probe_interval_seconds: number;
  allowed_devices: readonly string[];
  expected_driver_versions: readonly string[];
  require_allowed_present: boolean;
  weights: GpuWatchWeights;
  warning_score: number;
  critical_score: number;
  max_temperature_c: number;
}

/** A label on data a tool returned: what it may not flow into (policy.yaml `mcp.deny_flows`). */
export type McpTaint = 'network' | 'untrusted_file' | 'secret';

/** One upstream tool's rule in policy.yaml `mcp.servers[].tools`. */
export interface McpToolRule {
  name: string;
  decision: 'allow' | 'deny';
  read_only: boolean;
  sink: 'none' | 'write' | 'exec' | 'egress';
  taint: readonly McpTaint[];
}

/** One upstream MCP server. */
export interface McpServerRule {
  id: string;
  transport: 'stdio' | 'http';
  command?: string;
  args?: readonly string[];
  env?: Readonly<Record<string, string>>;
  read_only?: readonly string[];
  url?: string;
  trust_on_first_use?: boolean;
  tools: readonly McpToolRule[];
}

/** policy.yaml `mcp`: the MCP firewall (docs/mcp.md). */
export interface McpSection {
  enabled: boolean;
  max_arg_bytes: number;
  max_output_bytes: number;
  call_timeout_seconds: number;
  rate: { capacity: number; refill_per_sec: number };
  deny_flows: readonly { taint: McpTaint; sink: 'write' | 'exec' | 'egress' }[];
  servers: readonly McpServerRule[];
}

/** policy.yaml `diffusion`: image generation workers and the bounds of one request (docs/diffusion.md). */
export interface DiffusionSection {
  allow_unsandboxed: boolean;
  restart_on_session_end: boolean;
  threads: number;
  provider: 'cpu' | 'cuda' | 'auto';
  memory_limit_mb: number;
  load_on_demand: boolean;
  keep_alive_minutes: number;
  max_side: number;
  max_steps: number;
  default_steps: number;
  default_guidance: number;
}

/** Every section of policy.yaml and its type; the JSON Schemas in schemas/policy/ are the truth. */
export interface PolicySections {
  defaults: { decision: 'deny' };
  inference: InferenceSection;
  local_api: LocalApiSection;
  tools: ToolsPolicy;
  paths: PathsPolicy;
  airlock: AirlockPolicy;
  search: SearchPolicy;
  models: ModelsPolicy;
  agent_risk: AgentRiskPolicy;
  sensitivity: SensitivityPolicy;
  vault: VaultSection;
  quarantine: QuarantineSection;
  integrity: IntegritySection;
  incidents: IncidentsSection;
  attestation: AttestationSection;
  gpu_watch: GpuWatchSection;
  mcp: McpSection;
  diffusion: DiffusionSection;
}

export type SectionName = keyof PolicySections;

export const SECTION_NAMES = [
  'defaults', 'inference', 'local_api', 'tools', 'paths', 'airlock', 'search', 'models', 'agent_risk', 'sensitivity', 'vault', 'quarantine',
  'integrity', 'incidents', 'attestation', 'gpu_watch', 'mcp', 'diffusion',
] as const satisfies readonly SectionName[];

export const isSectionName = (n: string): n is SectionName => (SECTION_NAMES as readonly string[]).includes(n);

export interface Section<K extends SectionName = SectionName> {
  name: K;
  value: PolicySections[K];
  /** SHA-256 (hex) of the section's canonical JSON: equal digests mean equal settings, whatever the YAML layout. */
  digest: string;
}

export const sectionDigest = (value: unknown): string => createHash('sha256').update(canonicalJson(value)).digest('hex');

/** Each section of a validated (and frozen) policy document with its digest. */
export function sectionsOf(doc: PolicySections): { [K in SectionName]: Section<K> } {
  const out = {} as Record<SectionName, Section>;
  for (const name of SECTION_NAMES) out[name] = { name, value: doc[name], digest: sectionDigest(doc[name]) } as Section;
  return Object.freeze(out) as { [K in SectionName]: Section<K> };
}

/** Names of the sections whose digest differs between two policies, in SECTION_NAMES order. */
export function changedSections(prev: Record<SectionName, Section>, next: Record<SectionName, Section>): SectionName[] {
  return SECTION_NAMES.filter((n) => prev[n].digest !== next[n].digest);
}

/**
 * Keys that a reload changes in the policy but not in what already runs: the actor applies them to what
 * it starts next, and what runs keeps the old value until restarted. Everything else applies at once.
 */
export const DEFERRED_KEYS: Partial<Record<SectionName, { keys: readonly string[]; reason: string }>> = {
  inference: {
    keys: ['allow_unsandboxed', 'threads', 'context_size', 'gpu', 'restart_on_session_end'],
    reason: 'a loaded model keeps the worker it was started with: unload and load it (or restart the appliance) for these keys',
  },
  diffusion: {
    keys: ['allow_unsandboxed', 'threads', 'provider', 'memory_limit_mb'],
    reason: 'a loaded pipeline keeps the worker it was started with: unload and load it (or restart the appliance) for these keys',
  },
  vault: {
    keys: ['argon2'],
    reason: 'the passphrase key is derived with these limits only when a vault is created or its passphrase changed',
  },
};

export interface RestartNote {
  section: SectionName;
  keys: string[];
  reason: string;
}

/** For each changed section, the changed keys that take effect only after a restart (see DEFERRED_KEYS). */
export function restartNotes(prev: PolicySections, next: PolicySections, changed: readonly SectionName[]): RestartNote[] {
  const notes: RestartNote[] = [];
  for (const section of changed) {
    const d = DEFERRED_KEYS[section];
    if (!d) continue;
    const a = prev[section] as unknown as Record<string, unknown>;
    const b = next[section] as unknown as Record<string, unknown>;
    const keys = d.keys.filter((k) => canonicalJson(a[k]) !== canonicalJson(b[k]));
    if (keys.length) notes.push({ section, keys, reason: d.reason });
  }
  return notes;
}

/** The whole validated policy.yaml. */
export type PolicyFile = PolicySections & { version: 1 };
