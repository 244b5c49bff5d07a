// What the web UI watches: every actor's machine definition, live state snapshots and audit records (SSE), audit verification.
import { serveOp, standardOp } from '../../../bus/op-ref.js';
import type { ServerResponse } from 'node:http';
import { parseStateMessage } from '../../../bus/state-message.js';
import { ALL_STATES } from '../../../bus/subjects.js';
import { ErrorCode, SecaiError } from '../../../common/errors.js';
import { ACTOR_MANIFESTS, auditManifest } from '../../../runtime/catalog.js';
import { describeMachine } from '../../../runtime/describe-machine.js';
import { gatewayMachine } from '../../../machines/gateway/gateway.machine.js';
import { gatewayManifest } from '../manifest.js';
import { sendJson, type Route } from '../http.js';
import { sessionCookie } from '../auth-guard.js';
import { StreamSlots } from '../stream-slots.js';
import type { GatewayDeps } from '../deps.js';

/** Actors whose machine the gateway may ask for: those its manifest lets it request `describe` from. */
export function describableActors(): string[] {
  // The supervisor first: its chart shows every slot's supervision (starting, ready, unresponsive, backoff, failed).
  return ['supervisor', ...ACTOR_MANIFESTS.map((m) => m.name)].filter((n) => n === 'gateway' || mayRequest(`${n}.describe`));
}

const mayRequest = (ref: string): boolean => (gatewayManifest.requests as readonly string[]).includes(ref);

const AUDIT_POLL_MS = 500;
const HEARTBEAT_MS = 15_000;
/** At most this many SSE streams at once (each holds a bus subscription), and this many per session. */
export const MAX_STREAMS = 16;
export const MAX_STREAMS_PER_SESSION = 4;

function sse(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

async function machines(d: GatewayDeps) {
  return Promise.all(describableActors().map(async (name) => {
    try {
      // The gateway's own requests never reach itself (no echo on its connection): describe it in-process.
      const description = name === 'gateway'
        ? { actor: 'gateway', ...(await describeMachine(gatewayMachine)) }
        : await d.bus.call(standardOp(name, 'describe'), {}, 5000);
      // The gateway is answering this request, so it is serving; its own state messages never echo back to it.
      let snapshot: unknown = name === 'gateway' ? { actor: 'gateway', value: 'serving', status: 'active', event: 'xstate.done.actor.listen', seq: 0, at: Date.now() } : null;
      if (name !== 'gateway' && mayRequest(`${name}.snapshot`)) {
        snapshot = await d.bus.call(standardOp(name, 'snapshot'), {}, 2000).catch(() => null); // lint-ok: no snapshot shows as none (the actor may be restarting)
      }
      return { ...description, actor: name, snapshot };
    } catch (err) {
      return { actor: name, error: { code: (err as SecaiError).code ?? ErrorCode.INTERNAL, message: (err as Error).message } };
    }
  }));
}

function intParam(v: string | null, min: number, max: number, dflt: number): number {
  if (v === null) return dflt;
  if (!/^\d{1,6}$/.test(v)) throw new SecaiError(ErrorCode.USAGE, `expected an integer from ${min} to ${max}, got '${v.slice(0, 32)}'`);
  const n = Number(v);
  if (n < min || n > max) throw new SecaiError(ErrorCode.USAGE, `expected an integer from ${min} to ${max}, got ${n}`);
  return n;
}

export function observeRoutes(d: GatewayDeps, slots = new StreamSlots(MAX_STREAMS, MAX_STREAMS_PER_SESSION)): Route[] {
  return [
    { method: 'GET', path: '/api/machines', access: 'session', handler: async ({ res }) => sendJson(res, 200, { machines: await machines(d) }) },
    {
      method: 'GET', path: '/api/audit/tail', access: 'session',
      handler: async ({ res, url }) => {
        const n = intParam(url.searchParams.get('n'), 1, 1000, 100);
        const subject = url.searchParams.get('subject');
        if (subject !== null && (subject.length > 256 || !/^[A-Za-z0-9_.>*-]*$/.test(subject))) throw new SecaiError(ErrorCode.USAGE, 'subject must be a subject prefix');
        sendJson(res, 200, await d.bus.call(serveOp(auditManifest, 'tail'), { n, ...(subject && { subject }) }));
      },
    },
    { method: 'GET', path: '/api/audit/status', access: 'session', handler: async ({ res }) => sendJson(res, 200, await d.bus.call(serveOp(auditManifest, 'status'), {})) },
    { method: 'POST', path: '/api/audit/verify', access: 'session', handler: async ({ res }) => sendJson(res, 200, await d.bus.call(serveOp(auditManifest, 'verify'), {}, 120_000)) },
    {
      // Server-sent events: `state` (every secai.state.* snapshot) and `audit` (new chain records, in order).
      method: 'GET', path: '/api/events', access: 'session',
      handler: async ({ req, res }) => {
        // Counted per session id, the one the guard just validated (not the raw Cookie header, which a client can vary).
        const release = slots.take(sessionCookie(req) ?? 'no-session-cookie');
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
        res.write(': secai events\n\n');
        let closed = false;
        const sub = d.bus.subscribe(ALL_STATES, (msg) => {
          // A malformed snapshot, or one naming another actor than its subject, is not forwarded.
          try { sse(res, 'state', parseStateMessage(msg.subject, msg.data)); } catch { /* lint-ok: not forwarded; the supervisor logs malformed state messages */ }
        });
        // Audit records come from the chain itself (what was committed), not from a second tap.
        let lastSeq = -1;
        const poll = async () => {
          while (!closed) {
            try {
              const { records } = await d.bus.call(serveOp(auditManifest, 'tail'), { n: 200 }, 3000);
              if (lastSeq < 0) lastSeq = records.length ? records[records.length - 1]!.seq - Math.min(records.length, 50) : 0;
              const fresh = records.filter((r) => r.seq > lastSeq);
              // A burst larger than one tail: say what was skipped rather than hide it (GET /api/audit/tail has them).
              if (fresh.length && fresh[0]!.seq > lastSeq + 1) sse(res, 'gap', { from: lastSeq + 1, to: fresh[0]!.seq - 1 });
              for (const r of fresh) sse(res, 'audit', r);
              if (fresh.length) lastSeq = fresh[fresh.length - 1]!.seq;
            } catch (err) {
              if (!closed) sse(res, 'problem', { code: (err as SecaiError).code ?? ErrorCode.INTERNAL, message: (err as Error).message });
            }
            await new Promise((r) => setTimeout(r, AUDIT_POLL_MS));
          }
        };
        const beat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
        const done = new Promise<void>((resolve) => {
          const end = () => {
            if (closed) return;
            closed = true;
            release();
            clearInterval(beat);
            sub.unsubscribe();
            resolve();
          };
          req.once('close', end);
          res.once('close', end);
          // A client gone before these listeners existed would otherwise keep its slot forever.
          if (res.destroyed || req.socket.destroyed) end();
        });
        void poll();
        await done;
      },
    },
  ];
}
