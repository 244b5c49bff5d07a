// Sizes the bus's connection slots so that a flood of unauthenticated sockets cannot fill them from loopback.
import { readFileSync } from 'node:fs';

/**
 * nats-server counts a connection from accept, before CONNECT, and drops one that has not
 * authenticated after `authorization.timeout`. An attacker without credentials therefore holds
 * slots only by reconnecting: to keep M slots busy he needs about M / T new connections per
 * second. A short T and a large M push that rate past what the host can accept; the image's
 * nftables owner match closes the port to other uids entirely (docs/image.md).
 */
export const BUS_LIMITS = {
  /** Seconds a socket may stay connected without a valid CONNECT (nats-server's default is 2). */
  authTimeoutS: 0.5,
  /** File descriptors left to nats-server for JetStream files, its log and the listener. */
  fdReserve: 1024,
  /** Below this the appliance still starts (as before), but a flood is cheap: said at start. */
  minConnections: 256,
  /** Each slot costs nats-server a few tens of KiB when held: the cap bounds its memory. */
  maxConnections: 16_384,
} as const;

/** The hard RLIMIT_NOFILE this process (and so nats-server, its child) has; Go raises its soft limit to it. */
export function hardOpenFileLimit(limitsFile = '/proc/self/limits'): number | undefined {
  try {
    const line = readFileSync(limitsFile, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const hard = line?.trim().split(/\s+/)[4];
    if (hard === 'unlimited') return Number.MAX_SAFE_INTEGER;
    const n = Number(hard);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** max_connections: as many slots as the fd limit allows (minus a reserve), within the floor and cap above. */
export function connectionSlots(hardLimit: number | undefined): number {
  if (hardLimit === undefined) return BUS_LIMITS.minConnections;
  return Math.max(BUS_LIMITS.minConnections, Math.min(BUS_LIMITS.maxConnections, hardLimit - BUS_LIMITS.fdReserve));
}
