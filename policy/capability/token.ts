// Capability tokens: Ed25519-signed, short-lived, single-use permission for one exact tool call (minted by the
// policy actor, verified by the tool firewall). Pure: no I/O, no clock (callers pass `now`), no module state.
import { createHash, randomBytes } from 'node:crypto';
import { canonicalJson } from '../../common/canonical-json.js';
import { getSodium } from '../../common/sodium.js';

export const CAPABILITY_VERSION = 1;
/** Domain separation: a capability signature can never be mistaken for a command envelope's ('secai-cmd-v1\n'). */
const DOMAIN = 'secai-cap-v1\n';
/** The schema caps tools.capability_ttl_seconds at 300: a longer-lived token was not minted by our policy actor. */
export const MAX_CAPABILITY_LIFETIME_MS = 300_000;
/** Clocks of two processes on one host agree closely; this much issue time in the future is tolerated. */
export const CLOCK_SKEW_MS = 5_000;
const MAX_TOKEN_CHARS = 16_384;

export interface CapabilityClaims {
  v: 1;
  /** Key id of the minting key (capKeyId of its public key). */
  kid: string;
  tool: string;
  /** SHA-256 (hex) of the canonical JSON of the exact arguments. */
  argsHash: string;
  /** Real paths the call may touch, in the order of the rule's path arguments. */
  paths?: string[];
  hosts?: string[];
  issuedAt: number;
  expiresAt: number;
  /** 18 random bytes, base64url: the single-use id. */
  nonce: string;
  intentHash: string;
  policyDigest: string;
  planId: string;
  step: number;
  /** Operator key id, when the decision was 'ask' and an operator approved this step. */
  approvedBy?: string;
}

export type CapabilityFailureCode =
  | 'malformed' | 'unknown_key' | 'forged' | 'expired' | 'not_yet_valid' | 'lifetime'
  | 'tool_mismatch' | 'args_mismatch' | 'scope' | 'stale_policy' | 'replayed';

export type CapabilityVerdict = { ok: true; claims: CapabilityClaims } | { ok: false; code: CapabilityFailureCode; reason: string };

export interface VerifyExpectation {
  tool: string;
  /** argsHash() of the arguments the call carries. */
  argsHash: string;
  now: number;
  /** The policy digest in force; omitted where the caller checks it later (checkPolicyDigest). */
  policyDigest?: string;
  maxLifetimeMs?: number;
}

const HEX64 = /^[0-9a-f]{64}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;
const KID = /^cap-[0-9a-f]{16}$/;

/** SHA-256 (hex) of the canonical JSON of a call's arguments: what the token binds. */
export const argsHash = (args: Record<string, unknown>): string => createHash('sha256').update(canonicalJson(args)).digest('hex');

/** SHA-256 (hex) of an intent or plan step as the agent stated it. */
export const intentHashOf = (intent: string): string => createHash('sha256').update(intent).digest('hex');

/** The id a token names its signing key by. */
export const capKeyId = (publicKey: Uint8Array): string => 'cap-' + createHash('sha256').update(publicKey).digest('hex').slice(0, 16);

const b64u = (b: Uint8Array | string): string => Buffer.from(b).toString('base64url');

export type MintClaims = Omit<CapabilityClaims, 'v' | 'kid' | 'nonce'> & { nonce?: string };

/** Signs the claims; a fresh random nonce unless one is given (tests). Returns the token and the claims it carries. */
export async function mintCapability(secretKey: Uint8Array, claims: MintClaims): Promise<{ token: string; claims: CapabilityClaims }> {
  const sodium = await getSodium();
  if (secretKey.length !== 64) throw new TypeError('capability key: not an Ed25519 secret key');
  // A libsodium Ed25519 secret key is seed ‖ public key: the key id needs no second call into the library.
  const full: CapabilityClaims = {
    ...claims, v: CAPABILITY_VERSION, kid: capKeyId(secretKey.subarray(32)), nonce: claims.nonce ?? randomBytes(18).toString('base64url'),
  };
  const json = canonicalJson(full);
  const sig = sodium.crypto_sign_detached(Buffer.from(DOMAIN + json), secretKey);
  return { token: `${b64u(json)}.${b64u(sig)}`, claims: full };
}

const fail = (code: CapabilityFailureCode, reason: string): CapabilityVerdict => ({ ok: false, code, reason });

const isStr = (v: unknown, max: number, re?: RegExp): v is string => typeof v === 'string' && v.length > 0 && v.length <= max && (!re || re.test(v));
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const strList = (v: unknown, max: number): boolean => Array.isArray(v) && v.length <= 64 && v.every((x) => isStr(x, max));

const KEYS = new Set(['v', 'kid', 'tool', 'argsHash', 'paths', 'hosts', 'issuedAt', 'expiresAt', 'nonce', 'intentHash', 'policyDigest', 'planId', 'step', 'approvedBy']);

