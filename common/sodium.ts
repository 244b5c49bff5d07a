// libsodium (sumo build: the only one with Argon2id), loaded on first use and initialised once per process.
import type sodiumModule from 'libsodium-wrappers-sumo';

export type Sodium = typeof sodiumModule;

let ready: Promise<Sodium> | undefined;

/** Loaded lazily: most actors need it only when the first signed command arrives, not at start. */
export function getSodium(): Promise<Sodium> {
  ready ??= import('libsodium-wrappers-sumo').then(async (m) => {
    const sodium = (m.default ?? m) as Sodium;
    await sodium.ready;
    return sodium;
  });
  return ready;
}
