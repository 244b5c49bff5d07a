// The attestor's life: measuring → attested | failed, re-measuring on an interval and on a policy or registry change; the baseline it attests against lives here.
import { assign, fromPromise, setup } from 'xstate';
import { notProvided } from '../not-provided.js';
import { asFailure, failedAt } from '../request.js';

/** software-only is declared, never implied: every attestation and the status say which mode produced it. */
export type AttestMode = 'tpm' | 'software-only';

/** What a quote proved, as the attestor checked it with tpm2_checkquote. */
export interface QuoteSummary {
  pcr: number;
  /** The PCR value the verified quote reports, and the one the attestor's own extends predict. */
  pcrValue: string;
  expectedPcr: string;
  /** Fresh for this quote: a replayed quote does not verify against it. */
  nonce: string;
  verified: boolean;
  akName: string;
}

/** The measured state: digests of what runs (code), and of the policy and registry in force (state). */
export interface StateBundle {
  version: 1;
  mode: AttestMode;
  measuredAt: number;
  /** `code:<path>` and `native:<path>` → SHA-256: what the appliance runs; fixed for the life of this start. */
  code: Record<string, string>;
  /** The digest of the whole policy in force, as the policy actor reports it. */
  policyDigest: string;
  /** SHA-256 of the registry's signed manifest file, or `absent`. */
  registryManifest: string;
  /** SHA-256 over the canonical JSON of mode, code, policyDigest and registryManifest: what the PCR is extended with. */
  stateDigest: string;
}

/** One measurement as the effect returns it: the bundle, its HMAC (hex) and, in tpm mode, the verified quote. */
export interface Attestation { bundle: StateBundle; hmac: string; quote: QuoteSummary | null }

/** A measurement that differs from the attested one: evidence for the detection. */
export interface Change { name: string; expected: string; found: string }

export interface AttestationFailure { reason: string; code: string; changes: Change[]; at: number }

export interface AttestorContext {
  intervalMs: number;
  /** The attestation in force (the last one that passed). */
  attested: Attestation | null;
  /** The code and mode attested at the first measurement of this start: a later difference is a failure. */
  baseline: { mode: AttestMode; code: Record<string, string> } | null;
  failure: AttestationFailure | null;
  measurements: number;
  /** Why the next (or running) measurement happens; a request while measuring is kept here and served after. */
  reason: string;
  again: boolean;
}

export type AttestorEvent =
  | { type: 'attestor.remeasure'; reason: string }
  | { type: 'attestor.config'; intervalMs: number };

export interface MeasureInput { reason: string; previous: Attestation | null }

/** At most this many changed measurements are listed as evidence (the count says how many there were). */
export const MAX_CHANGES = 32;

/** The code (and mode) measurements that differ between the baseline and a new bundle. Pure. */
export function changesOf(baseline: AttestorContext['baseline'], bundle: StateBundle): Change[] {
  if (!baseline) return [];
  const out: Change[] = [];
  if (baseline.mode !== bundle.mode) out.push({ name: 'mode', expected: baseline.mode, found: bundle.mode });
  const names = new Set([...Object.keys(baseline.code), ...Object.keys(bundle.code)]);
  for (const name of [...names].sort()) {
    const expected = baseline.code[name] ?? 'absent';
    const found = bundle.code[name] ?? 'absent';
    if (expected !== found) out.push({ name, expected, found });
  }
  return out;
}

const measured = (e: unknown) => (e as { output: Attestation }).output;

export const attestorMachine = setup({
  types: {} as { context: AttestorContext; input: { intervalMs: number }; events: AttestorEvent },
  actors: {
    /** Measures, HMACs, (tpm) extends and quotes; rejects with a coded error stamped with `at` when the TPM or the stored attestation fails. */
    measure: fromPromise<Attestation, MeasureInput>(notProvided('measure')),
  },
  actions: {
    recordChanged: assign({
      measurements: ({ context }) => context.measurements + 1,
      failure: ({ context, event }) => ({
        reason: 'the measured code differs from the attested state', code: 'code_changed',
        changes: changesOf(context.baseline, measured(event).bundle).slice(0, MAX_CHANGES), at: measured(event).bundle.measuredAt,
      }),
    }),
    recordAttested: assign({
      measurements: ({ context }) => context.measurements + 1,
      attested: ({ event }) => measured(event),
      baseline: ({ context, event }) => context.baseline ?? { mode: measured(event).bundle.mode, code: measured(event).bundle.code },
    }),
    recordError: assign({
      measurements: ({ context }) => context.measurements + 1,
      failure: ({ event }) => {
        const error = (event as unknown as { error: unknown }).error;
        const f = asFailure(error);
        const evidence = (error as { changes?: Change[] } | null)?.changes;
        return { reason: f.message, code: f.code, changes: Array.isArray(evidence) ? evidence.slice(0, MAX_CHANGES) : [], at: failedAt(error) };
      },
    }),
    /** Persists the attestation; publishes `attested` when the state digest is new (not at every unchanged tick). */
    reportAttested: notProvided('reportAttested'),
    reportFailed: notProvided('reportFailed'),
  },
  guards: {
    codeChanged: ({ context, event }) => changesOf(context.baseline, measured(event).bundle).length > 0,
    again: ({ context }) => context.again,
  },
  delays: {
    interval: ({ context }) => context.intervalMs,
  },
}).createMachine({
  id: 'attestor',
  context: ({ input }) => ({ intervalMs: input.intervalMs, attested: null, baseline: null, failure: null, measurements: 0, reason: 'start', again: false }),
  initial: 'measuring',
  on: {
    'attestor.config': { actions: assign({ intervalMs: ({ event }) => event.intervalMs }) },
  },
  states: {
    // The first measurement of this start: nothing is attested yet, so gates refuse.
    measuring: {
      on: { 'attestor.remeasure': { actions: assign({ again: true }) } },
      invoke: { id: 'measure', src: 'measure', input: ({ context }) => ({ reason: context.reason, previous: context.attested }),
        onDone: [{ guard: 'codeChanged', target: '#attestor.failed', actions: 'recordChanged' }, { target: '#attestor.attested', actions: ['recordAttested', 'reportAttested'] }],
        onError: { target: '#attestor.failed', actions: 'recordError' },
      },
    },
    // A re-measurement runs inside `attested`: the state stays attested (gates pass) until a measurement says otherwise.
    attested: {
      initial: 'waiting',
      states: {
        waiting: {
          always: { guard: 'again', target: 'remeasuring', actions: assign({ again: false }) },
          after: { interval: { target: 'remeasuring', actions: assign({ reason: 'interval' }) } },
          on: { 'attestor.remeasure': { target: 'remeasuring', actions: assign({ reason: ({ event }) => event.reason }) } },
        },
        remeasuring: {
          on: { 'attestor.remeasure': { actions: assign({ again: true }) } },
          invoke: { id: 'remeasure', src: 'measure', input: ({ context }) => ({ reason: context.reason, previous: context.attested }),
            onDone: [{ guard: 'codeChanged', target: '#attestor.failed', actions: 'recordChanged' }, { target: 'waiting', actions: ['recordAttested', 'reportAttested'] }],
            onError: { target: '#attestor.failed', actions: 'recordError' },
          },
        },
      },
    },
    // Sticky: a failed attestation gates unlock and load until an operator has looked and restarted (docs/recovery.md).
    failed: {
      entry: 'reportFailed',
    },
  },
});
