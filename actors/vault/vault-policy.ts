// The vault section of policy.yaml, typed.
import { loadConfig } from '../../policy/load.js';
import type { Argon2Limits } from './vault-crypto.js';
import type { ThrottlePolicy } from '../auth/client-throttle.js';

export interface VaultPolicy {
  idle_lock_minutes: number;
  argon2: Argon2Limits;
  session_hours: number;
  session_idle_minutes: number;
  login: ThrottlePolicy;
}

export function loadVaultPolicy(configDir: string): VaultPolicy {
  return (loadConfig(configDir, 'policy').value as { vault: VaultPolicy }).vault;
}
