// The TPM side of attestation, through Debian's tpm2-tools: reset and extend a PCR, make an attestation key, quote, check the quote.
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** A TPM step that failed: the kind says which (the machine's failure code), the message what tpm2-tools said. */
export class AttestError extends Error {
  constructor(readonly code: string, message: string, readonly changes: { name: string; expected: string; found: string }[] = []) {
    super(message);
  }
}

/** Each tpm2-tools run gets this long: a TPM that does not answer is a TPM that is gone. */
const TOOL_MS = 15_000;

export interface Tpm {
  tcti: string;
  /** Holds the EK and AK contexts, the AK public key (PEM) and the last quote's files. */
  dir: string;
}

function tool(tpm: Tpm, cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: tpm.dir, timeout: TOOL_MS, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TPM2TOOLS_TCTI: tpm.tcti } }, (err, stdout, stderr) => {
      if (err) reject(new AttestError('tpm_unavailable', `${cmd} failed: ${(stderr || err.message).trim().split('\n').slice(-2).join(' ').slice(0, 400)}`));
      else resolve(stdout);
    });
  });
}

/** Without a resource manager (a swtpm socket) transient objects stay loaded until flushed: the TPM has room for three. */
const flush = async (tpm: Tpm) => {
  await tool(tpm, 'tpm2_flushcontext', ['-t']);
  await tool(tpm, 'tpm2_flushcontext', ['-s']);
};

export const ZERO_PCR = '0'.repeat(64);

/**
 * At the first measurement: resets the PCR (16 and 23 are resettable from locality 0), makes an ECC endorsement key and,
 * under it, a signing attestation key whose public half is kept as PEM for checking quotes.
 */
export async function setupTpm(tpm: Tpm, pcr: number): Promise<{ akName: string }> {
  mkdirSync(tpm.dir, { recursive: true, mode: 0o700 });
  await flush(tpm);
  await tool(tpm, 'tpm2_pcrreset', [String(pcr)]);
  await tool(tpm, 'tpm2_createek', ['-c', 'ek.ctx', '-G', 'ecc', '-u', 'ek.pub']);
  const out = await tool(tpm, 'tpm2_createak', ['-C', 'ek.ctx', '-c', 'ak.ctx', '-G', 'ecc', '-g', 'sha256', '-s', 'ecdsa', '-u', 'ak.pem', '-f', 'pem', '-n', 'ak.name']);
  await flush(tpm);
  return { akName: /^\s*name:\s*([0-9a-f]+)/m.exec(out)?.[1] ?? 'unknown' };
}

export const extendPcr = (tpm: Tpm, pcr: number, digestHex: string) => tool(tpm, 'tpm2_pcrextend', [`${pcr}:sha256=${digestHex}`]);

export interface QuoteFiles { msg: string; sig: string; pcrs: string }

/** Quotes the PCR with `nonceHex` as qualifying data; the files land in the TPM folder. */
export async function quote(tpm: Tpm, pcr: number, nonceHex: string): Promise<QuoteFiles> {
  await tool(tpm, 'tpm2_quote', ['-c', 'ak.ctx', '-l', `sha256:${pcr}`, '-q', nonceHex, '-m', 'quote.msg', '-s', 'quote.sig', '-o', 'quote.pcrs', '-g', 'sha256']);
  await flush(tpm);
  return { msg: join(tpm.dir, 'quote.msg'), sig: join(tpm.dir, 'quote.sig'), pcrs: join(tpm.dir, 'quote.pcrs') };
}

/**
 * Checks a quote with the AK's public key and the nonce this measurement chose (tpm2_checkquote checks the signature,
 * that the quoted nonce is ours, and that the PCR values match the quoted digest). Resolves with the PCR's value;
 * a quote made for another nonce (a replay) or changed in any byte rejects with `quote_invalid`.
 */
export async function checkQuote(tpm: Tpm, files: QuoteFiles, nonceHex: string, pcr: number): Promise<string> {
  let out: string;
  try {
    out = await tool(tpm, 'tpm2_checkquote', ['-u', join(tpm.dir, 'ak.pem'), '-m', files.msg, '-s', files.sig, '-f', files.pcrs, '-g', 'sha256', '-q', nonceHex]);
  } catch (err) {
    throw new AttestError('quote_invalid', `the quote does not verify against this measurement's nonce and the attestation key: ${(err as Error).message}`);
  }
  const m = new RegExp(`^\\s*${pcr}\\s*:\\s*0x([0-9A-Fa-f]{64})\\s*$`, 'm').exec(out);
  if (!m) throw new AttestError('quote_invalid', `the verified quote names no sha256 value for PCR ${pcr}`);
  return m[1]!.toLowerCase();
}
