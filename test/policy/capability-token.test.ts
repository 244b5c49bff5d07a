// Capability tokens, pure: what verifies, and each way a token fails (forged, other key, time, scope, stale, tampered, replayed).
import t from 'tap';
import { getSodium } from '../../common/sodium.js';
import { pruneSpent, spendNonce, MAX_SPENT, type SpentSet } from '../../policy/capability/spent.js';
import {
  argsHash, capKeyId, checkPaths, intentHashOf, mintCapability, peekClaims, verifyCapability, type MintClaims,
} from '../../policy/capability/token.js';

const NOW = 1_800_000_000_000;
const DIGEST = 'a'.repeat(64);
const ARGS = { path: '/home/secai/workspace/a.txt' };

async function setup() {
  const sodium = await getSodium();
  const key = sodium.crypto_sign_keypair();
  const other = sodium.crypto_sign_keypair();
  const claims: MintClaims = {
    tool: 'fs.read', argsHash: argsHash(ARGS), paths: [ARGS.path], issuedAt: NOW, expiresAt: NOW + 60_000,
    intentHash: intentHashOf('read the notes'), policyDigest: DIGEST, planId: 'plan-1', step: 0,
  };
  const expect = { tool: 'fs.read', argsHash: argsHash(ARGS), now: NOW + 1000, policyDigest: DIGEST };
  return { sodium, key, other, claims, expect };
}

/** The token with its claims replaced and the original signature kept. */
function tamper(token: string, edit: (c: Record<string, unknown>) => void): string {
  const [payload, sig] = token.split('.') as [string, string];
  const c = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  edit(c);
  const sorted = Object.fromEntries(Object.keys(c).sort().map((k) => [k, c[k]]));
  return `${Buffer.from(JSON.stringify(sorted)).toString('base64url')}.${sig}`;
}

t.test('capability token — a minted token verifies for exactly its call', async (t) => {
  const { key, claims, expect } = await setup();
  const { token, claims: full } = await mintCapability(key.privateKey, claims);
  const v = await verifyCapability(key.publicKey, token, expect);
  t.ok(v.ok);
  t.same(v.ok && v.claims, full);
  t.equal(full.kid, capKeyId(key.publicKey));
  t.match(full.nonce, /^[A-Za-z0-9_-]{24}$/);
  t.equal(peekClaims(token)?.nonce, full.nonce);
  const again = await mintCapability(key.privateKey, claims);
  t.not(again.claims.nonce, full.nonce, 'every token gets a fresh nonce');
  t.equal(argsHash({ b: 1, a: 2 }), argsHash({ a: 2, b: 1 }), 'the argument hash is over canonical JSON');
});

t.test('capability token — forged signature, other key, malformed input', async (t) => {
  const { key, other, claims, expect } = await setup();
  const { token } = await mintCapability(key.privateKey, claims);
  const [payload, sig] = token.split('.') as [string, string];
  const flipped = Buffer.from(sig, 'base64url');
  flipped[0] = flipped[0]! ^ 1;
  t.match(await verifyCapability(key.publicKey, `${payload}.${flipped.toString('base64url')}`, expect), { ok: false, code: 'forged' });
  // Signed by another key that claims to be ours (kid copied): the signature fails.
  const byOther = await mintCapability(other.privateKey, claims);
  const lying = tamper(byOther.token, (c) => { c['kid'] = capKeyId(key.publicKey); });
  t.match(await verifyCapability(key.publicKey, lying, expect), { ok: false, code: 'forged' });
  t.match(await verifyCapability(key.publicKey, byOther.token, expect), { ok: false, code: 'unknown_key' });
  for (const bad of [undefined, 42, '', 'x', 'a.b.c', `${payload}.`, `${payload}.${'A'.repeat(10)}`, 'e30.' + sig, '!!.!!', 'x'.repeat(20_000)]) {
    t.match(await verifyCapability(key.publicKey, bad, expect), { ok: false, code: 'malformed' }, `malformed: ${String(bad).slice(0, 20)}`);
  }
});

