// The runtime attestor's bus contract: the attested state (status, show), the facts it publishes, and its detection.
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';
import { detection } from '../../contracts/detection.js';

const digest = s.string({ maxLength: 128 });
const mode = s.string({ enum: ['tpm', 'software-only'] });
const change = s.object({ name: s.string({ maxLength: 4096 }), expected: digest, found: digest });
const quote = s.object({
  pcr: s.integer({ minimum: 0, maximum: 23 }), pcrValue: digest, expectedPcr: digest, nonce: digest, verified: s.boolean(), akName: s.string({ maxLength: 256 }),
});
const failure = s.object({ reason: s.string({ maxLength: 2048 }), code: s.string({ maxLength: 64 }), changes: s.array(change, 32), at: s.number() });

/** What a gate (vault unlock, model load) reads: only `attested` lets it through. */
export const attestStatus = s.object({
  state: s.string({ enum: ['measuring', 'attested', 'failed'] }),
  mode: s.nullable(mode),
  stateDigest: s.nullable(digest),
  attestedAt: s.nullable(s.number()),
  measurements: s.integer({ minimum: 0 }),
  failure: s.nullable(failure),
  quote: s.nullable(quote),
});

const bundle = s.object({
  version: s.integer({ minimum: 1, maximum: 1 }), mode, measuredAt: s.number(), code: s.map(digest, 4096),
  policyDigest: digest, registryManifest: digest, stateDigest: digest,
});
const showReply = s.object({
  state: s.string({ enum: ['measuring', 'attested', 'failed'] }),
  bundle: s.nullable(bundle), hmac: s.nullable(digest),
  /** The HMAC recomputed now over the bundle, with the attestor's key: does the stored attestation still check? */
  hmacValid: s.boolean(), quote: s.nullable(quote), failure: s.nullable(failure), file: s.string({ maxLength: 4096 }),
});

export const attestorManifest = defineManifest({
  name: 'attestor',
  kind: 'actor',
  description: 'Runtime attestation: digests of the code and native binaries that run, the policy and registry in force, HMAC-bound (and TPM-quoted when a TPM is configured); gates vault unlock and model load.',
  entry: 'actors/attestor/main.js',
  serves: {
    status: { request: s.empty(), reply: attestStatus, description: 'measuring, attested or failed; the mode (tpm or software-only) and the attested state digest.' },
    show: { request: s.empty(), reply: showReply, description: 'The attested state bundle, its HMAC and whether it checks, the quote summary.', maxBytes: 4096 },
  },
  commands: {
    status: { request: s.empty(), reply: attestStatus, description: 'The attestation state (securectl attest status).', roles: ['admin', 'auditor'] },
    show: { request: s.empty(), reply: showReply, description: 'The attested bundle and its checks (securectl attest show).', roles: ['admin', 'auditor'] },
  },
  publishes: {
    attested: s.object({ stateDigest: digest, mode, reason: s.string({ maxLength: 128 }), at: s.number() }),
    failed: s.object({ code: s.string({ maxLength: 64 }), reason: s.string({ maxLength: 2048 }), mode: s.nullable(mode), at: s.number() }),
    detection,
  },
  requests: ['policy.section'],
  subscribes: ['policy.reloaded', 'registry.promoted', 'registry.removed'],
});
