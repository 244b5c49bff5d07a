// The local_api section of policy.yaml, typed: who besides our own page may call the local model API.
import { loadConfig } from '../../policy/load.js';
import type { LocalApiPolicy } from './origin-check.js';

export function loadLocalApiPolicy(configDir: string): LocalApiPolicy {
  return (loadConfig(configDir, 'policy').value as { local_api: LocalApiPolicy }).local_api;
}
