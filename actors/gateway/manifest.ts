// The gateway's bus contract: the HTTP API and web UI reach the other actors only through these requests.
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';

/** The incident actor's transitions the Security page streams live (GET /api/incidents/events). */
export const INCIDENT_TRANSITIONS = ['opened', 'contained', 'escalated', 'acknowledged', 'resolved', 'updated'] as const;

/** The visualizer asks each actor for its machine (`describe`) and latest state (`snapshot`). */
const visualized = <const A extends string>(actors: readonly A[]) => actors.flatMap((a) => [`${a}.describe`, `${a}.snapshot`] as const);

export const gatewayManifest = defineManifest({
  name: 'gateway',
  kind: 'actor',
  description: 'HTTP API (/v1 OpenAI-compatible, /api Ollama-compatible and ours), web UI and SSE on 127.0.0.1:8480.',
  entry: 'actors/gateway/main.js',
  serves: {
    status: { request: s.empty(), reply: s.object({ port: s.integer(), url: s.string({ maxLength: 64 }) }), description: 'Where the HTTP API listens.' },
  },
  commands: {},
  publishes: {
    listening: s.object({ port: s.integer(), url: s.string({ maxLength: 64 }) }),
  },
  // Features add the ops their routes call (e.g. 'vault.status'); the ACL allows nothing else.
  requests: [
    'supervisor.status', 'supervisor.health', 'audit.status', 'audit.tail',
    // The web UI: audit verification and every actor's machine for the visualizer (describe + snapshot).
    'audit.verify', 'policy.section', ...visualized(['supervisor', 'audit', 'policy', 'tool-firewall', 'airlock', 'vault', 'auth', 'inference', 'registry', 'quarantine',
      'integrity', 'attestor', 'gpu-watch', 'incident', 'mcp-firewall', 'agent', 'diffusion']),
    // The web UI's Models page: the registry (list, verify) and quarantine jobs with their reports.
    'registry.list', 'registry.verify', 'quarantine.list', 'quarantine.get',
    // Imports from the browser (upload, a policy-checked path, a URL) and the catalog of allowlisted sources.
    'quarantine.upload_begin', 'quarantine.upload_chunk', 'quarantine.upload_end', 'quarantine.upload_abort',
    'quarantine.import_path', 'quarantine.import_url', 'quarantine.cancel', 'quarantine.sources',
    // The signed model catalog: its entries, and a download of one held to its pin.
    'quarantine.catalog', 'quarantine.import_catalog',
    // Chat history: vault records in the gateway's own namespace (put → ticket → commit).
    'vault.put', 'vault.commit', 'vault.get', 'vault.list', 'vault.delete',
    // Sealed inference: the OpenAI- and Ollama-compatible routes (generate streams tokens).
    'inference.models', 'inference.status', 'inference.generate', 'inference.cancel', 'inference.end_session',
    // Sign-in and the vault (issue 4): passphrase-bearing calls go to auth, which throttles them.
    'auth.status', 'auth.setup', 'auth.login', 'auth.validate', 'auth.logout', 'auth.sessions', 'auth.revoke',
    'auth.change_passphrase', 'auth.unlock', 'auth.panic', 'vault.status', 'vault.lock',
    // Removal from the Models page: auth checks the session and the passphrase again, then asks the registry.
    'auth.remove_model',
    // The Security page: incidents (list, one with its timeline), acknowledge/resolve through auth (the passphrase again),
    // and the integrity monitor's and the attestor's state.
    'incident.list', 'incident.get', 'auth.incident_act', 'integrity.status', 'attestor.status',
    // The MCP page: the firewall's state and every tool; approving one goes through auth (the passphrase again).
    'mcp-firewall.status', 'mcp-firewall.tools', 'auth.mcp_approve',
    // The Agent page: the tasks; running and cancelling for the session, approving or denying through auth (the passphrase again).
    'agent.status', 'agent.run_web', 'agent.cancel_web', 'auth.agent_act',
    // Image generation: /v1/images/generations, the Generate page (progress streamed, cancel) and its model picker;
    // the gallery is vault records under gallery/ (the record ops above).
    'diffusion.generate', 'diffusion.cancel', 'diffusion.models', 'diffusion.status',
  ],
  // policy.section: its local_api section, at start and after each reload that changes it (runtime/config-section.ts), and
  // the diffusion section (the image routes' defaults and bounds) from the first image request on;
  // incident.*: the transitions the Security page streams.
  subscribes: ['policy.reloaded', ...INCIDENT_TRANSITIONS.map((e) => `incident.${e}` as const)],
  watchesState: true,
});
