// The vault section of policy.yaml, typed.
import { loadConfig } from '../../policy/load.js';
import type { Argon2Limits } from './vault-crypto.js';

export interface VaultPolicy {
  idle_lock_minutes: number;
  argon2: Argon2Limits;
  session_hours: number;
  session_idle_minutes: number;
  login: { free_attempts: number; base_delay_seconds: number; max_delay_seconds: number; lockout_after: number; lockout_minutes: number };
}

export function loadVaultPolicy(configDir: string): VaultPolicy {
  return (loadConfig(configDir, 'policy').value as { vault: VaultPolicy }).vault;
}
