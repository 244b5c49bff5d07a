// Audit actor process: drains the tap streams into the hash chain, acking only what is on disk.
import { existsSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fromPromise } from 'xstate';
import { jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { auditMachine, type ChainVerdict } from '../../machines/audit/audit.machine.js';
import { decode } from '../../bus/codec.js';
import { AUDIT_CONSUMER, AUDIT_STREAMS } from '../../bus/subjects.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { AuditChain, verifyChain } from './audit-chain.js';
import { anchorPath, checkFreshness, readAnchor, recreatedStreams, type StreamPosition } from './chain-anchor.js';
import { auditManifest } from './manifest.js';

const TAP_STREAMS = [AUDIT_STREAMS.events.name, AUDIT_STREAMS.commands.name];

/** The chain's HMAC key, created with the chain; without it a rewritten chain could be re-hashed. */
export function auditHmacKey(keysDir: string): Uint8Array {
  const path = join(keysDir, 'audit.hmac');
  if (!existsSync(path)) writeFileAtomic(path, randomBytes(32), 0o600);
  return new Uint8Array(readFileSync(path));
}

let chain: AuditChain;
let hmacKey: Uint8Array;
let anchorFile: string;
let watcher: FSWatcher | undefined;
let stopped = false;
let writing: Promise<unknown> = Promise.resolve();

async function verifyNow(dir: string): Promise<ChainVerdict> {
  try {
    return { ...(await verifyChain(dir, hmacKey, { anchorFile })), at: Date.now() };
  } catch (err) {
    return { ok: false, records: chain.length, brokenAt: 0, line: 0, reason: `verification failed: ${(err as Error).message}`, at: Date.now() };
  }
}

async function follow(ctx: ActorContext<typeof auditMachine>, stream: string): Promise<void> {
  let delay = 100;
  while (!stopped) {
    try {
      const consumer = await ctx.bus.js.consumers.get(stream, AUDIT_CONSUMER);
      while (!stopped) {
        const batch = await consumer.fetch({ max_messages: 256, expires: 1000 });
        const msgs: JsMsg[] = [];
        for await (const m of batch) msgs.push(m);
        if (!msgs.length) continue;
        // One writer: both streams append through the same queue, one fsync per batch.
        writing = writing.then(() => {
          const written = chain.append(msgs.map((m) => {
            let payload: unknown;
            try { payload = decode(m.data, 4 * 1024 * 1024); } catch { payload = undefined; }
            return { stream, streamSeq: m.seq, subject: m.subject, raw: m.data, payload, at: Math.floor(Number(m.info.timestampNanos) / 1e6) };
          }));
          for (const m of msgs) m.ack();
          if (written.length) ctx.actor.send({ type: 'audit.appended', records: chain.length });
        });
        await writing;
        delay = 100;
      }
    } catch (err) {
      if (stopped) return;
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
async function checkOnStart(ctx: Pick<ActorContext, 'bus' | 'log' | 'paths'>): Promise<void> {
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

main({
  manifest: auditManifest,
  machine: async (ctx) => {
    hmacKey = auditHmacKey(ctx.paths.keys);
    anchorFile = anchorPath(ctx.paths.keys);
    chain = new AuditChain(ctx.paths.audit, hmacKey, { anchorFile });
    await checkOnStart(ctx);
    const intervalMs = Number(process.env.SECAI_AUDIT_VERIFY_MS ?? 5 * 60_000);
    return auditMachine.provide({
      actors: { verifyChain: fromPromise(() => verifyNow(ctx.paths.audit)) },
      actions: {
        reportBroken: ({ context }) => {
          ctx.log.error({ verdict: context.lastVerdict }, 'audit chain verification FAILED');
          // The alarm itself must not vanish quietly: a failed publish is logged (the broken state stays on secai.state.audit).
          void ctx.emit('chain_broken', context.lastVerdict).catch((err: Error) => ctx.log.error({ err: err.message }, 'chain_broken alarm not published'));
        },
        reportVerified: ({ context }) => void ctx.emit('chain_verified', context.lastVerdict).catch(() => {}),
      },
      delays: { verifyInterval: intervalMs },
    });
  },
  publicContext: (c) => ({ records: c.records, lastVerdict: c.lastVerdict }),
  ops: (ctx) => ({
    status: () => ({ records: chain.length, state: ctx.actor.getSnapshot().value, lastVerdict: ctx.actor.getSnapshot().context.lastVerdict }),
    tail: tail,
    verify: () => verifyOnDemand(ctx),
  }),
  commands: (ctx) => ({
    verify: () => verifyOnDemand(ctx),
    tail: tail,
  }),
  start: (ctx) => {
    chain.onTamper = (what) => {
      ctx.log.error({ what }, 'audit chain file changed under the audit actor; verifying now');
      ctx.actor.send({ type: 'audit.tampered', what });
    };
    for (const st of TAP_STREAMS) void follow(ctx, st);
    // A deletion or a restored copy while the actor runs is seen at once, not at the next append or interval.
    watcher = watch(ctx.paths.audit, () => chain.checkFile());
    watcher.on('error', (err) => ctx.log.warn({ err: err.message }, 'audit folder watch ended; changes are seen at the next append'));
  },
  stop: async () => {
    stopped = true;
    watcher?.close();
    await writing;
  },
});

async function verifyOnDemand(ctx: ActorContext<typeof auditMachine>) {
  const snap = await ctx.sendAndWait({ type: 'audit.verify' }, (s) => !s.matches('verifying'), 120_000);
  return snap.context.lastVerdict;
}

function tail(req: { n?: number; subject?: string }) {
  const n = req.n ?? 20;
  const all = req.subject ? chain.tail(1000).filter((r) => r.subject.startsWith(req.subject!)) : chain.tail(n);
  return { records: all.slice(-n) };
}
