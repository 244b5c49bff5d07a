// The shapes of the policy.yaml sections this engine decides on; the JSON Schemas in schemas/ are the truth.

export type Decision = 'allow' | 'deny' | 'ask';

export interface ArgSpec {
  type: 'string' | 'integer' | 'boolean' | 'path';
  max_length?: number;
  min?: number;
  max?: number;
  /** Path arguments: which access the tool needs on the path. */
  access?: 'read' | 'write';
  required?: boolean;
}

export interface ToolRule {
  id: string;
  tool: string;
  decision: Decision;
  args: Record<string, ArgSpec>;
  rate: { capacity: number; refill_per_sec: number };
}

export interface ToolsPolicy {
  max_total_arg_bytes: number;
  /** Lifetime of a minted capability token (docs/agent.md). */
  capability_ttl_seconds: number;
  rules: readonly ToolRule[];
}

export interface PathsPolicy {
  /** Compare allow roots case-insensitively too (deny roots always are). */
  case_insensitive: boolean;
  /** Allow a path that crosses into another mount than its root's. */
  cross_mounts: boolean;
  deny: readonly { id: string; prefix: string }[];
  allow: readonly { id: string; root: string; access: readonly ('read' | 'write')[] }[];
}

export const PII_KINDS = [
  'email', 'phone', 'card', 'iban', 'ssn', 'ipv4', 'ipv6',
  'aws_key', 'github_token', 'openai_key', 'slack_token', 'google_api_key', 'stripe_key',
  'bearer_token', 'private_key', 'high_entropy', 'named_credential', 'url_credential',
] as const;
export type PiiKind = (typeof PII_KINDS)[number];

export interface AirlockDestination {
  id: string;
  host: string;
  schemes: readonly ('https' | 'http')[];
  ports: readonly number[];
  methods: readonly string[];
  path_prefix: string;
}

export interface AirlockPolicy {
  enabled: boolean;
  allow_loopback_for_tests: boolean;
  max_request_bytes: number;
  max_response_bytes: number;
  timeout_ms: number;
  max_url_length: number;
  destinations: readonly AirlockDestination[];
  scan: { block: readonly PiiKind[]; entropy_min_length: number; entropy_bits: number };
}

export interface SearchPolicy {
  enabled: boolean;
  max_results: number;
  max_query_length: number;
}

export interface ModelsPolicy {
  formats: readonly string[];
  max_size_bytes: number;
  required_stages: readonly string[];
  /** What a stage result of `warn` leads to (a `fail` always denies). */
  on_warn: 'ask' | 'deny';
}

export type RiskLevel = 'low' | 'medium' | 'high' | 'critical';
export const RISK_LEVELS: readonly RiskLevel[] = ['low', 'medium', 'high', 'critical'];

export interface AgentRiskPolicy {
  /** The highest rated risk allowed without asking, and the highest asked about; above is denied. An unrated action is denied. */
  allow_up_to: RiskLevel | 'none';
  ask_up_to: RiskLevel | 'none';
  /** Each rule either decides the action outright or rates its risk (then the thresholds decide). */
  actions: readonly { id: string; action: string; decision?: Decision; risk?: RiskLevel }[];
}

export interface SensitivityPolicy {
  labels: readonly string[];
  sinks: readonly { id: string; sink: string; max_label: string }[];
}

/** The parts of policy.yaml that decisions read (other sections belong to other features). */
export interface PolicyDoc {
  version: 1;
  defaults: { decision: 'deny' };
  tools: ToolsPolicy;
  paths: PathsPolicy;
  airlock: AirlockPolicy;
  search: SearchPolicy;
  models: ModelsPolicy;
  agent_risk: AgentRiskPolicy;
  sensitivity: SensitivityPolicy;
}

/** A loaded policy: the document and the SHA-256 of the file it came from. */
export interface PolicySnapshot {
  value: PolicyDoc;
  digest: string;
}
