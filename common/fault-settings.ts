// The fault-handling settings, a view of common/env.ts (where every SECAI_* setting is parsed and checked).
import { parseEnv, secaiEnv } from './env.js';

export interface FaultSettings {
  /** Supervisor ↔ actor (and nats-server) heartbeat interval; 0 turns heartbeats off. SECAI_HEARTBEAT_MS, default 1000. */
  heartbeatMs: number;
  /** Heartbeats left unanswered before a slot is unresponsive (fixed: three). */
  heartbeatMisses: number;
  /** How long a securectl / secai verb waits for its answer. SECAI_CLI_DEADLINE_MS, default 10 000. */
  cliDeadlineMs: number;
  /** Below this many MiB free under SECAI_HOME the appliance is in degraded_storage. SECAI_MIN_FREE_MB, default 256. */
  minFreeMb: number;
  /** How often free space is checked. SECAI_STORAGE_CHECK_MS, default 1000. */
  storageCheckMs: number;
}

/** The fault settings of `env` (default: this process's, parsed once by common/env.ts). */
export function faultSettings(env?: NodeJS.ProcessEnv): Readonly<FaultSettings> {
  const e = env ? parseEnv(env) : secaiEnv();
  return Object.freeze({
    heartbeatMs: e.heartbeatMs,
    heartbeatMisses: 3,
    cliDeadlineMs: e.cliDeadlineMs,
    minFreeMb: e.minFreeMb,
    storageCheckMs: e.storageCheckMs,
  });
}
