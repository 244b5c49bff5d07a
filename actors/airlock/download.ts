// Streamed downloads through the airlock: the same checks as fetch, then the body handed out chunk by chunk
// as the caller pulls it (download_next), bounded in size, total time and stall time, hashed, audited once.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { request, type Agent, type Dispatcher } from 'undici';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import type { DecisionResult } from '../../policy/decide/index.js';
import { DOWNLOAD_CHUNK_BYTES, MAX_DOWNLOAD_MS } from '../../contracts/airlock-download.js';
import { authorize, origin, pinnedAgent, type Authorized, type EgressDeps, type EgressEvidence } from './egress.js';

/** Chunks read ahead of the caller; past that the airlock stops reading and TCP pushes back on the server. */
export const DOWNLOAD_READ_AHEAD = 4;
/**
 * Longest a pull waits for data before it answers an empty chunk: a pull answers well inside the caller's
 * request timeout, however slow the server is.
 */
export const PULL_WAIT_MS = 10_000;
/** For the same reason, the start (connect and response headers) gets at most this long. */
export const START_WAIT_MS = 20_000;
/** Downloads in progress at once (the quarantine runs one at a time). */
export const MAX_DOWNLOADS = 4;

export interface DownloadRequest {
  url: string;
  headers?: Record<string, string>;
  /** The caller's size limit; the airlock applies the smaller of this and policy `models.max_size_bytes`. */
  maxBytes: number;
  /** Total time limit for the whole download, headers included. */
  maxMs: number;
}

export interface DownloadStart {
  status: number;
  headers: Record<string, string>;
  address: string;
  decision: DecisionResult;
  /** Set when the status is 200 and there is a body to pull; absent for redirects and errors. */
  id?: string;
  /** The declared Content-Length, when the server sent one. */
  length?: number;
  /** The size limit in force for this download. */
  limit: number;
}

export interface DownloadChunk {
  seq: number;
  data: Uint8Array;
  done: boolean;
  /** Bytes handed out so far, this chunk included. */
  bytes: number;
  /** On the final message only (done): SHA-256 of every byte handed out. */
  sha256?: string;
}

