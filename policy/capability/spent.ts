// Single use: the nonces of capability tokens (and approvals) already used, each kept until its token expires.
// Pure: the set is a value the caller keeps (in its machine's context); spend returns the next one.

/** nonce → expiresAt (ms). Small in practice: tool calls are rate-limited and tokens live a minute. */
export type SpentSet = Readonly<Record<string, number>>;

/** More live tokens than this at once is not a plausible agent: the set refuses rather than grows without bound. */
export const MAX_SPENT = 65_536;

export type SpendResult = { ok: true; set: SpentSet } | { ok: false; set: SpentSet; reason: 'replayed' | 'full' };

/** Entries whose token has expired: an expired token is refused by its expiry, so its nonce need not be kept. */
export function pruneSpent(set: SpentSet, now: number): SpentSet {
  let stale = false;
  for (const k in set) if (set[k]! <= now) { stale = true; break; }
  if (!stale) return set;
  const out: Record<string, number> = {};
  for (const k in set) if (set[k]! > now) out[k] = set[k]!;
  return out;
}

/**
 * Records `nonce` as used until `expiresAt`. Refused when it was used before (a replay: the signature proves who
 * minted the token, not that it is fresh) or when the set is full (fail closed).
 */
export function spendNonce(set: SpentSet, nonce: string, expiresAt: number, now: number): SpendResult {
  const live = pruneSpent(set, now);
  if (Object.hasOwn(live, nonce)) return { ok: false, set: live, reason: 'replayed' };
  if (Object.keys(live).length >= MAX_SPENT) return { ok: false, set: live, reason: 'full' };
  return { ok: true, set: { ...live, [nonce]: expiresAt } };
}