/** The claims if `v` has exactly their shape (no unknown keys: a field the verifier ignores must not be signed either). */
function claimsOf(v: unknown): CapabilityClaims | string {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return 'claims are not an object';
  const c = v as Record<string, unknown>;
  for (const k of Object.keys(c)) if (!KEYS.has(k)) return `unknown claim '${k.slice(0, 32)}'`;
  if (c['v'] !== CAPABILITY_VERSION) return 'unsupported version';
  if (!isStr(c['kid'], 32, KID)) return 'bad kid';
  if (!isStr(c['tool'], 64)) return 'bad tool';
  if (!isStr(c['argsHash'], 64, HEX64) || !isStr(c['intentHash'], 64, HEX64) || !isStr(c['policyDigest'], 64, HEX64)) return 'bad hash';
  if (c['paths'] !== undefined && !strList(c['paths'], 4096)) return 'bad paths';
  if (c['hosts'] !== undefined && !strList(c['hosts'], 255)) return 'bad hosts';
  if (!isTime(c['issuedAt']) || !isTime(c['expiresAt'])) return 'bad times';
  if (!isStr(c['nonce'], 64, B64URL) || (c['nonce'] as string).length < 16) return 'bad nonce';
  if (!isStr(c['planId'], 128)) return 'bad planId';
  if (!Number.isSafeInteger(c['step']) || (c['step'] as number) < 0) return 'bad step';
  if (c['approvedBy'] !== undefined && !isStr(c['approvedBy'], 64)) return 'bad approvedBy';
  return c as unknown as CapabilityClaims;
}

/** The claims a token carries, unverified (for evidence: the nonce of a refused token). Null when unreadable. */
export function peekClaims(token: unknown): CapabilityClaims | null {
  const parsed = parse(token);
  return typeof parsed === 'string' ? null : parsed.claims;
}

function parse(token: unknown): { claims: CapabilityClaims; sig: Buffer; text: string } | string {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_CHARS) return 'not a token string';
  const parts = token.split('.');
  if (parts.length !== 2 || !B64URL.test(parts[0]!) || !B64URL.test(parts[1]!)) return 'not <claims>.<signature> in base64url';
  const text = Buffer.from(parts[0]!, 'base64url').toString('utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return 'claims are not JSON';
  }
  const claims = claimsOf(raw);
  if (typeof claims === 'string') return claims;
  // Only one encoding of given claims is accepted, so a token's text identifies it.
  if (canonicalJson(claims) !== text) return 'claims are not canonical JSON';
  const sig = Buffer.from(parts[1]!, 'base64url');
  if (sig.length !== 64) return 'signature is not 64 bytes';
  return { claims, sig, text };
}

/**
 * Verifies a token against the key that mints them and the call it is presented with. Never throws. Order:
 * shape, key, signature (nothing unsigned is believed), then time, then scope (tool, arguments, policy).
 */
export async function verifyCapability(publicKey: Uint8Array, token: unknown, expect: VerifyExpectation): Promise<CapabilityVerdict> {
  const sodium = await getSodium();
  const parsed = parse(token);
  if (typeof parsed === 'string') return fail('malformed', parsed);
  const { claims, sig, text } = parsed;
  if (claims.kid !== capKeyId(publicKey)) return fail('unknown_key', `signed by ${claims.kid}, not by the policy's capability key`);
  let good = false;
  try {
    good = sodium.crypto_sign_verify_detached(sig, Buffer.from(DOMAIN + text), publicKey);
  } catch {
    good = false;
  }
  if (!good) return fail('forged', 'signature does not verify');
  return checkClaims(claims, expect);
}

/** The time and scope checks of a token whose signature holds. */
function checkClaims(claims: CapabilityClaims, expect: VerifyExpectation): CapabilityVerdict {
  const maxLife = expect.maxLifetimeMs ?? MAX_CAPABILITY_LIFETIME_MS;
  if (claims.expiresAt <= claims.issuedAt || claims.expiresAt - claims.issuedAt > maxLife) return fail('lifetime', `lifetime ${claims.expiresAt - claims.issuedAt} ms is outside (0, ${maxLife}]`);
  if (claims.issuedAt > expect.now + CLOCK_SKEW_MS) return fail('not_yet_valid', 'issued in the future');
  if (expect.now >= claims.expiresAt) return fail('expired', `expired ${expect.now - claims.expiresAt} ms ago`);
  if (claims.tool !== expect.tool) return fail('tool_mismatch', `token is for ${claims.tool}, not ${expect.tool.slice(0, 64)}`);
  if (claims.argsHash !== expect.argsHash) return fail('args_mismatch', 'arguments differ from those the token was minted for');
  if (expect.policyDigest !== undefined) {
    const stale = checkPolicyDigest(claims, expect.policyDigest);
    if (stale) return stale;
  }
  return { ok: true, claims };
}

/** Null when the token was minted under the policy in force, else the stale_policy failure. */
export function checkPolicyDigest(claims: CapabilityClaims, inForce: string): (CapabilityVerdict & { ok: false }) | null {
  return claims.policyDigest === inForce ? null : { ok: false, code: 'stale_policy', reason: `minted under policy ${claims.policyDigest.slice(0, 12)}, ${inForce.slice(0, 12)} is in force` };
}

/** Null when the real paths the call touches are those the token names (same set, same order), else scope. */
export function checkPaths(claims: CapabilityClaims, realPaths: readonly string[]): (CapabilityVerdict & { ok: false }) | null {
  const want = claims.paths ?? [];
  const same = want.length === realPaths.length && want.every((p, i) => p === realPaths[i]);
  return same ? null : { ok: false, code: 'scope', reason: `the call touches ${realPaths.join(', ') || 'no path'}, the token allows ${want.join(', ') || 'no path'}` };
}
