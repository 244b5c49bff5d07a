// Where the appliance keeps state (SECAI_HOME) and reads config (SECAI_CONFIG), per DESIGN.md.
import { parseEnv, secaiEnv } from './env.js';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The checkout (or installed package) root: the nearest folder above this code holding our package.json.
 * Walking up (not counting `..`) keeps it right from sources, from dist/, and from a bundled actor entry.
 */
export const projectRoot = (() => {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'secai-os') return dir;
    if (dirname(dir) === dir) throw new Error(`secai-os: no package.json of secai-os above ${start}`);
  }
})();

const settings = (env?: NodeJS.ProcessEnv) => (env ? parseEnv(env) : secaiEnv());

/** SECAI_HOME, default ./.secai; `env` only where a caller (a test, a CLI helper) passes its own. */
export function secaiHome(env?: NodeJS.ProcessEnv): string {
  return resolve(settings(env).home ?? join(process.cwd(), '.secai'));
}

export function secaiConfigDir(env?: NodeJS.ProcessEnv): string {
  return resolve(settings(env).configDir ?? join(projectRoot, 'policy'));
}

export function homePaths(home: string) {
  return {
    home,
    bus: join(home, 'bus'),
    busConfig: join(home, 'bus', 'nats.conf'),
    /** The same server without JetStream: run while the disk is full (docs/recovery.md). */
    busConfigNoJetStream: join(home, 'bus', 'nats-nojs.conf'),
    /** Who may ask what (subject → identities), compiled with the server config: responders read it at start. */
    busCallers: join(home, 'bus', 'callers.json'),
    busUrlFile: join(home, 'bus', 'url'),
    jetstream: join(home, 'bus', 'jetstream'),
    keys: join(home, 'keys'),
    busKeys: join(home, 'keys', 'bus'),
    operatorKey: join(home, 'keys', 'operator.ed25519'),
    trustedOperators: join(home, 'keys', 'operators'),
    applianceKey: join(home, 'keys', 'appliance.ed25519'),
    /** The policy actor's Ed25519 key for capability tokens (docs/agent.md). */
    capabilityKey: join(home, 'keys', 'capability.ed25519'),
    /** The MCP firewall's bearer token for outside clients (docs/mcp.md), 0600. */
    mcpClientToken: join(home, 'keys', 'mcp-client.token'),
    /** Approved MCP tool definitions, signed with the appliance key. */
    mcpPins: join(home, 'mcp', 'pins.json'),
    /** The newest pins record written, signed: an older pins.json put back is a rollback (docs/mcp.md). */
    mcpPinsAnchor: join(home, 'keys', 'mcp-pins.anchor'),
    audit: join(home, 'audit'),
    run: join(home, 'run'),
    quarantine: join(home, 'quarantine'),
    incoming: join(home, 'quarantine', 'incoming'),
    quarantineWork: join(home, 'quarantine', 'work'),
    registry: join(home, 'registry'),
    vault: join(home, 'vault'),
    /** The agent's files (policy path_access `workspace`): made by the agent actor at start, 0700. */
    workspace: join(home, 'workspace'),
  } as const;
}
export type HomePaths = ReturnType<typeof homePaths>;
