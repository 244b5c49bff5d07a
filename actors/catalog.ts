// Every identity on the bus. The ACL, the supervisor's process list and docs/architecture.md come from here.
import type { ActorManifest } from '../bus/manifest.js';
import { auditManifest } from './audit/manifest.js';
import { authManifest } from './auth/manifest.js';
import { vaultManifest } from './vault/manifest.js';
import { cliManifest } from './cli/manifest.js';
import { gatewayManifest } from './gateway/manifest.js';
import { inferenceManifest } from './inference/manifest.js';
import { quarantineManifest } from './quarantine/manifest.js';
import { registryManifest } from './registry/manifest.js';
import { supervisorManifest } from './supervisor/manifest.js';
import { policyManifest } from './policy/manifest.js';
import { toolFirewallManifest } from './tool-firewall/manifest.js';
import { airlockManifest } from './airlock/manifest.js';

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
