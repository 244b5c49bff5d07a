// A Merkle root over the per-tensor SHA-256 manifest: leaves bind name and digest, an odd node is promoted (never duplicated).
import { createHash } from 'node:crypto';

const sha = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

export function merkleLeaf(name: string, sha256Hex: string): Buffer {
  const n = Buffer.from(name, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(n.length);
  return sha(Buffer.from([0]), len, n, Buffer.from(sha256Hex, 'hex'));
}

/** Root (hex) of the leaves in manifest (file) order; the empty manifest's root is SHA-256 of nothing. */
export function merkleRoot(entries: readonly { name: string; sha256: string }[]): string {
  let level = entries.map((e) => merkleLeaf(e.name, e.sha256));
  if (level.length === 0) return sha().toString('hex');
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? sha(Buffer.from([1]), level[i]!, level[i + 1]!) : level[i]!);
    level = next;
  }
  return level[0]!.toString('hex');
}