t.test('capability token — expired, not yet valid, lifetime too long', async (t) => {
  const { key, claims, expect } = await setup();
  const { token } = await mintCapability(key.privateKey, claims);
  t.match(await verifyCapability(key.publicKey, token, { ...expect, now: NOW + 60_000 }), { ok: false, code: 'expired' });
  t.match(await verifyCapability(key.publicKey, token, { ...expect, now: NOW - 60_000 }), { ok: false, code: 'not_yet_valid' });
  const long = await mintCapability(key.privateKey, { ...claims, expiresAt: NOW + 3_600_000 });
  t.match(await verifyCapability(key.publicKey, long.token, expect), { ok: false, code: 'lifetime' });
  const backwards = await mintCapability(key.privateKey, { ...claims, expiresAt: NOW - 1 });
  t.match(await verifyCapability(key.publicKey, backwards.token, expect), { ok: false, code: 'lifetime' });
});

t.test('capability token — tool, arguments, paths and policy digest bind the token', async (t) => {
  const { key, claims, expect } = await setup();
  const { token, claims: full } = await mintCapability(key.privateKey, claims);
  t.match(await verifyCapability(key.publicKey, token, { ...expect, tool: 'fs.write' }), { ok: false, code: 'tool_mismatch' });
  t.match(await verifyCapability(key.publicKey, token, { ...expect, argsHash: argsHash({ path: '/home/secai/workspace/b.txt' }) }), { ok: false, code: 'args_mismatch' });
  t.match(await verifyCapability(key.publicKey, token, { ...expect, policyDigest: 'b'.repeat(64) }), { ok: false, code: 'stale_policy' });
  t.equal(checkPaths(full, [ARGS.path]), null);
  t.match(checkPaths(full, ['/home/secai/keys/operator.ed25519']), { ok: false, code: 'scope' });
  t.match(checkPaths(full, []), { ok: false, code: 'scope' });
});

t.test('capability token — tampered claims never verify', async (t) => {
  const { key, claims, expect } = await setup();
  const { token } = await mintCapability(key.privateKey, claims);
  const edits: [string, (c: Record<string, unknown>) => void, string][] = [
    ['later expiry', (c) => { c['expiresAt'] = NOW + 120_000; }, 'forged'],
    ['other tool', (c) => { c['tool'] = 'fs.write'; }, 'forged'],
    ['approval added', (c) => { c['approvedBy'] = 'op-0123456789abcdef'; }, 'forged'],
    ['other path', (c) => { c['paths'] = ['/etc/shadow']; }, 'forged'],
    ['unknown claim', (c) => { c['admin'] = true; }, 'malformed'],
    ['version', (c) => { c['v'] = 2; }, 'malformed'],
  ];
  for (const [what, edit, code] of edits) t.match(await verifyCapability(key.publicKey, tamper(token, edit), expect), { ok: false, code }, what);
  // The same claims in another key order: not the canonical encoding, refused before the signature.
  const [payload, sig] = token.split('.') as [string, string];
  const c = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  const reordered = Object.fromEntries(Object.keys(c).reverse().map((k) => [k, c[k]]));
  t.match(await verifyCapability(key.publicKey, `${Buffer.from(JSON.stringify(reordered)).toString('base64url')}.${sig}`, expect), { ok: false, code: 'malformed' });
});

t.test('capability token — the spent set makes a token single use until it expires', async (t) => {
  let set: SpentSet = {};
  const first = spendNonce(set, 'n1', NOW + 60_000, NOW);
  t.ok(first.ok);
  set = first.set;
  t.match(spendNonce(set, 'n1', NOW + 60_000, NOW + 10), { ok: false, reason: 'replayed' }, 'a replay is refused');
  t.ok(spendNonce(set, 'n2', NOW + 60_000, NOW + 10).ok, 'another nonce is fine');
  t.same(pruneSpent(set, NOW + 60_000), {}, 'pruned at expiry');
  t.equal(pruneSpent(set, NOW), set, 'nothing to prune: the same object');
  const full: Record<string, number> = {};
  for (let i = 0; i < MAX_SPENT; i++) full[`n${i}`] = NOW + 60_000;
  t.match(spendNonce(full, 'new', NOW + 60_000, NOW), { ok: false, reason: 'full' }, 'a full set refuses (fail closed)');
  t.ok(spendNonce(full, 'new', NOW + 120_000, NOW + 60_000).ok, 'and has room once the old ones expire');
});
