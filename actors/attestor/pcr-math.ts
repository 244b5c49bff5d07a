// PCR arithmetic, to predict what the TPM must report: TPM 2.0 Part 1 §17.5, PCR_new := H(PCR_old || digest).
import { createHash } from 'node:crypto';

export function extendValue(prevHex: string, digestHex: string): string {
  return createHash('sha256').update(Buffer.from(prevHex, 'hex')).update(Buffer.from(digestHex, 'hex')).digest('hex');
}
