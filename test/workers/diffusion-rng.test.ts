// The seeded generator: xoshiro128** bit-exact against a BigInt reference, the same samples for the same seed,
// standard normal moments, and seeds outside 0..2^32-1 refused.
import t from 'tap';
import { ErrorCode, type SecaiError } from '../../common/errors.js';
import { createRng, xoshiro128ss } from '../../workers/diffusion/rng.js';

/** xoshiro128** written from the paper with BigInt, masked to 32 bits: independent of Math.imul tricks. */
function referenceXoshiro(state: bigint[]): () => bigint {
  const M = 0xffffffffn;
  const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & M;
  const s = [...state];
  return () => {
    const result = (rotl((s[1]! * 5n) & M, 7n) * 9n) & M;
    const tt = (s[1]! << 9n) & M;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= tt;
    s[3] = rotl(s[3]!, 11n);
    return result;
  };
}

t.test('rng — xoshiro128** matches the reference bit for bit', async (t) => {
  for (const seed of [[1, 2, 3, 4], [0xdeadbeef, 0x01234567, 0x89abcdef, 0xffffffff]]) {
    const s = Uint32Array.from(seed);
    const ref = referenceXoshiro(seed.map(BigInt));
    let same = true;
    for (let i = 0; i < 10_000; i++) same &&= BigInt(xoshiro128ss(s)) === ref();
    t.ok(same, `10,000 outputs from state ${seed.join(',')}`);
  }
  t.equal(xoshiro128ss(Uint32Array.of(1, 2, 3, 4)), 11520, 'the first output of state 1,2,3,4 is rotl(2·5, 7)·9 = 11520');
});

t.test('rng — the same seed gives the same numbers; different seeds differ', async (t) => {
  const a = createRng(42).gaussian(1000);
  const b = createRng(42).gaussian(1000);
  t.same(a, b, 'gaussian: same seed, same samples');
  const c = createRng(43).gaussian(1000);
  t.ok(a.some((v, i) => v !== c[i]), 'seed 43 differs from 42');
  t.ok(createRng(0).next() !== createRng(0xffffffff).next(), 'seeds 0 and 2^32-1 differ');
  const u1 = createRng(7);
  const u2 = createRng(7);
  for (let i = 0; i < 100; i++) t.equal(u1.next(), u2.next());
  // Pinned values (checked against an independent Python port of splitmix32 + xoshiro128**): any platform or
  // refactor that changes them changes every seeded image.
  const pin = createRng(42);
  t.same([pin.next(), pin.next()], [0.6606157208001621, 0.1117019639532224], 'seed 42: next() twice');
  t.same(Array.from(createRng(42).gaussian(4)), [1.1226592063903809, 0.9491474628448486, 0.4041278660297394, 0.03873744234442711], 'seed 42: gaussian(4)');
});

t.test('rng — next() is uniform in [0, 1); gaussian() is standard normal', async (t) => {
  const r = createRng(12345);
  let lo = 1;
  let hi = 0;
  let sum = 0;
  for (let i = 0; i < 100_000; i++) {
    const u = r.next();
    lo = Math.min(lo, u);
    hi = Math.max(hi, u);
    sum += u;
  }
  t.ok(lo >= 0 && hi < 1, `range [${lo}, ${hi}]`);
  t.ok(Math.abs(sum / 100_000 - 0.5) < 0.005, `mean ${sum / 100_000} ≈ 0.5`);
  const g = createRng(99).gaussian(100_000);
  const mean = g.reduce((s, v) => s + v, 0) / g.length;
  const variance = g.reduce((s, v) => s + (v - mean) ** 2, 0) / g.length;
  const within1 = g.filter((v) => Math.abs(v) < 1).length / g.length;
  t.ok(Math.abs(mean) < 0.02, `mean ${mean.toFixed(4)} ≈ 0`);
  t.ok(Math.abs(variance - 1) < 0.02, `variance ${variance.toFixed(4)} ≈ 1`);
  t.ok(Math.abs(within1 - 0.6827) < 0.01, `${(within1 * 100).toFixed(2)}% within one sigma ≈ 68.27%`);
  t.ok(g.every(Number.isFinite), 'no NaN or infinity');
  t.equal(createRng(1).gaussian(3).length, 3, 'an odd count');
  t.equal(createRng(1).gaussian(0).length, 0, 'zero samples');
});

t.test('rng — seeds and counts out of range are refused', async (t) => {
  for (const seed of [-1, 2 ** 32, 1.5, NaN, Infinity]) {
    t.throws(() => createRng(seed), { code: ErrorCode.SCHEMA }, `seed ${seed}`);
  }
  const r = createRng(1);
  for (const n of [-1, 1.5, 2 ** 40]) {
    try {
      r.gaussian(n);
      t.fail(`gaussian(${n}) accepted`);
    } catch (err) {
      t.equal((err as SecaiError).code, ErrorCode.INTERNAL, `gaussian(${n})`);
    }
  }
});
