// Attestor process: wiring. The attested state, its baseline and the failure live in machines/attestor; measure.ts measures.
import { join, resolve } from 'node:path';
import { fromPromise, waitFor } from 'xstate';
import { attestorMachine, type AttestorContext } from '../../machines/attestor/attestor.machine.js';
import type { Detection } from '../../contracts/detection.js';
import { serveOp } from '../../bus/op-ref.js';
import { onEvent } from '../../bus/events.js';
import { s } from '../../bus/schema.js';
import { secaiEnv } from '../../common/env.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { projectRoot } from '../../common/paths.js';
import { getSodium } from '../../common/sodium.js';
import { validateValue } from '../../policy/load.js';
import { reloadedEvent } from '../../policy/sections-contract.js';
import type { AttestationSection } from '../../policy/sections.js';
import { configSection } from '../../runtime/config-section.js';
import { policyManifest } from '../../runtime/catalog.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { stampFailure } from '../../runtime/stamp-failure.js';
import { loadAttestorKey } from './attestor-key.js';
import { attestorManifest } from './manifest.js';
import { attestationFile, hmacValid, measure, readStored, type MeasureDeps } from './measure.js';

type Ctx = ActorContext<typeof attestorMachine>;
const DEFAULT_INTERVAL_MS = 60_000;
const POLICY_WAIT_MS = 30_000;
/** The code this process runs from: dist/ when built, the checkout when run from sources. */
const codeRoot = resolve(import.meta.dirname, '..', '..');
/** The top-level state: `attested` while re-measuring too. */
const stateOf = (snap: { value: unknown }): 'measuring' | 'attested' | 'failed' => {
  const top = typeof snap.value === 'string' ? snap.value : Object.keys(snap.value as object)[0];
  return top === 'attested' || top === 'failed' ? top : 'measuring';
};
const intervalOf = (v: AttestationSection) => secaiEnv().attestIntervalMs ?? v.interval_seconds * 1000;

function status(c: AttestorContext, value: 'measuring' | 'attested' | 'failed') {
  return {
    state: value,
    mode: c.attested?.bundle.mode ?? null,
    stateDigest: value === 'attested' ? c.attested?.bundle.stateDigest ?? null : null,
    attestedAt: c.attested?.bundle.measuredAt ?? null,
    measurements: c.measurements,
    failure: c.failure,
    quote: c.attested?.quote ?? null,
  };
}

function detectionOf(c: AttestorContext): Detection {
  const f = c.failure!;
  return {
    class: 'attestation_failure',
    key: `attestation:${f.code}`,
    summary: `runtime attestation failed (${f.code}): ${f.reason}`.slice(0, 1024),
    severity: 'critical',
    evidence: {
      code: f.code, reason: f.reason, changes: f.changes, mode: c.attested?.bundle.mode ?? null,
      attestedStateDigest: c.attested?.bundle.stateDigest ?? null, measurements: c.measurements,
    },
    at: f.at,
  };
}