/** Drops a body we will not read; its abort error has nobody to go to. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => {});
  body.destroy();
}

type Outcome = NonNullable<EgressEvidence['outcome']>;

class Session {
  private readonly queue: Buffer[] = [];
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly hash: Hash = createHash('sha256');
  private received = 0;
  private handedOut = 0;
  private seq = 0;
  private ended = false;
  private error: SecaiError | undefined;
  private wakeReader: (() => void) | undefined;
  /** download_next is served concurrently (one download must not wait on another's server): one pull per download at a time. */
  private pulling = false;
  private wakePump: (() => void) | undefined;
  private callerTimer: NodeJS.Timeout | undefined;
  private readonly totalTimer: NodeJS.Timeout;
  private settled = false;

  constructor(
    readonly id: string,
    private readonly body: Dispatcher.ResponseData['body'],
    private readonly abort: AbortController,
    private readonly agent: Agent,
    private readonly limit: number,
    private readonly declared: number | undefined,
    private readonly o: { idleMs: number; maxMs: number; pullWaitMs: number; startedAt: number; evidence: EgressEvidence; report: (e: EgressEvidence) => void; onClose: (err?: SecaiError) => void },
  ) {
    this.totalTimer = setTimeout(() => this.fail(new SecaiError(ErrorCode.EGRESS_FAILED, `download took longer than ${o.maxMs} ms (total time limit)`), 'failed'), Math.max(0, o.maxMs - (Date.now() - o.startedAt)));
    this.armCaller();
    void this.pump();
  }

  /** The caller must ask for the next chunk within the idle time; one that went away leaves no download running. */
  private armCaller(): void {
    clearTimeout(this.callerTimer);
    this.callerTimer = setTimeout(() => this.fail(new SecaiError(ErrorCode.CANCELLED, `the caller did not ask for more within ${this.o.idleMs} ms: download aborted`), 'cancelled'), this.o.idleMs);
  }

  private async pump(): Promise<void> {
    try {
      for await (const piece of this.body) {
        if (this.settled) return;
        const b = piece as Buffer;
        this.received += b.byteLength;
        if (this.received > this.limit) throw new SecaiError(ErrorCode.EGRESS_FAILED, `download exceeds ${this.limit} bytes (size limit): aborted`);
        this.hash.update(b);
        this.pending.push(b);
        this.pendingBytes += b.byteLength;
        while (this.pendingBytes >= DOWNLOAD_CHUNK_BYTES) this.cut(DOWNLOAD_CHUNK_BYTES);
        // Backpressure: while the caller has enough queued, stop reading the socket.
        while (this.queue.length >= DOWNLOAD_READ_AHEAD && !this.settled) await new Promise<void>((r) => { this.wakePump = r; });
      }
      if (this.settled) return;
      if (this.declared !== undefined && this.received !== this.declared) {
        throw new SecaiError(ErrorCode.EGRESS_FAILED, `the server closed the connection after ${this.received} of ${this.declared} bytes: download incomplete`);
      }
      if (this.pendingBytes > 0) this.cut(this.pendingBytes);
      this.ended = true;
      this.wake();
    } catch (err) {
      if (this.settled) return;
      this.fail(err instanceof SecaiError ? err : new SecaiError(ErrorCode.EGRESS_FAILED, this.describe(err), { cause: err }), 'failed');
    }
  }

  private describe(err: unknown): string {
    const e = err as Error & { code?: string };
    if (e.name === 'BodyTimeoutError' || e.code === 'UND_ERR_BODY_TIMEOUT') return `the server sent nothing for ${this.o.idleMs} ms after ${this.received} bytes (stalled): download aborted`;
    if (e.code === 'UND_ERR_SOCKET' || e.code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || /other side closed|terminated/i.test(e.message)) {
      return `the server closed the connection after ${this.received}${this.declared !== undefined ? ` of ${this.declared}` : ''} bytes: download incomplete`;
    }
    return `download failed after ${this.received} bytes: ${e.message}`;
  }

  private cut(n: number): void {
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.queue.push(all.subarray(0, n));
    const rest = all.subarray(n);
    this.pending = rest.byteLength ? [rest] : [];
    this.pendingBytes = rest.byteLength;
    this.wake();
  }

  private wake(): void {
    const w = this.wakeReader;
    this.wakeReader = undefined;
    w?.();
  }

  async next(): Promise<DownloadChunk> {
    if (this.pulling) throw new SecaiError(ErrorCode.INVALID_STATE, 'a pull of this download is already waiting: pull one chunk at a time');
    this.pulling = true;
    try {
      return await this.pull();
    } finally {
      this.pulling = false;
    }
  }

  private async pull(): Promise<DownloadChunk> {
    clearTimeout(this.callerTimer);
    for (;;) {
      const data = this.queue.shift();
      if (data) {
        this.wakePump?.();
        this.wakePump = undefined;
        this.handedOut += data.byteLength;
        this.armCaller();
        return { seq: this.seq++, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), done: false, bytes: this.handedOut };
      }
      if (this.error) throw this.error;
      if (this.ended) {
        const sha256 = this.hash.digest('hex');
        this.settle('complete', { sha256 });
        return { seq: this.seq++, data: new Uint8Array(0), done: true, bytes: this.handedOut, sha256 };
      }
      // Nothing yet: wait for the pump, but answer an empty chunk before the bus would refuse the reply.
      const timedOut = await new Promise<boolean>((r) => {
        const timer = setTimeout(() => { this.wakeReader = undefined; r(true); }, this.o.pullWaitMs);
        this.wakeReader = () => { clearTimeout(timer); r(false); };
      });
      if (timedOut) {
        this.armCaller();
        return { seq: this.seq++, data: new Uint8Array(0), done: false, bytes: this.handedOut };
      }
    }
  }

  cancel(): void {
    this.fail(new SecaiError(ErrorCode.CANCELLED, 'download cancelled by the caller'), 'cancelled');
  }

  fail(err: SecaiError, outcome: Outcome): void {
    if (this.settled) return;
    this.error = err;
    this.queue.length = 0;
    this.settle(outcome, { reason: err.message });
    this.wake();
  }

  /** Once per download: stop the HTTP request, free the connection, publish the evidence. */
  private settle(outcome: Outcome, extra: { sha256?: string; reason?: string }): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.callerTimer);
    clearTimeout(this.totalTimer);
    this.wakePump?.();
    if (outcome !== 'complete') this.abort.abort();
    discard(this.body);
    void this.agent.destroy().catch(() => {}); // lint-ok: closing this download's own pool; its outcome is reported next
    this.o.report({ ...this.o.evidence, outcome, bytes: this.received, ...(extra.sha256 && { sha256: extra.sha256 }), ...(extra.reason && { reason: extra.reason.slice(0, 1024) }) });
    this.o.onClose(this.error);
  }
}

/** The airlock's downloads in progress, by unguessable id. */
export class Downloads {
  private readonly sessions = new Map<string, Session>();
  /** Why a download ended, kept a while for a caller who asks after it failed between two pulls. */
  private readonly failed = new Map<string, SecaiError>();
  /** Downloads waiting for response headers: they hold a slot too, since starts are served concurrently. */
  private starting = 0;

  constructor(private readonly deps: EgressDeps, private readonly o: { pullWaitMs?: number } = {}) {}

  get active(): number {
    return this.sessions.size;
  }

