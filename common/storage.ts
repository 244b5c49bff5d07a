// Free space under SECAI_HOME, and the refusal of new work that would need it (the appliance's degraded_storage state).
import { statfsSync } from 'node:fs';
import { ErrorCode, SecaiError } from './errors.js';
import { faultSettings } from './fault-settings.js';

export type StorageState = 'ok' | 'degraded_storage';

/** MiB available to an unprivileged writer on the filesystem holding `path` (statfs f_bavail). */
export function freeMb(path: string): number {
  const st = statfsSync(path);
  return (st.bavail * st.bsize) / (1024 * 1024);
}

export function storageState(path: string, minFreeMb: number): { state: StorageState; freeMb: number; minFreeMb: number } {
  const free = freeMb(path);
  return { state: free < minFreeMb ? 'degraded_storage' : 'ok', freeMb: Math.round(free * 10) / 10, minFreeMb };
}

/**
 * Refuses new imports and uploads up front while free space is below SECAI_MIN_FREE_MB: a model would fill the disk
 * that the audit trail and the vault need. One statfs per call (microseconds), so every actor judges the disk as it is
 * now, without waiting on a message from the supervisor.
 */
export function assertStorageRoom(home: string, what: string, minFreeMb = faultSettings().minFreeMb): void {
  const s = storageState(home, minFreeMb);
  if (s.state === 'degraded_storage') {
    throw new SecaiError(ErrorCode.STORAGE_FULL, `${what} refused: ${s.freeMb} MiB free under SECAI_HOME, below the ${minFreeMb} MiB minimum (free space, then try again)`);
  }
}
