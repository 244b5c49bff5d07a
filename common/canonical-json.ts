// Canonical JSON (sorted keys, no undefined, finite numbers only): the bytes that signatures and hashes cover.

export function canonicalJson(value: unknown): string {
  return JSON.stringify(normalise(value));
}

function normalise(v: unknown): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError('canonical JSON: non-finite number');
    return v;
  }
  if (Array.isArray(v)) return v.map(normalise);
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('base64') };
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = normalise(x);
    }
    return out;
  }
  throw new TypeError(`canonical JSON: unsupported ${typeof v}`);
}