  async start(req: DownloadRequest): Promise<DownloadStart> {
    const startedAt = Date.now();
    // GET only, no body: a download sends nothing but its URL and headers, all of which are scanned.
    const z = await authorize(this.deps, { method: 'GET', url: req.url, ...(req.headers && { headers: req.headers }) });
    const evidence: EgressEvidence = {
      decision: 'allow', rule: z.decision.rule, method: 'GET', origin: origin(req.url), findings: z.findings, address: z.pinned.address,
      policyDigest: z.decision.policyDigest, inputHash: z.decision.inputHash, op: 'download',
    };
    if (this.sessions.size + this.starting >= MAX_DOWNLOADS) {
      this.deps.evidence({ ...evidence, outcome: 'failed', bytes: 0, reason: `${MAX_DOWNLOADS} downloads already in progress` });
      throw new SecaiError(ErrorCode.RATE_LIMITED, `${MAX_DOWNLOADS} downloads already in progress: try again later`);
    }
    this.starting++;
    try {
      return await this.open(req, z, evidence, startedAt);
    } finally {
      this.starting--;
    }
  }

  /** Sends the GET and, for a 200 within the limits, keeps its body as a session to pull. */
  private async open(req: DownloadRequest, z: Authorized, evidence: EgressEvidence, startedAt: number): Promise<DownloadStart> {
    const report = (e: EgressEvidence) => this.deps.evidence(e);
    const a = z.policy.value.airlock;
    const limit = Math.min(req.maxBytes, z.policy.value.models.max_size_bytes);
    const maxMs = Math.min(req.maxMs, MAX_DOWNLOAD_MS);
    const agent = pinnedAgent(z.pinned, a);
    const abort = new AbortController();
    const startMs = Math.min(maxMs, START_WAIT_MS);
    const total = setTimeout(() => abort.abort(new SecaiError(ErrorCode.EGRESS_FAILED, `no response headers within ${startMs} ms: not downloaded`)), startMs);
    let res: Dispatcher.ResponseData;
    try {
      res = await request(z.url, {
        method: 'GET', dispatcher: agent, signal: abort.signal,
        headers: { ...req.headers, 'accept-encoding': 'identity' },
        headersTimeout: a.timeout_ms, bodyTimeout: a.timeout_ms,
      });
    } catch (err) {
      clearTimeout(total);
      await agent.destroy().catch(() => {}); // lint-ok: closing this download's own pool; the request's error is what is reported
      const e = err as Error & { code?: string };
      const reason = err instanceof SecaiError ? err.message
        : abort.signal.aborted ? String((abort.signal.reason as Error)?.message ?? 'aborted')
          : e.code === 'UND_ERR_HEADERS_TIMEOUT' ? `no response headers within ${a.timeout_ms} ms` : `request failed: ${e.message}`;
      report({ ...evidence, outcome: 'failed', bytes: 0, reason });
      throw new SecaiError(ErrorCode.EGRESS_FAILED, reason, { cause: err });
    }
    clearTimeout(total);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    evidence.status = res.statusCode;
    const declaredRaw = res.headers['content-length'];
    const declared = typeof declaredRaw === 'string' && /^\d+$/.test(declaredRaw) ? Number(declaredRaw) : undefined;
    const base = { status: res.statusCode, headers, address: z.pinned.address, decision: z.decision, limit };
    if (res.statusCode !== 200) {
      // Redirects and errors come back without a body: following a Location is a new download, checked again.
      discard(res.body);
      await agent.destroy().catch(() => {}); // lint-ok: closing this download's own pool; the outcome is reported next
      report({ ...evidence, outcome: 'complete', bytes: 0 });
      return base;
    }
    if (declared !== undefined && declared > limit) {
      discard(res.body);
      abort.abort();
      await agent.destroy().catch(() => {}); // lint-ok: closing this download's own pool; the refusal is reported next
      const reason = `the server declares ${declared} bytes, over the ${limit}-byte size limit: not downloaded`;
      report({ ...evidence, outcome: 'failed', bytes: 0, reason });
      throw new SecaiError(ErrorCode.EGRESS_FAILED, reason);
    }
    const id = randomBytes(16).toString('base64url');
    this.sessions.set(id, new Session(id, res.body, abort, agent, limit, declared, {
      idleMs: a.timeout_ms, maxMs, pullWaitMs: this.o.pullWaitMs ?? PULL_WAIT_MS, startedAt, evidence, report,
      onClose: (err) => {
        this.sessions.delete(id);
        if (!err) return;
        this.failed.set(id, err);
        setTimeout(() => this.failed.delete(id), 60_000).unref();
      },
    }));
    return { ...base, id, ...(declared !== undefined && { length: declared }) };
  }

  async next(id: string): Promise<DownloadChunk> {
    return this.get(id).next();
  }

  cancel(id: string): boolean {
    const s = this.sessions.get(id);
    if (!s) return false;
    s.cancel();
    return true;
  }

  cancelAll(): void {
    for (const s of [...this.sessions.values()]) s.cancel();
  }

  private get(id: string): Session {
    const s = this.sessions.get(id);
    const err = this.failed.get(id);
    if (err) {
      this.failed.delete(id);
      throw err;
    }
    if (!s) throw new SecaiError(ErrorCode.INVALID_STATE, 'no such download (finished, failed, cancelled or never started)');
    return s;
  }
}
