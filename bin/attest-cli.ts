// securectl attest verbs: the runtime attestation as the attestor holds it (signed commands).
import { commandOp } from '../bus/op-ref.js';
import { attestorManifest } from '../actors/attestor/manifest.js';
import { Exit, printJson, type CliSession } from './cli-common.js';

type AttestVerb = (s: CliSession, args: string[], o: { json: boolean }) => Promise<number>;

export const attestVerbs: Record<string, AttestVerb> = {
  'attest status': async (s, _a, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(attestorManifest, 'status'), {});
    if (o.json) printJson(r);
    else {
      process.stdout.write(`attestation: ${r.state}, mode ${r.mode ?? 'not yet known'}${r.stateDigest ? `, state ${r.stateDigest.slice(0, 16)}…` : ''}, ${r.measurements} measurements\n`);
      if (r.quote) process.stdout.write(`  TPM quote over PCR ${r.quote.pcr}: ${r.quote.verified ? 'verified' : 'NOT verified'}, value ${r.quote.pcrValue.slice(0, 16)}…\n`);
      if (r.failure) {
        process.stdout.write(`  FAILED (${r.failure.code}): ${r.failure.reason}\n`);
        for (const c of r.failure.changes) process.stdout.write(`    ${c.name}: expected ${c.expected.slice(0, 16)}…, found ${c.found.slice(0, 16)}…\n`);
      }
    }
    return r.state === 'attested' ? Exit.OK : Exit.FOUND;
  },
  'attest show': async (s, _a, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(attestorManifest, 'show'), {});
    if (o.json) printJson(r);
    else {
      process.stdout.write(`attestation: ${r.state}; ${r.file}: HMAC ${r.hmacValid ? 'valid' : 'INVALID'}\n`);
      if (r.bundle) {
        process.stdout.write(`  mode ${r.bundle.mode}, measured ${new Date(r.bundle.measuredAt).toISOString()}, state ${r.bundle.stateDigest}\n`);
        process.stdout.write(`  policy ${r.bundle.policyDigest}, registry manifest ${r.bundle.registryManifest}, ${Object.keys(r.bundle.code).length} code and native files\n`);
      }
      if (r.quote) process.stdout.write(`  quote: PCR ${r.quote.pcr} = ${r.quote.pcrValue} (expected ${r.quote.expectedPcr}), nonce ${r.quote.nonce.slice(0, 16)}…, AK ${r.quote.akName.slice(0, 16)}…\n`);
    }
    return r.hmacValid && r.state === 'attested' ? Exit.OK : Exit.FOUND;
  },
};

export const ATTEST_USAGE = `  attest status              the runtime attestation: measuring, attested or failed; tpm or software-only (exit 1 unless attested)
  attest show                the attested state bundle, whether its HMAC checks, the TPM quote summary`;
