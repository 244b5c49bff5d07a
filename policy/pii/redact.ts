// Redaction for logs and events: every finding's bytes become `[REDACTED:<kind>]`; the secret never leaves.
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

/** Deep copy of a JSON-like value with every string redacted (for tool arguments in events and logs). */
export function redactValue(v: unknown, o?: ScanOptions, depth = 0): unknown {
  if (typeof v === 'string') return redact(v.length > 4096 ? v.slice(0, 4096) + '…' : v, o);
  if (depth > 8 || v === null || typeof v !== 'object') return v;
  if (v instanceof Uint8Array) return `[${v.byteLength} bytes]`;
  if (Array.isArray(v)) return v.slice(0, 64).map((x) => redactValue(x, o, depth + 1));
  return Object.fromEntries(Object.entries(v).slice(0, 64).map(([k, x]) => [k, redactValue(x, o, depth + 1)]));
}
