// Audit actor process: wiring. The open chain and the verify lifecycle live in machines/audit; the tap (streams → chain, acked only once on disk) is its callback effect.
import { secaiEnv } from '../../common/env.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { existsSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fromCallback, fromPromise } from 'xstate';
import { jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { auditMachine, type ChainVerdict } from '../../machines/audit/audit.machine.js';
import { decode } from '../../bus/codec.js';
import { AUDIT_CONSUMER, AUDIT_STREAMS } from '../../bus/subjects.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { AuditChain, verifyChain } from './audit-chain.js';
import { readRange } from './chain-range.js';
import { anchorPath, checkFreshness, readAnchor, recreatedStreams, type StreamPosition } from './chain-anchor.js';
import { auditManifest } from './manifest.js';

const TAP_STREAMS = [AUDIT_STREAMS.events.name, AUDIT_STREAMS.commands.name];

/** The chain's HMAC key, created with the chain; without it a rewritten chain could be re-hashed. */
export function auditHmacKey(keysDir: string): Uint8Array {
  const path = join(keysDir, 'audit.hmac');
  if (!existsSync(path)) writeFileAtomic(path, randomBytes(32), 0o600);
  return new Uint8Array(readFileSync(path));
}

/** What the machine holds (private context): the chain writer and what verifies it. */
interface Store { chain: AuditChain; hmacKey: Uint8Array; anchorFile: string; dir: string; /** The tap's one writer queue (both streams), awaited at stop. */ writing: Promise<unknown> }
type Ctx = ActorContext<typeof auditMachine>;
const storeOf = (ctx: Ctx) => ctx.actor.getSnapshot().context.store as Store;

async function verifyNow({ chain, hmacKey, anchorFile, dir }: Store, trigger: string | null): Promise<ChainVerdict> {
  const why = trigger ? { trigger: trigger.slice(0, 256) } : {};
  try {
    return { ...(await verifyChain(dir, hmacKey, { anchorFile })), at: Date.now(), ...why };
  } catch (err) {
    return { ok: false, records: chain.length, brokenAt: 0, line: 0, reason: `verification failed: ${(err as Error).message}`, at: Date.now(), ...why };
  }
}

/** Appends a batch, retrying while the disk refuses (ENOSPC); acks only once it is on disk. */
async function appendUntilStored(ctx: Pick<Ctx, 'log'>, tap: Tap, inputs: Parameters<AuditChain['append']>[0], msgs: JsMsg[]): Promise<void> {
  const { chain } = tap.store;
  for (let delay = 100, failedSince = 0; ; delay = Math.min(1000, delay * 2)) {
    try {
      const written = chain.append(inputs);
      if (failedSince) ctx.log.warn({ records: chain.length, afterMs: Date.now() - failedSince }, 'audit appends stored again');
      for (const m of msgs) m.ack();
      if (written.length) tap.appended();
      return;
    } catch (err) {
      if (tap.stopped) throw err;
      if (!failedSince) {
        failedSince = Date.now();
        ctx.log.error({ err: (err as Error).message, batch: inputs.length }, 'audit append failed (nothing half written); retrying until storage returns');
      }
      // Still being worked on: JetStream must not redeliver these to a second fetch meanwhile.
      for (const m of msgs) m.working();
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** The tap's own run: one writer queue for both streams, stopped when the machine stops the tap. */
interface Tap { store: Store; stopped: boolean; appended(): void }

async function follow(ctx: Pick<Ctx, 'bus' | 'log'>, tap: Tap, stream: string): Promise<void> {
  let delay = 100;
  const { chain } = tap.store;
  while (!tap.stopped) {
    try {
      const consumer = await ctx.bus.js.consumers.get(stream, AUDIT_CONSUMER);
      while (!tap.stopped) {
        const batch = await consumer.fetch({ max_messages: 256, expires: 1000 });
        const msgs: JsMsg[] = [];
        for await (const m of batch) msgs.push(m);
        if (!msgs.length) continue;
        // One writer: both streams append through the same queue, one fsync per batch. A failed append (a full
        // disk) leaves nothing half written and is retried in place, in order, until storage returns; the queue
        // itself never stays rejected, so one failure cannot wedge the tap.
        const inputs = msgs.map((m) => {
          let payload: unknown;
          try { payload = decode(m.data, 4 * 1024 * 1024); } catch { payload = undefined; }
          return { stream, streamSeq: m.seq, subject: m.subject, raw: m.data, payload, at: Math.floor(Number(m.info.timestampNanos) / 1e6) };
        });
        const done = tap.store.writing.then(() => appendUntilStored(ctx, tap, inputs, msgs));
        tap.store.writing = done.catch(() => undefined); // lint-ok: the failure is this batch's, awaited (and logged) just below
        await done;
        delay = 100;
      }
    } catch (err) {
      if (tap.stopped) return;
      ctx.log.warn({ stream, err: (err as Error).message }, 'audit tap interrupted; retrying');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 2000);
    }
  }
}

/**
 * Where each tap stream and the audit consumer stand. Asked before the first fetch, so the ack floor is what earlier
 * runs of this actor acknowledged, which they did only after the records were on disk. Undefined if JetStream
 * does not answer within a few seconds.
 */
async function streamPositions(ctx: Pick<ActorContext, 'bus' | 'log'>): Promise<StreamPosition[] | undefined> {
  let last: unknown;
  // Bounded, so a JetStream that does not answer cannot keep the actor from becoming ready.
  for (const end = Date.now() + 10_000; Date.now() < end;) {
    try {
      const jsm = await jetstreamManager(ctx.bus.nc, { timeout: 2000 });
      const out: StreamPosition[] = [];
      for (const stream of TAP_STREAMS) {
        const si = await jsm.streams.info(stream);
        const ci = await jsm.consumers.info(stream, AUDIT_CONSUMER);
        out.push({ stream, ackFloor: ci.ack_floor.stream_seq, firstSeq: si.state.first_seq, lastSeq: si.state.last_seq, delivered: ci.delivered.stream_seq });
      }
      return out;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  ctx.log.error({ err: (last as Error)?.message }, 'JetStream did not answer: the audit chain was checked against its anchor only');
  return undefined;
}

/**
 * The start check: the chain on disk must be at least as new as its anchor and as what JetStream saw acknowledged.
 * A chain that is not gets a break record (with the evidence) before anything else is appended, so the break is in
 * the chain for good and the first verification, which the machine runs at once, reports it.
 */
async function checkOnStart(ctx: Pick<ActorContext, 'bus' | 'log' | 'paths'>, { chain, hmacKey, anchorFile }: Store): Promise<void> {
  const anchor = readAnchor(anchorFile, hmacKey);
  const { hashAt } = chain.open(anchor.state === 'ok' ? anchor.anchor.seq : undefined);
  const positions = await streamPositions(ctx);
  const findings = checkFreshness({ length: chain.length, ...(hashAt !== undefined && { hashAtAnchor: hashAt }), streams: chain.streamSeqs() }, anchor, positions);
  for (const p of positions ?? []) {
    // The stream holds fewer messages than the chain already has: the JetStream store was reset or lost its tail.
    if (p.lastSeq < chain.streamSeq(p.stream)) ctx.log.warn({ stream: p.stream, streamLast: p.lastSeq, chainLast: chain.streamSeq(p.stream) }, 'tap stream is behind the audit chain');
  }
  if (!findings.length) {
    chain.raiseAnchor();
    return;
  }
  const restartedStreams = recreatedStreams({ streams: chain.streamSeqs() }, positions);
  const r = chain.appendBreak({ reason: findings.map((f) => f.reason).join('; '), findings, ...(restartedStreams.length && { restartedStreams }) }, Date.now());
  ctx.log.error({ record: r.seq, findings }, 'audit chain is not the latest one written: break recorded');
}

main<typeof auditMachine, typeof auditManifest>({
  manifest: auditManifest,
  machine: (ctx) => auditMachine.provide({
    actors: {
      verifyChain: fromPromise(({ input }) => verifyNow(input.store as Store, input.trigger)),
      tap: fromCallback(({ input, sendBack }) => {
        const store = input.store as Store;
        const { chain, dir } = store;
        const tap: Tap = { store, stopped: false, appended: () => sendBack({ type: 'audit.appended', records: chain.length }) };
        chain.onTamper = (what) => {
          ctx.log.error({ what }, 'audit chain file changed under the audit actor; verifying now');
          sendBack({ type: 'audit.tampered', what });
        };
        for (const st of TAP_STREAMS) void follow(ctx, tap, st);
        // A deletion, a restored copy or a byte flipped in place while the actor runs is seen at once (inotify on the
        // folder: the file's own events and a rename over it), not at the next append or interval.
        const watcher: FSWatcher = watch(dir, () => chain.checkFile());
        watcher.on('error', (err) => ctx.log.warn({ err: err.message }, 'audit folder watch ended; changes are seen at the next append'));
        return () => {
          tap.stopped = true;
          watcher.close();
        };
      }),
    },
    actions: {
      reportBroken: ({ context }) => {
        ctx.log.error({ verdict: context.lastVerdict }, 'audit chain verification FAILED');
        // The alarm itself must not vanish quietly: a failed publish is logged (the broken state stays on secai.state.audit).
        void ctx.emitOrLog('chain_broken', context.lastVerdict);
      },
      reportVerified: ({ context }) => void ctx.emitOrLog('chain_verified', context.lastVerdict),
    },
    delays: { verifyInterval: secaiEnv().auditVerifyMs },
  }),
  // The chain is opened and checked for freshness before the machine starts: a break is recorded before any append.
  input: async (ctx) => {
    const hmacKey = auditHmacKey(ctx.paths.keys);
    const anchorFile = anchorPath(ctx.paths.keys);
    const store: Store = { chain: new AuditChain(ctx.paths.audit, hmacKey, { anchorFile }), hmacKey, anchorFile, dir: ctx.paths.audit, writing: Promise.resolve() };
    await checkOnStart(ctx, store);
    return { store, records: store.chain.length };
  },
  publicContext: (c) => ({ records: c.records, lastVerdict: c.lastVerdict }),
  ops: (ctx) => ({
    status: () => ({ records: storeOf(ctx).chain.length, state: ctx.actor.getSnapshot().value, lastVerdict: ctx.actor.getSnapshot().context.lastVerdict }),
    tail: (req: { n?: number; subject?: string }) => tail(storeOf(ctx).chain, req),
    records: (req: { since: number; until: number; after?: number; limit?: number }) =>
      readRange(storeOf(ctx).chain.file, { since: req.since, until: req.until, after: req.after ?? -1, limit: req.limit ?? 500 }),
    verify: () => verifyOnDemand(ctx),
  }),
  commands: (ctx) => ({
    verify: () => verifyOnDemand(ctx),
    tail: (req: { n?: number; subject?: string }) => tail(storeOf(ctx).chain, req),
  }),
  // A batch being written when the stop came finishes (and is acked) before the process goes.
  stop: async (ctx) => { await storeOf(ctx).writing; },
});

async function verifyOnDemand(ctx: Ctx) {
  const snap = await ctx.sendAndWait({ type: 'audit.verify' }, (s) => !s.matches('verifying'), 120_000);
  // The reply schema has no null: a verification that left no verdict is an error, not an empty answer.
  if (!snap.context.lastVerdict) throw new SecaiError(ErrorCode.INTERNAL, 'the audit chain was not verified');
  return snap.context.lastVerdict;
}

function tail(chain: AuditChain, req: { n?: number; subject?: string }) {
  const n = req.n ?? 20;
  const all = req.subject ? chain.tail(1000).filter((r) => r.subject.startsWith(req.subject!)) : chain.tail(n);
  return { records: all.slice(-n) };
}
