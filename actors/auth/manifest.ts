// The auth actor's bus contract: first-run setup, login (throttled), sessions with CSRF tokens, and the passphrase ops.
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';
import { registryEntry, registryName } from '../../contracts/registry-entry.js';
import { incidentId, incidentNote, incidentSummary, OPERATOR_ACTS } from '../../contracts/incident-summary.js';
import { mcpApproval, mcpServerId, mcpToolHash, mcpToolName } from '../../contracts/mcp-approval.js';
import { agentIntentHash, agentPlanId, agentStep, agentTransition } from '../../contracts/agent-web.js';

const sessionId = s.string({ maxLength: 64 });
const passphrase = s.string({ minLength: 1, maxLength: 1024 });
const handle = s.string({ maxLength: 32 });
const device = s.string({ maxLength: 128 });
/** `device`: the token that gives this browser its own throttle ladder (docs/vault.md); the gateway keeps it in a cookie. */
const issued = s.object({ sessionId, csrf: s.string({ maxLength: 64 }), handle, expiresAt: s.number(), device });
const client = s.string({ maxLength: 64 });
const ok = s.object({ ok: s.boolean() });
const at = s.number();
/** What a web session may do to an agent plan or step waiting (auth.agent_act). */
export const AGENT_ACTS = ['approve', 'deny'] as const;
/** Who may end every session: the incident actor alone (the ACL compiler refuses any other manifest that asks). */
export const END_SESSIONS_CALLERS = ['incident'] as const;

