// The one-time first-run setup code: made by `secai up` while no vault exists, kept 0600 in SECAI_HOME/run, checked by auth.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './fs-atomic.js';

/** RFC 4648 base32 without padding: no 0/1/8/9, so a code read off a terminal is not mistyped as O/I/B/g. */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** 10 characters × 5 bits = 50 bits: with the login throttle, out of reach of guessing in the setup window. */
const LENGTH = 10;

export const setupCodeFile = (run: string) => join(run, 'setup-code');

/** Shown as XXXXX-XXXXX; compared without the dash, spaces or case. */
function normalize(code: string): string {
  return code.replace(/[\s-]/g, '').toUpperCase();
}

function generate(): string {
  // 256 is a multiple of 32: a byte modulo 32 is uniform.
  const chars = [...randomBytes(LENGTH)].map((b) => ALPHABET[b % 32]!).join('');
  return `${chars.slice(0, 5)}-${chars.slice(5)}`;
}

/**
 * Called by `secai up` before any actor starts. Whoever can read SECAI_HOME is the operator already
 * (the operator key lives there), so a 0600 file beside the pid files proves nothing more than the
 * terminal does, and lets a headless appliance be set up. A vault that exists needs no code: none is kept.
 */
export function issueSetupCode(run: string, vaultExists: boolean): string | undefined {
  const f = setupCodeFile(run);
  if (vaultExists) {
    rmSync(f, { force: true });
    return undefined;
  }
  const code = generate();
  writeFileAtomic(f, code + '\n', 0o600);
  return code;
}

export type SetupCodeVerdict = 'ok' | 'missing' | 'none_pending' | 'wrong';

/** Compares `given` with the pending code in constant time; only 'wrong' is a guess worth throttling. */
export function judgeSetupCode(run: string, given: string | undefined): SetupCodeVerdict {
  if (!given) return 'missing';
  const f = setupCodeFile(run);
  if (!existsSync(f)) return 'none_pending';
  const want = Buffer.from(normalize(readFileSync(f, 'utf8')), 'utf8');
  const got = Buffer.from(normalize(given), 'utf8');
  return got.length === want.length && timingSafeEqual(got, want) ? 'ok' : 'wrong';
}

export const SETUP_CODE_REFUSAL: Record<Exclude<SetupCodeVerdict, 'ok'>, string> = {
  missing: 'first-run setup needs the setup code that `secai up` printed (also in SECAI_HOME/run/setup-code)',
  none_pending: 'no setup code is pending: restart `secai up` for a new one, or run `securectl vault setup`',
  wrong: 'wrong setup code',
};

/** The code dies with the first successful setup, by whichever path (web form or signed command). */
export function consumeSetupCode(run: string): void {
  rmSync(setupCodeFile(run), { force: true });
}
