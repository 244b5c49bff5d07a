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
import { integrityManifest } from '../actors/integrity/manifest.js';
import { incidentManifest } from '../actors/incident/manifest.js';
import { attestorManifest } from '../actors/attestor/manifest.js';
import { gpuWatchManifest } from '../actors/gpu-watch/manifest.js';
import { mcpFirewallManifest } from '../actors/mcp-firewall/manifest.js';
import { agentManifest } from '../actors/agent/manifest.js';
import { diffusionManifest, INIT_IMAGE_MAX_BYTES } from '../actors/diffusion/manifest.js';

/**
 * The manifests themselves, typed, for callers that take typed op references (`serveOp(vaultManifest,
 * 'status')`): a manifest is the callee's public contract, and an actor reaches another's through this
 * catalog, never through the other actor's folder (the lint's layer rules allow no exception).
 */
export {
  auditManifest, authManifest, vaultManifest, cliManifest, gatewayManifest, inferenceManifest, quarantineManifest,
  registryManifest, supervisorManifest, policyManifest, toolFirewallManifest, airlockManifest, integrityManifest, incidentManifest,
  attestorManifest, gpuWatchManifest, mcpFirewallManifest, agentManifest, diffusionManifest,
};

/** Bounds a manifest's schemas are built from, for a caller that checks a value before it goes on the bus. */
export { INIT_IMAGE_MAX_BYTES };

export const MANIFESTS: readonly ActorManifest[] = [
  supervisorManifest,
  cliManifest,
  auditManifest,
  // The decision point starts before the actors that ask it.
  policyManifest,
  // Watches from early on: its baseline and canaries are in place before models load.
  integrityManifest,
  // Measures what runs before anything asks whether it may unlock or load.
  attestorManifest,
  // Fingerprints the GPU stack before a model is loaded onto it.
  gpuWatchManifest,
  toolFirewallManifest,
  // Asks the policy actor for its section; outside MCP clients and the agent reach tools only through it.
  mcpFirewallManifest,
  airlockManifest,
  vaultManifest,
  authManifest,
  gatewayManifest,
  inferenceManifest,
  // Image generation: pipelines from the registry into sandboxed onnxruntime workers.
  diffusionManifest,
  registryManifest,
  quarantineManifest,
  // Plans with a loaded model; every step through policy.mint and the tool firewall (or the MCP firewall).
  agentManifest,
  // Last: it subscribes every other actor's refusals and asks them to contain.
  incidentManifest,
];

/** The manifests that run as processes, in start order. */
export const ACTOR_MANIFESTS = MANIFESTS.filter((m) => m.kind === 'actor');
