// Passphrase throttling per client with a global ceiling: pure functions of the persisted state, a client key and a clock.
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { checkAttempt, FRESH, recordFailure, type LimiterState, type LoginPolicy } from './rate-limit.js';

export interface ThrottlePolicy extends LoginPolicy {
  /** Failures of all clients together within the window after which every client waits. */
  global_max_failures: number;
  global_window_minutes: number;
}

/**
 * `clients`: the per-client delay ladders (rate-limit.ts), keyed by what the client can be told apart
 * by (see clientKey in main.ts). `recent`: times of every failure inside the global window.
 */
export interface ThrottleState {
  clients: Record<string, LimiterState>;
  recent: number[];
}

export const EMPTY: ThrottleState = { clients: {}, recent: [] };
/** Keys kept at most: a guesser minting clients must not grow the file without bound (the global ceiling still counts them). */
const MAX_CLIENTS = 256;

const windowMs = (p: ThrottlePolicy) => p.global_window_minutes * 60_000;
const inWindow = (s: ThrottleState, p: ThrottlePolicy, now: number) => s.recent.filter((t) => t > now - windowMs(p) && t <= now);

/** Throws RATE_LIMITED when this client must wait, or when all clients together hit the ceiling. Before any key derivation. */
export function checkClient(s: ThrottleState, client: string, p: ThrottlePolicy, now: number): void {
  checkAttempt(s.clients[client] ?? FRESH, p, now);
  const recent = inWindow(s, p, now);
  if (recent.length >= p.global_max_failures) {
    const secs = Math.ceil((Math.min(...recent) + windowMs(p) - now) / 1000);
    throw new SecaiError(ErrorCode.RATE_LIMITED, `${recent.length} failed attempts from all clients within ${p.global_window_minutes} min: try again in ${secs} s`);
  }
}

export interface Recorded {
  state: ThrottleState;
  /** This client's consecutive failures and everyone's within the window, for the event. */
  failures: number;
  total: number;
  /** Set when this failure reached a lockout: the client's own, or the global ceiling (once, as it is reached). */
  burst?: 'client' | 'global';
}

export function recordClientFailure(s: ThrottleState, client: string, p: ThrottlePolicy, now: number): Recorded {
  const mine = recordFailure(s.clients[client] ?? FRESH, now);
  const recent = [...inWindow(s, p, now), now].slice(-p.global_max_failures);
  let clients: Record<string, LimiterState> = { ...s.clients, [client]: mine };
  const keys = Object.keys(clients);
  if (keys.length > MAX_CLIENTS) {
    // Evict the stalest others; the caller's own entry always stays.
    const drop = keys.filter((k) => k !== client).sort((a, b) => clients[a]!.lastFailureAt - clients[b]!.lastFailureAt).slice(0, keys.length - MAX_CLIENTS);
    clients = Object.fromEntries(Object.entries(clients).filter(([k]) => !drop.includes(k)));
  }
  // Every failure that (re)enters a lockout is a burst: the first at lockout_after, then each one after a lockout ends.
  const burst = recent.length === p.global_max_failures ? 'global' as const : mine.failures >= p.lockout_after ? 'client' as const : undefined;
  return { state: { clients, recent }, failures: mine.failures, total: recent.length, ...(burst && { burst }) };
}

/** A success clears that client's ladder only: the global window keeps counting others' failures. */
export function recordClientSuccess(s: ThrottleState, client: string): ThrottleState {
  if (!(client in s.clients)) return s;
  const { [client]: _gone, ...clients } = s.clients;
  return { clients, recent: s.recent };
}

/** Parses the persisted file; the pre-per-client shape ({failures, lastFailureAt}) becomes the anonymous client's. */
export function parseThrottle(text: string, anonymous: string): ThrottleState | undefined {
  const v = JSON.parse(text) as unknown;
  const ok = (x: unknown): x is LimiterState => typeof x === 'object' && x !== null
    && Number.isInteger((x as LimiterState).failures) && (x as LimiterState).failures >= 0 && typeof (x as LimiterState).lastFailureAt === 'number';
  if (ok(v)) return { clients: { [anonymous]: v }, recent: [] };
  const o = v as Partial<ThrottleState>;
  if (typeof o !== 'object' || o === null || typeof o.clients !== 'object' || o.clients === null || !Array.isArray(o.recent)) return undefined;
  if (!Object.values(o.clients).every(ok) || !o.recent.every((t) => typeof t === 'number')) return undefined;
  return { clients: o.clients as Record<string, LimiterState>, recent: o.recent as number[] };
}