export const authManifest = defineManifest({
  name: 'auth',
  kind: 'actor',
  description: 'Local sign-in: first-run passphrase setup, throttled login, sessions (hashed ids, CSRF tokens), revocation.',
  entry: 'actors/auth/main.js',
  serves: {
    status: {
      request: s.object({ sessionId, csrf: s.string({ maxLength: 128 }) }, ['sessionId', 'csrf']),
      reply: s.object({ initialized: s.boolean(), loggedIn: s.boolean(), vault: s.string({ maxLength: 32 }) }),
      description: 'Whether a vault exists and whether this cookie AND its proof token name a live session (never the token itself).',
    },
    setup: {
      request: s.object({ passphrase, setupCode: s.string({ maxLength: 64 }), device }, ['setupCode', 'device']), reply: issued, timeoutMs: 30_000,
      description: 'First run only, with the one-time setup code from `secai up`: creates the vault and a session. Throttled per client.',
    },
    login: { request: s.object({ passphrase, device }, ['device']), reply: issued, description: 'Throttled per client (device token, else the shared anonymous ladder); always issues a NEW session id.', timeoutMs: 30_000 },
    validate: {
      request: s.object({ sessionId, csrf: s.string({ maxLength: 128 }) }, ['sessionId', 'csrf']),
      reply: s.object({ handle }), description: 'The gateway guard, on every session request: is this cookie a live session, and is its proof token (x-csrf-token) right?',
    },
    logout: { request: s.object({ sessionId }), reply: ok, description: 'Ends this session.' },
    sessions: {
      request: s.object({ sessionId }),
      reply: s.object({ sessions: s.array(s.object({ handle, createdAt: at, lastSeenAt: at, expiresAt: at, current: s.boolean() }), 1000) }),
      description: 'Live sessions (handles, never ids).',
    },
    revoke: { request: s.object({ sessionId, handle }), reply: ok, description: 'Ends the session with this handle.' },
    change_passphrase: { request: s.object({ sessionId, old: passphrase, new: passphrase }), reply: ok, timeoutMs: 60_000, description: 'Throttled like login; ends every other session.' },
    unlock: { request: s.object({ sessionId, passphrase }), reply: ok, timeoutMs: 30_000, description: 'Unlocks the vault for a session; throttled like login.' },
    panic: {
      request: s.object({ sessionId, level: s.integer({ minimum: 1, maximum: 3 }), passphrase, confirm: s.boolean() }, ['passphrase', 'confirm']),
      reply: s.object({ level: s.integer(), removed: s.array(s.string({ maxLength: 4096 }), 64) }), timeoutMs: 60_000,
      description: 'Panic from a session (the HTTP API); passphrase attempts are throttled like login.',
    },
    remove_model: {
      request: s.object({ sessionId, name: registryName, passphrase }),
      reply: registryEntry, timeoutMs: 120_000,
      description: 'Removes a registry model for a session that proves the passphrase again (throttled like login); asks registry.remove.',
    },
    incident_act: {
      request: s.object({ sessionId, id: incidentId, action: s.string({ enum: OPERATOR_ACTS }), passphrase, note: incidentNote }, ['note']),
      reply: incidentSummary, timeoutMs: 60_000,
      description: 'Acknowledges or resolves an incident for a session that proves the passphrase again (throttled like login); asks incident.act_for_session.',
    },
    mcp_approve: {
      request: s.object({
        sessionId, server: mcpServerId, tool: mcpToolName, hash: mcpToolHash, acceptFindings: s.boolean(), passphrase,
      }, ['acceptFindings']),
      reply: mcpApproval, timeoutMs: 60_000, callers: ['gateway'], maxBytes: 4096,
      description: 'Approves (pins) an MCP tool definition for a session that proves the passphrase again (throttled like login); asks mcp-firewall.approve_web.',
    },
    agent_act: {
      request: s.object({ sessionId, planId: agentPlanId, step: agentStep, intentHash: agentIntentHash, action: s.string({ enum: AGENT_ACTS }), passphrase }),
      reply: agentTransition, timeoutMs: 60_000, callers: ['gateway'], maxBytes: 4096,
      description: 'Approves or denies an agent plan (step -1) or step for a session that proves the passphrase again (throttled like login); an approval is recorded with policy.approve_web, then agent.approve_web (deny: agent.deny_web).',
    },
    end_sessions: {
      request: s.object({ incidentId: s.string({ minLength: 1, maxLength: 128 }), reason: s.string({ minLength: 1, maxLength: 512 }) }),
      reply: s.object({ ended: s.integer({ minimum: 0 }) }), callers: END_SESSIONS_CALLERS, maxBytes: 4096,
      description: 'Incident containment: end every web session now (each browser must sign in again); `ended` counts them.',
    },
  },
  commands: {},
  publishes: {
    setup_completed: s.object({ handle, at }),
    login_succeeded: s.object({ handle, at }),
    login_failed: s.object({ code: s.string({ maxLength: 64 }), failures: s.integer({ minimum: 0 }), client, at }),
    // A client's ladder reached its lockout, or all clients together the global ceiling: for the incident actor.
    guess_burst: s.object({
      client, scope: s.string({ enum: ['client', 'global'] }), failures: s.integer({ minimum: 0 }), total: s.integer({ minimum: 0 }),
      windowMs: s.integer({ minimum: 0 }), at,
    }),
    logged_out: s.object({ handle, at }),
    session_revoked: s.object({ handle, by: handle, at }),
    // `by`: the incident whose containment ended them (absent for a passphrase change or a panic).
    sessions_ended: s.object({ count: s.integer({ minimum: 0 }), reason: s.string({ maxLength: 64 }), by: s.string({ maxLength: 128 }), at }, ['by']),
    passphrase_changed: s.object({ handle, at }),
    // A removal from the web UI that was refused (wrong passphrase, throttled, no such model): who, what, why.
    model_removal_refused: s.object({ handle, name: s.string({ maxLength: 128 }), code: s.string({ maxLength: 64 }), at }),
    // An acknowledge/resolve from the web UI that was refused (wrong passphrase, throttled, wrong state): who, which, why.
    incident_act_refused: s.object({ handle, id: s.string({ maxLength: 64 }), action: s.string({ enum: OPERATOR_ACTS }), code: s.string({ maxLength: 64 }), at }),
    // An MCP tool approval from the web UI that was refused (wrong passphrase, throttled, changed hash): who, which, why.
    // An agent approval or denial from the web UI that was refused (wrong passphrase, throttled, another intent): who, which, why.
    agent_act_refused: s.object({
      handle, planId: s.string({ maxLength: 64 }), step: s.integer({ minimum: -1 }), action: s.string({ enum: AGENT_ACTS }), code: s.string({ maxLength: 64 }), at,
    }),
    mcp_approve_refused: s.object({ handle, server: s.string({ maxLength: 32 }), tool: s.string({ maxLength: 128 }), code: s.string({ maxLength: 64 }), at }),
  },
  requests: [
    'vault.status', 'vault.setup', 'vault.unlock', 'vault.change_passphrase', 'vault.panic', 'vault.keepalive',
    // Removal from the web UI: the passphrase again (vault), then the registry op only auth may request.
    'vault.verify_passphrase', 'registry.remove',
    // Acknowledge/resolve from the web UI: the passphrase again (vault), then the incident op only auth may request.
    'incident.act_for_session',
    // MCP tool approval from the web UI: the passphrase again (vault), then the firewall op only auth may request.
    'mcp-firewall.approve_web',
    // Agent approvals from the web UI: the passphrase again (vault), then the record in policy and the agent ops only auth may request.
    'policy.approve_web', 'agent.approve_web', 'agent.deny_web',
    // Its policy.yaml section (vault: sign-in limits), at start and after each reload that changes it.
    'policy.section',
  ],
  subscribes: ['vault.panicked', 'policy.reloaded'],
});
