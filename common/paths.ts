// Where the appliance keeps state (SECAI_HOME) and reads config (SECAI_CONFIG), per DESIGN.md.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout (or installed package) root: two levels above this file in src and in dist. */
export const projectRoot = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  // src: <root>/common ; built: <root>/dist/common
  dir = resolve(dir, '..');
  return dir.endsWith('/dist') || dir.endsWith('\\dist') ? resolve(dir, '..') : dir;
})();

export function secaiHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.SECAI_HOME ?? join(process.cwd(), '.secai'));
}

export function secaiConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.SECAI_CONFIG ?? join(projectRoot, 'policy'));
}

export function homePaths(home: string) {
  return {
    home,
    bus: join(home, 'bus'),
    busConfig: join(home, 'bus', 'nats.conf'),
    busUrlFile: join(home, 'bus', 'url'),
    jetstream: join(home, 'bus', 'jetstream'),
    keys: join(home, 'keys'),
    busKeys: join(home, 'keys', 'bus'),
    operatorKey: join(home, 'keys', 'operator.ed25519'),
    trustedOperators: join(home, 'keys', 'operators'),
    applianceKey: join(home, 'keys', 'appliance.ed25519'),
    audit: join(home, 'audit'),
    run: join(home, 'run'),
    quarantine: join(home, 'quarantine'),
    incoming: join(home, 'quarantine', 'incoming'),
    quarantineWork: join(home, 'quarantine', 'work'),
    registry: join(home, 'registry'),
    vault: join(home, 'vault'),
  } as const;
}
export type HomePaths = ReturnType<typeof homePaths>;
