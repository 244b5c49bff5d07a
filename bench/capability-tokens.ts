// Capability tokens in process: mint (canonical JSON, Ed25519 sign) and verify (parse, canonical check, Ed25519
// verify, time and scope checks) for one fs.read call, interleaved with bare Ed25519 sign and verify of the same
// bytes, by libsodium (what the tokens use) and by Node's OpenSSL: the floor this machine sets.
// bench:mcp calls benchCapabilityTokens(); target p99 < 100 µs each.
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { getSodium } from '../common/sodium.js';
import { argsHash, intentHashOf, mintCapability, verifyCapability, type MintClaims } from '../policy/capability/token.js';
import { percentile } from './stats.js';

const ITERATIONS = 20_000;
const WARMUP = 2_000;

export interface TokenFigures {
  n: number;
  mint_p99_us: number;
  verify_p99_us: number;
  /** Bare crypto_sign_detached / crypto_sign_verify_detached over the token's signed bytes. */
  sign_p99_us: number;
  bare_verify_p99_us: number;
  /** The same with node:crypto (OpenSSL), same key, same bytes. */
  node_sign_p99_us: number;
  node_verify_p99_us: number;
}

/** Node key objects for a libsodium Ed25519 key pair (DER prefixes of PKCS#8 and SPKI for Ed25519). */
function nodeKeys(secretKey: Uint8Array, publicKey: Uint8Array) {
  const priv = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), secretKey.subarray(0, 32)]), format: 'der', type: 'pkcs8' });
  const pub = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), publicKey]), format: 'der', type: 'spki' });
  return { priv, pub };
}

export async function benchCapabilityTokens(n = ITERATIONS): Promise<TokenFigures> {
  const sodium = await getSodium();
  const key = sodium.crypto_sign_keypair();
  const node = nodeKeys(key.privateKey, key.publicKey);
  const args = { path: '/var/lib/secure-ai/workspace/notes/today.md', max_bytes: 65536 };
  const now = Date.now();
  const claims: MintClaims = {
    tool: 'fs.read', argsHash: argsHash(args), paths: [args.path], issuedAt: now, expiresAt: now + 60_000,
    intentHash: intentHashOf('read today\'s notes'), policyDigest: 'ab'.repeat(32), planId: 'plan-bench', step: 3,
  };
  const series = { mint: [] as number[], verify: [] as number[], sign: [] as number[], bareVerify: [] as number[], nodeSign: [] as number[], nodeVerify: [] as number[] };
  const us = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1000;
  for (let i = -WARMUP; i < n; i++) {
    let t = process.hrtime.bigint();
    const { token } = await mintCapability(key.privateKey, claims);
    const mint = us(t);
    t = process.hrtime.bigint();
    // Verification hashes the presented arguments as the firewall does.
    const v = await verifyCapability(key.publicKey, token, { tool: 'fs.read', argsHash: argsHash(args), now: now + 1, policyDigest: claims.policyDigest });
    const ver = us(t);
    if (!v.ok) throw new Error(`bench token did not verify: ${v.code} ${v.reason}`);
    // The bytes the token signs: its domain line and claims (the first part, decoded).
    const signed = Buffer.concat([Buffer.from('secai-cap-v1\n'), Buffer.from(token.split('.')[0]!, 'base64url')]);
    t = process.hrtime.bigint();
    const sig = sodium.crypto_sign_detached(signed, key.privateKey);
    const s1 = us(t);
    t = process.hrtime.bigint();
    const ok1 = sodium.crypto_sign_verify_detached(sig, signed, key.publicKey);
    const v1 = us(t);
    t = process.hrtime.bigint();
    const nsig = sign(null, signed, node.priv);
    const s2 = us(t);
    t = process.hrtime.bigint();
    const ok2 = verify(null, signed, node.pub, nsig);
    const v2 = us(t);
    if (!ok1 || !ok2) throw new Error('bare Ed25519 did not verify');
    if (i >= 0) {
      series.mint.push(mint); series.verify.push(ver); series.sign.push(s1); series.bareVerify.push(v1); series.nodeSign.push(s2); series.nodeVerify.push(v2);
    }
  }
  const p99 = (xs: number[]) => Math.round(percentile([...xs].sort((a, b) => a - b), 99) * 10) / 10;
  return {
    n, mint_p99_us: p99(series.mint), verify_p99_us: p99(series.verify), sign_p99_us: p99(series.sign), bare_verify_p99_us: p99(series.bareVerify),
    node_sign_p99_us: p99(series.nodeSign), node_verify_p99_us: p99(series.nodeVerify),
  };
}
