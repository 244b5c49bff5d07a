// One measurement: what runs, the policy and registry in force, bound by the attestor's HMAC and (tpm mode) a fresh quote.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Attestation, AttestMode, MeasureInput, StateBundle } from '../../machines/attestor/attestor.machine.js';
import { canonicalJson } from '../../common/canonical-json.js';
import type { Sodium } from '../../common/sodium.js';
import type { AttestationSection } from '../../policy/sections.js';
import { codeFiles, digestAll, nativeFiles } from './code-digests.js';
import { sha256File } from '../../common/hash-file.js';
import { AttestError, checkQuote, extendPcr, quote, setupTpm, ZERO_PCR, type Tpm } from './tpm.js';
import { extendValue } from './pcr-math.js';

export interface MeasureDeps {
  sodium: Sodium;
  key: Uint8Array;
  codeRoot: string;
  nodeModules: string;
  natsServer: string;
  registryManifest: string;
  /** run/attestation.json: the last attestation, for `show` and for other eyes; its HMAC is checked at each measurement. */
  file: string;
  tcti: string | undefined;
  tpmDir: string;
  /** The policy in force: the attestation section and the digest of the whole policy. */
  policy: () => Promise<{ section: AttestationSection; policyDigest: string }>;
}

/** The stored form: what `attest show` and an auditor read. */
export interface StoredAttestation { bundle: StateBundle; hmac: string; quote: Attestation['quote'] }

export const bundleBytes = (b: StateBundle): string => canonicalJson(b);

export function hmacOf(d: Pick<MeasureDeps, 'sodium' | 'key'>, b: StateBundle): string {
  return d.sodium.to_hex(d.sodium.crypto_auth(d.sodium.from_string(bundleBytes(b)), d.key));
}

export function hmacValid(d: Pick<MeasureDeps, 'sodium' | 'key'>, stored: { bundle: StateBundle; hmac: string }): boolean {
  try {
    return d.sodium.crypto_auth_verify(d.sodium.from_hex(stored.hmac), d.sodium.from_string(bundleBytes(stored.bundle)), d.key);
  } catch {
    return false;
  }
}

export function readStored(file: string): StoredAttestation | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StoredAttestation;
  } catch {
    return undefined;
  }
}

/** auto: the TPM SECAI_TPM_TCTI names, else declared software-only; tpm without a TPM is a failure, not a downgrade. */
export function modeOf(section: AttestationSection, tcti: string | undefined): AttestMode {
  if (section.mode === 'software') return 'software-only';
  if (tcti) return 'tpm';
  if (section.mode === 'tpm') throw new AttestError('tpm_required', 'policy attestation.mode is tpm, but no TPM is configured (SECAI_TPM_TCTI)');
  return 'software-only';
}

/** The stored attestation must be the one this attestor wrote last, under its key: anything else is tampering. */
function checkStored(d: MeasureDeps, previous: Attestation): void {
  const stored = readStored(d.file);
  const found = stored?.hmac ?? 'absent';
  if (!stored || found !== previous.hmac || !hmacValid(d, stored) || bundleBytes(stored.bundle) !== bundleBytes(previous.bundle)) {
    throw new AttestError('hmac_mismatch', `${d.file} is not the attestation this attestor wrote (changed, replaced or removed behind its back)`, [
      { name: 'attestation.json hmac', expected: previous.hmac, found: stored && !hmacValid(d, stored) ? `${found} (does not verify)` : found },
    ]);
  }
}

export async function measure(d: MeasureDeps, input: MeasureInput): Promise<Attestation> {
  if (input.previous) checkStored(d, input.previous);
  // The code is hashed while the policy actor is asked (at start it is still coming up): the two do not depend on each other.
  const [{ section, policyDigest }, code] = await Promise.all([
    d.policy(),
    digestAll(new Map([...codeFiles(d.codeRoot), ...nativeFiles({ nodeModules: d.nodeModules, natsServer: d.natsServer })])),
  ]);
  const mode = modeOf(section, d.tcti);
  const registryManifest = existsSync(d.registryManifest) ? await sha256File(d.registryManifest) : 'absent';
  const stateDigest = createHash('sha256').update(canonicalJson({ mode, code, policyDigest, registryManifest })).digest('hex');
  const bundle: StateBundle = { version: 1, mode, measuredAt: Date.now(), code, policyDigest, registryManifest, stateDigest };
  const q = mode === 'tpm' ? await quoteState(d, section.pcr, stateDigest, input.previous) : null;
  return { bundle, hmac: hmacOf(d, bundle), quote: q };
}

/**
 * Extends the PCR with the state digest when it changed (the first time after a reset), quotes it with a fresh nonce,
 * checks the quote, and compares the quoted value with what this attestor's own extends predict: anyone else's extend,
 * a TPM restarted (PCRs back to zero) or a different TPM shows as a mismatch.
 */
async function quoteState(d: MeasureDeps, pcr: number, stateDigest: string, previous: Attestation | null): Promise<NonNullable<Attestation['quote']>> {
  const tpm: Tpm = { tcti: d.tcti!, dir: resolve(d.tpmDir) };
  const prevQuote = previous?.quote;
  let akName = prevQuote?.akName;
  let expected = prevQuote?.expectedPcr ?? ZERO_PCR;
  if (!prevQuote || prevQuote.pcr !== pcr) {
    akName = (await setupTpm(tpm, pcr)).akName;
    expected = ZERO_PCR;
  }
  if (!prevQuote || prevQuote.pcr !== pcr || previous?.bundle.stateDigest !== stateDigest) {
    await extendPcr(tpm, pcr, stateDigest);
    expected = extendValue(expected, stateDigest);
  }
  // tpm2_quote reads the PCR values it writes beside the quote separately: an extend landing between the two makes an
  // honest quote fail its check. Such a race does not repeat, so one fresh quote (a new nonce) is taken; a forged or
  // replayed quote fails every time and stays quote_invalid.
  let nonce = '';
  let pcrValue = '';
  for (let attempt = 1; ; attempt++) {
    nonce = randomBytes(32).toString('hex');
    const files = await quote(tpm, pcr, nonce);
    try {
      pcrValue = await checkQuote(tpm, files, nonce, pcr);
      break;
    } catch (err) {
      if (attempt >= 2 || !(err instanceof AttestError) || err.code !== 'quote_invalid') throw err;
    }
  }
  if (pcrValue !== expected) {
    throw new AttestError('pcr_mismatch', `PCR ${pcr} holds a value the attestor's own extends do not explain (extended by someone else, or the TPM was reset)`, [
      { name: `pcr${pcr}`, expected, found: pcrValue },
    ]);
  }
  return { pcr, pcrValue, expectedPcr: expected, nonce, verified: true, akName: akName ?? 'unknown' };
}

export const attestationFile = (run: string) => join(run, 'attestation.json');
