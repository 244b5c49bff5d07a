// Seeded random numbers for image generation: the same seed gives the same image on every run and platform.
import { ErrorCode, SecaiError } from '../../common/errors.js';

export interface Rng {
  /** Uniform in [0, 1), 53 random bits. */
  next(): number;
  /** n standard normal samples (Box-Muller over pairs; an odd n drops the pair's second sample). */
  gaussian(n: number): Float32Array;
}

/** Most samples one gaussian() call may ask for: 64 Mi floats (256 MiB), far above a 1024² latent batch. */
export const MAX_GAUSSIAN = 64 * 1024 * 1024;

/** murmur3's finaliser over a Weyl sequence: spreads a 32-bit seed into well-mixed state words. */
function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

/**
 * One xoshiro128** step (Blackman and Vigna): advances the four 32-bit words of `s` in place and returns the
 * next 32-bit output. Pure integer math (Math.imul, shifts), so every platform computes the same bits.
 */
export function xoshiro128ss(s: Uint32Array): number {
  const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
  const t = (s[1]! << 9) >>> 0;
  s[2]! ^= s[0]!;
  s[3]! ^= s[1]!;
  s[1]! ^= s[2]!;
  s[0]! ^= s[3]!;
  s[2]! ^= t;
  s[3] = rotl(s[3]!, 11);
  return result;
}

/** A generator for `seed` (an integer 0..2^32-1). Math.log/cos/sin are V8's fdlibm ports: the same bits on every OS. */
export function createRng(seed: number): Rng {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new SecaiError(ErrorCode.SCHEMA, `seed must be an integer from 0 to 4294967295, got ${String(seed)}`);
  }
  const mix = splitmix32(seed);
  const state = new Uint32Array([mix(), mix(), mix(), mix()]);
  // xoshiro's one forbidden state: four distinct inputs to a bijection cannot all map to 0, but it must never happen.
  if (state.every((w) => w === 0)) state[0] = 1;
  const next = (): number => {
    const hi = xoshiro128ss(state) >>> 5; // 27 bits
    const lo = xoshiro128ss(state) >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  };
  return {
    next,
    gaussian(n: number): Float32Array {
      if (!Number.isInteger(n) || n < 0 || n > MAX_GAUSSIAN) {
        throw new SecaiError(ErrorCode.INTERNAL, `gaussian(n): n must be an integer from 0 to ${MAX_GAUSSIAN}, got ${String(n)}`);
      }
      const out = new Float32Array(n);
      for (let i = 0; i < n; i += 2) {
        const u1 = 1 - next(); // (0, 1]: log(0) never happens
        const u2 = next();
        const r = Math.sqrt(-2 * Math.log(u1));
        const theta = 2 * Math.PI * u2;
        out[i] = r * Math.cos(theta);
        if (i + 1 < n) out[i + 1] = r * Math.sin(theta);
      }
      return out;
    },
  };
}
