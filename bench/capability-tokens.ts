// Capability tokens in process: mint (canonical JSON, Ed25519 sign) and verify (parse, canonical check, Ed25519
// verify, time and scope checks) for one fs.read call. bench:mcp calls benchCapabilityTokens(); target p99 < 100 µs each.
import { getSodium } from '../common/sodium.js';
import { argsHash, intentHashOf, mintCapability, verifyCapability, type MintClaims } from '../policy/capability/token.js';
import { percentile } from './stats.js';

const ITERATIONS = 20_000;
const WARMUP = 2_000;

export async function benchCapabilityTokens(n = ITERATIONS): Promise<{ mint_p99_us: number; verify_p99_us: number; n: number }> {
  const sodium = await getSodium();
  const key = sodium.crypto_sign_keypair();
  const args = { path: '/var/lib/secure-ai/workspace/notes/today.md', max_bytes: 65536 };
  const now = Date.now();
  const claims: MintClaims = {
    tool: 'fs.read', argsHash: argsHash(args), paths: [args.path], issuedAt: now, expiresAt: now + 60_000,
    intentHash: intentHashOf('read today\'s notes'), policyDigest: 'ab'.repeat(32), planId: 'plan-bench', step: 3,
  };
  const mintUs: number[] = new Array<number>(n);
  const verifyUs: number[] = new Array<number>(n);
  for (let i = -WARMUP; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const { token } = await mintCapability(key.privateKey, claims);
    const t1 = process.hrtime.bigint();
    // Verification hashes the presented arguments as the firewall does.
    const v = await verifyCapability(key.publicKey, token, { tool: 'fs.read', argsHash: argsHash(args), now: now + 1, policyDigest: claims.policyDigest });
    const t2 = process.hrtime.bigint();
    if (!v.ok) throw new Error(`bench token did not verify: ${v.code} ${v.reason}`);
    if (i >= 0) {
      mintUs[i] = Number(t1 - t0) / 1000;
      verifyUs[i] = Number(t2 - t1) / 1000;
    }
  }
  const p99 = (xs: number[]) => Math.round(percentile([...xs].sort((a, b) => a - b), 99) * 10) / 10;
  return { mint_p99_us: p99(mintUs), verify_p99_us: p99(verifyUs), n };
}