/** The policy actor starts beside this one and may restart: its absence is waited out (30 s), a bad answer is not. */
async function askPolicy(ctx: Omit<Ctx, 'actor' | 'sendAndWait'>) {
  const deadline = Date.now() + POLICY_WAIT_MS;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    try {
      return await ctx.bus.call(serveOp(policyManifest, 'section'), { name: 'attestation' });
    } catch (err) {
      const code = (err as SecaiError).code;
      if ((code !== ErrorCode.NO_RESPONDER && code !== ErrorCode.TIMEOUT && code !== ErrorCode.REQUEST_TIMEOUT) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

async function machineOf(ctx: Omit<Ctx, 'actor' | 'sendAndWait'>) {
  const sodium = await getSodium();
  const key = loadAttestorKey(sodium, join(ctx.paths.keys, 'attestor.key'));
  const file = attestationFile(ctx.paths.run);
  const deps: MeasureDeps = {
    sodium, key, codeRoot, file,
    nodeModules: join(projectRoot, 'node_modules'),
    natsServer: secaiEnv().natsServer,
    registryManifest: join(ctx.paths.registry, 'manifest.json'),
    tcti: secaiEnv().tpmTcti,
    tpmDir: join(ctx.paths.run, 'tpm'),
    // The policy in force, asked of the policy actor each time: its digest is what the bundle records.
    policy: async () => {
      const r = await askPolicy(ctx);
      return { section: validateValue<AttestationSection>(r.value, 'policy/attestation.schema.json', 'policy section attestation'), policyDigest: r.policyDigest };
    },
  };
  const machine = attestorMachine.provide({
    actors: { measure: fromPromise(({ input }) => stampFailure(() => measure(deps, input))) },
    actions: {
      reportAttested: ({ context }) => {
        const a = context.attested!;
        const before = readStored(file)?.bundle.stateDigest;
        writeFileAtomic(file, JSON.stringify({ bundle: a.bundle, hmac: a.hmac, quote: a.quote }, null, 2) + '\n', 0o600);
        if (before !== a.bundle.stateDigest || context.measurements === 1) void ctx.emitOrLog('attested', { stateDigest: a.bundle.stateDigest, mode: a.bundle.mode, reason: context.reason.slice(0, 128), at: a.bundle.measuredAt });
      },
      reportFailed: ({ context }) => {
        const f = context.failure!;
        ctx.log.error({ code: f.code, reason: f.reason, changes: f.changes.length }, 'attestation failed: vault unlock and model load are refused');
        void ctx.emitOrLog('failed', { code: f.code, reason: f.reason.slice(0, 2048), mode: context.attested?.bundle.mode ?? null, at: f.at });
        void ctx.emitOrLog('detection', detectionOf(context));
      },
    },
  });
  return { machine, deps };
}

main<typeof attestorMachine, typeof attestorManifest>({
  manifest: attestorManifest,
  machine: async (ctx) => (await machineOf(ctx)).machine,
  input: () => ({ intervalMs: secaiEnv().attestIntervalMs ?? DEFAULT_INTERVAL_MS }),
  publicContext: (c) => ({
    mode: c.attested?.bundle.mode ?? null, stateDigest: c.attested?.bundle.stateDigest ?? null, measurements: c.measurements,
    failure: c.failure && { code: c.failure.code, reason: c.failure.reason },
  }),
  ops: (ctx) => ({
    status: () => { const snap = ctx.actor.getSnapshot(); return status(snap.context, stateOf(snap)); },
    show: async () => show(ctx),
  }),
  commands: (ctx) => ({
    status: () => { const snap = ctx.actor.getSnapshot(); return status(snap.context, stateOf(snap)); },
    show: async () => show(ctx),
  }),
  start: async (ctx) => {
    await configSection(ctx, 'attestation', (v) => { ctx.actor.send({ type: 'attestor.config', intervalMs: intervalOf(v) }); });
    // A signed reload or a promotion changes the state legitimately: measure it now (and record it) rather than at the next tick.
    onEvent(ctx.bus, 'policy', 'reloaded', reloadedEvent, ctx.log, () => { ctx.actor.send({ type: 'attestor.remeasure', reason: 'policy reloaded' }); });
    for (const ev of ['promoted', 'removed']) {
      onEvent(ctx.bus, 'registry', ev, s.record(), ctx.log, () => { ctx.actor.send({ type: 'attestor.remeasure', reason: `registry ${ev}` }); });
    }
    // Ready means measured: an unlock right after `secai up` meets an attested (or declared failed) state, never a race.
    await waitFor(ctx.actor, (snap) => !snap.matches('measuring'), { timeout: 120_000 });
  },
});

async function show(ctx: Ctx) {
  const snap = ctx.actor.getSnapshot();
  const file = attestationFile(ctx.paths.run);
  const stored = readStored(file);
  const sodium = await getSodium();
  const key = loadAttestorKey(sodium, join(ctx.paths.keys, 'attestor.key'));
  return {
    state: stateOf(snap),
    bundle: stored?.bundle ?? null, hmac: stored?.hmac ?? null,
    hmacValid: stored ? hmacValid({ sodium, key }, stored) : false,
    quote: stored?.quote ?? null, failure: snap.context.failure, file,
  };
}
