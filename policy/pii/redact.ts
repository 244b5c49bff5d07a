// Redaction for logs and events: every finding's bytes become `[REDACTED:<kind>]`; the secret never leaves.
import { isCredentialName } from './credential-names.js';
import { Scanner, type Finding, type ScanOptions } from './scanner.js';

export function redactBytes(b: Uint8Array, findings: readonly Finding[]): string {
  const parts: Buffer[] = [];
  let at = 0;
  for (const f of findings) {
    if (f.start < at) { at = Math.max(at, f.end); continue; } // overlapping: already covered
    parts.push(Buffer.from(b.subarray(at, f.start)), Buffer.from(`[REDACTED:${f.kind}]`));
    at = f.end;
  }
  parts.push(Buffer.from(b.subarray(at)));
  return Buffer.concat(parts).toString('utf8');
}

/** A string with every PII and credential finding replaced. */
export function redact(text: string, o?: ScanOptions): string {
  const b = Buffer.from(text, 'utf8');
  const f = new Scanner(o).scan(b);
  return f.length ? redactBytes(b, f) : text;
}

/** What stands in for the value of a key that names a credential (`password`, `privateKey`, `api-token`). */
export const NAMED_REDACTION = '[REDACTED:named_credential]';

/** Strings are scanned a little past where they are cut, so a value straddling the cut is still found. */
const MAX_STRING = 4096;
const CUT_MARGIN = 256;

/**
 * Deep copy of a JSON-like value for tool arguments in events and logs: every string redacted by content,
 * every value under a credential key name replaced whatever its content, and keys redacted like strings.
 */
export function redactValue(v: unknown, o?: ScanOptions, depth = 0): unknown {
  if (typeof v === 'string') {
    if (v.length <= MAX_STRING) return redact(v, o);
    return redact(v.slice(0, MAX_STRING + CUT_MARGIN), o).slice(0, MAX_STRING) + '…';
  }
  if (depth > 8 || v === null || typeof v !== 'object') return v;
  if (v instanceof Uint8Array) return `[${v.byteLength} bytes]`;
  if (Array.isArray(v)) return v.slice(0, 64).map((x) => redactValue(x, o, depth + 1));
  return Object.fromEntries(Object.entries(v).slice(0, 64).map(([k, x]) => [
    redact(k.slice(0, 256), o),
    // Content scanning cannot tell `"secret": "hunter2"` from prose; the key name can.
    isCredentialName(k) && x !== null && typeof x !== 'boolean' ? NAMED_REDACTION : redactValue(x, o, depth + 1),
  ]));
}
