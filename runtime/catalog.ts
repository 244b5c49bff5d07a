// Every identity on the bus. The ACL, the supervisor's process list and docs/architecture.md come from here.
import type { ActorManifest } from '../bus/manifest.js';
import { auditManifest } from '../actors/audit/manifest.js';
import { authManifest } from '../actors/auth/manifest.js';
import { vaultManifest } from '../actors/vault/manifest.js';
import { cliManifest } from '../actors/cli/manifest.js';
import { gatewayManifest } from '../actors/gateway/manifest.js';
import { inferenceManifest } from '../actors/inference/manifest.js';
import { quarantineManifest } from '../actors/quarantine/manifest.js';
import { registryManifest } from '../actors/registry/manifest.js';
import { supervisorManifest } from '../actors/supervisor/manifest.js';
import { policyManifest } from '../actors/policy/manifest.js';
import { toolFirewallManifest } from '../actors/tool-firewall/manifest.js';
import { airlockManifest } from '../actors/airlock/manifest.js';

export const MANIFESTS: readonly ActorManifest[] = [
  supervisorManifest,
  cliManifest,
  auditManifest,
  // The decision point starts before the actors that ask it.
  policyManifest,
  toolFirewallManifest,
  airlockManifest,
  vaultManifest,
  authManifest,
  gatewayManifest,
  inferenceManifest,
  registryManifest,
  quarantineManifest,
];

/** The manifests that run as processes, in start order. */
export const ACTOR_MANIFESTS = MANIFESTS.filter((m) => m.kind === 'actor');
