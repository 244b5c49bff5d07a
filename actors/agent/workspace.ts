// The agent's workspace ($SECAI_HOME/workspace, policy path_access `workspace`): made at start on a new appliance.
import { mkdirSync } from 'node:fs';

/**
 * Makes the workspace (0700) when it is missing: without it the first approved write fails. Something else in its
 * place (a file, a dangling link) is left as it is and logged, not fatal: the agent's MCP tools still work, and the
 * built-in file tools fail there, since the tool firewall cannot open the workspace as a folder.
 */
export function ensureWorkspace(path: string, log: { error(o: object, msg: string): void }): boolean {
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
    return true;
  } catch (err) {
    log.error({ err, path }, 'the agent workspace cannot be made: the built-in file tools fail until it is a folder');
    return false;
  }
}
