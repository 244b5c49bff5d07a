// The airlock's egress path: scan, decide, resolve DNS once, refuse non-public addresses, connect to that
// exact address (no second lookup, so no DNS rebinding), bounded in size and time, redirects not followed.
import { lookup as dnsLookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { isIP } from 'node:net';
import { Agent, buildConnector, request } from 'undici';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import type { DecisionResult } from '../../policy/decide/index.js';
import { classifyAddress } from '../../policy/decide/ip-class.js';
import { Scanner, type Finding } from '../../policy/pii/scanner.js';
import { redact } from '../../policy/pii/redact.js';
import type { AirlockPolicy, PolicyDoc } from '../../policy/types.js';

/** What the airlock applies of a policy: its own section and the model size cap, with the policy's digest. */
export interface AirlockPolicyView {
  digest: string;
  value: Pick<PolicyDoc, 'airlock' | 'models'>;
}

export interface EgressRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
}

export interface EgressResponse {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
  address: string;
  decision: DecisionResult;
}

/** What the airlock publishes about each request: evidence, never the raw secret. */
export interface EgressEvidence {
  decision: 'allow' | 'deny' | 'ask';
  rule: string;
  reason?: string;
  method: string;
  /** Scheme, host and port only: paths and queries can carry what we refuse to record. */
  origin: string;
  findings: { kind: string; where: string; n: number }[];
  address?: string;
  status?: number;
  bytes?: number;
  /** Downloads only: which op, how it ended, and the SHA-256 of the bytes passed on. */
  op?: 'download';
  outcome?: 'complete' | 'failed' | 'cancelled';
  sha256?: string;
  policyDigest: string;
  inputHash: string;
}

/** `port` is set only by the test hosts map (testHostsResolver): connect there instead of the URL's port. */
export interface ResolvedAddress {
  address: string;
  family: number;
  port?: number;
  /** Test hosts map only: the test server's certificate (SECAI_TEST_AIRLOCK_CA), trusted besides the system roots. */
  ca?: string;
}

export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = (host) => dnsLookup(host, { all: true, verbatim: true });

export interface EgressDeps {
  decide(domain: string, input: unknown): Promise<DecisionResult> | DecisionResult;
  policy(digest: string): Promise<AirlockPolicyView> | AirlockPolicyView;
  resolve: Resolver;
  env: NodeJS.ProcessEnv;
  /** Called once per request with its evidence (deny or allow). */
  evidence(e: EgressEvidence): void;
  /** The incident containment in force, if any: then every request is refused, whatever the policy says. */
  containment?(): { incidentId: string; reason: string } | null;
}

/** The refusal while an incident holds the airlock contained (its own code: the policy did not decide this). */
export class AirlockContained extends SecaiError {
  constructor(c: { incidentId: string; reason: string }, readonly evidence: EgressEvidence) {
    super(ErrorCode.AIRLOCK_DISABLED, `the airlock is disabled by incident ${c.incidentId}: ${c.reason} (an operator ends it with securectl airlock enable)`);
  }
}

const FORBIDDEN_HEADERS = new Set(['host', 'connection', 'transfer-encoding', 'content-length', 'upgrade', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'keep-alive', 'expect']);

export class EgressDenied extends SecaiError {
  constructor(message: string, readonly evidence: EgressEvidence) {
    super(ErrorCode.EGRESS_DENIED, message);
  }
}

export function origin(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`.slice(0, 300);
  } catch {
    return '(unparsable)';
  }
}

/** Scans the URL (past the origin), header values and body; returns the findings per place. */
export function scanRequest(req: EgressRequest, a: AirlockPolicy): { kind: string; where: string; n: number }[] {
  const sc = new Scanner({ entropyMinLength: a.scan.entropy_min_length, entropyBits: a.scan.entropy_bits, maxFindings: 64 });
  const counts = new Map<string, { kind: string; where: string; n: number }>();
  const add = (where: string, fs: Finding[]) => {
    for (const f of fs) {
      const k = `${where}:${f.kind}`;
      const c = counts.get(k);
      if (c) c.n++; else counts.set(k, { kind: f.kind, where, n: 1 });
    }
  };
  let rest = req.url;
  try {
    const u = new URL(req.url);
    // Percent-decoding first: an email written as %40 is still an email.
    rest = safeDecode(u.pathname + u.search + u.hash);
  } catch { /* lint-ok: the decision refuses unparsable URLs */ }
  add('url', sc.scan(Buffer.from(rest, 'utf8')));
  for (const [name, value] of Object.entries(req.headers ?? {})) add(`header:${name.toLowerCase().slice(0, 64)}`, sc.scan(Buffer.from(String(value), 'utf8')));
  if (req.body?.byteLength) add('body', sc.scan(req.body));
  return [...counts.values()];
}

function safeDecode(s: string): string {
  try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { return s; }
}

/** Loopback destinations are reachable only with the test switch in policy AND SECAI_TEST=1 in this process. */
export function loopbackAllowed(a: AirlockPolicy, env: NodeJS.ProcessEnv): boolean {
  return a.allow_loopback_for_tests && env.SECAI_TEST === '1';
}

/** A request that passed every check: the policy decision, the scan findings and the one address to connect to. */
export interface Authorized {
  method: string;
  url: URL;
  pinned: ResolvedAddress;
  policy: AirlockPolicyView;
  decision: DecisionResult;
  findings: EgressEvidence['findings'];
}

/** Every check before a byte leaves: owned headers, policy (without and with the scan), DNS once, address classes. */
export async function authorize(deps: EgressDeps, req: EgressRequest): Promise<Authorized> {
  const method = req.method.toUpperCase();
  const base = { method, origin: origin(req.url) };
  const findings: EgressEvidence['findings'] = [];
  const deny = (d: Pick<EgressEvidence, 'rule' | 'policyDigest' | 'inputHash'> & { reason?: string }, extra: Partial<EgressEvidence> = {}): never => {
    // Only the evidence fields: a DecisionResult also has domain and evalUs, which the event schema does not take.
    const ev: EgressEvidence = {
      decision: 'deny', ...base, findings, rule: d.rule, policyDigest: d.policyDigest, inputHash: d.inputHash,
      ...(d.reason !== undefined && { reason: redact(d.reason).slice(0, 1024) }), ...extra,
    };
    deps.evidence(ev);
    throw new EgressDenied(`egress denied by ${d.rule}${d.reason ? `: ${redact(d.reason)}` : ''}`, ev);
  };

  // Checked first and again after the (awaited) decisions: a containment that lands meanwhile still stops this one.
  const refuseIfContained = () => {
    const c = deps.containment?.();
    if (!c) return;
    const ev: EgressEvidence = { decision: 'deny', ...base, findings, rule: 'airlock.contained', reason: `incident ${c.incidentId}: ${c.reason}`.slice(0, 1024), policyDigest: '', inputHash: '' };
    deps.evidence(ev);
    throw new AirlockContained(c, ev);
  };
  refuseIfContained();
  for (const h of Object.keys(req.headers ?? {})) {
    if (FORBIDDEN_HEADERS.has(h.toLowerCase())) deny({ rule: 'airlock.headers', reason: `header ${h.slice(0, 64)} is set by the airlock`, policyDigest: '', inputHash: '' });
  }
  // A first decision without the scan tells whether the airlock is on at all, with which policy.
  const bodyBytes = req.body?.byteLength ?? 0;
  const pre = await deps.decide('egress', { method, url: req.url, bodyBytes, findings: [] });
  if (pre.decision !== 'allow') deny(pre);
  const policy = await deps.policy(pre.policyDigest);
  const a = policy.value.airlock;
  findings.push(...scanRequest(req, a));
  const decision = await deps.decide('egress', { method, url: req.url, bodyBytes, findings: [...new Set(findings.map((f) => f.kind))] });
  if (decision.decision !== 'allow') deny(decision);
  refuseIfContained();

  const url = new URL(req.url);
  const host = url.hostname;
  if (isIP(host) || host.startsWith('[')) deny({ ...decision, rule: 'airlock.ip-literal', reason: 'IP literal destinations are not allowed' });
  let addrs: ResolvedAddress[];
  try {
    addrs = await deps.resolve(host);
  } catch (err) {
    deny({ ...decision, rule: 'airlock.dns', reason: `cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? 'error'}` });
    throw err;
  }
  if (!addrs.length) deny({ ...decision, rule: 'airlock.dns', reason: `${host} has no address` });
  // Every address must be acceptable: a name that also resolves inside is refused, not routed around.
  const loopOk = loopbackAllowed(a, deps.env);
  for (const { address } of addrs) {
    const c = classifyAddress(address);
    if (c !== 'public' && !(c === 'loopback' && loopOk)) {
      deny({ ...decision, rule: `airlock.address.${c}`, reason: `${host} resolves to a ${c} address` }, { address });
    }
  }
  return { method, url, pinned: addrs[0]!, policy, decision, findings };
}

/**
 * Tests only: `SECAI_TEST_AIRLOCK_HOSTS="models.test=127.0.0.1:4433,…"` makes those names resolve to
 * that loopback address (and connect to that port), so an https URL on the default port can reach a
 * local test server. Honoured only where loopback is allowed at all (policy switch AND SECAI_TEST=1);
 * entries that are not loopback addresses are ignored, so it can never open anything else. Its certificate
 * (`SECAI_TEST_AIRLOCK_CA`, a PEM file) is trusted for those mapped hosts alone: a whole appliance under test
 * cannot pass NODE_EXTRA_CA_CERTS to its actors (the supervisor keeps that variable back).
 */
export function testHostsResolver(fallback: Resolver, airlock: () => AirlockPolicy | undefined, env: NodeJS.ProcessEnv): Resolver {
  const map = new Map<string, ResolvedAddress>();
  const ca = env.SECAI_TEST_AIRLOCK_CA ? readFileSync(env.SECAI_TEST_AIRLOCK_CA, 'utf8') : undefined;
  for (const entry of (env.SECAI_TEST_AIRLOCK_HOSTS ?? '').split(',')) {
    const m = /^([a-z0-9.-]+)=(127(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(entry.trim());
    if (!m || classifyAddress(m[2]!) !== 'loopback' || Number(m[3]) < 1 || Number(m[3]) > 65535) continue;
    map.set(m[1]!, { address: m[2]!, family: 4, port: Number(m[3]), ...(ca !== undefined && { ca }) });
  }
  return async (host) => {
    const hit = map.get(host);
    const a = airlock();
    if (hit && a && loopbackAllowed(a, env)) return [hit];
    return fallback(host);
  };
}

export async function egressFetch(deps: EgressDeps, req: EgressRequest): Promise<EgressResponse> {
  const z = await authorize(deps, req);
  return perform(deps, req, z.method, z.url, z.pinned, z.policy.value.airlock, z.decision, z.findings);
}

/** An undici agent whose only connection goes to the pinned address (no second lookup), checked again after connect. */
export function pinnedAgent(pinned: ResolvedAddress, a: AirlockPolicy): Agent {
  const family = pinned.family === 6 ? 6 : 4;
  const lookup = (_h: string, opts: { all?: boolean }, cb: (...args: unknown[]) => void) => {
    if (opts?.all) cb(null, [{ address: pinned.address, family }]);
    else cb(null, pinned.address, family);
  };
  const connector = buildConnector({ timeout: a.timeout_ms, lookup, ...(pinned.ca !== undefined && { ca: [...rootCertificates, pinned.ca] }) } as unknown as buildConnector.BuildOptions);
  return new Agent({
    connections: 1,
    pipelining: 0,
    // The socket must end up at the address we checked, whatever happened in between.
    connect: (opts, cb) => connector(pinned.port !== undefined ? { ...opts, port: String(pinned.port) } : opts, (err, socket) => {
      if (err || !socket) return cb(err ?? new Error('no socket'), null);
      if (socket.remoteAddress !== pinned.address) {
        socket.destroy();
        return cb(new Error(`connected to ${socket.remoteAddress}, not ${pinned.address}`), null);
      }
      return cb(null, socket);
    }),
  });
}

async function perform(deps: EgressDeps, req: EgressRequest, method: string, url: URL, pinned: ResolvedAddress, a: AirlockPolicy, decision: DecisionResult, findings: EgressEvidence['findings']): Promise<EgressResponse> {
  const agent = pinnedAgent(pinned, a);
  const ev: EgressEvidence = {
    decision: 'allow', rule: decision.rule, method, origin: origin(req.url), findings, address: pinned.address,
    policyDigest: decision.policyDigest, inputHash: decision.inputHash,
  };
  const signal = AbortSignal.timeout(a.timeout_ms);
  try {
    const res = await request(url, {
      method: method as 'GET', dispatcher: agent, signal,
      headers: { ...req.headers, 'accept-encoding': 'identity' },
      ...(req.body?.byteLength ? { body: Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength) } : {}),
      headersTimeout: a.timeout_ms, bodyTimeout: a.timeout_ms,
    });
    const declared = Number(res.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > a.max_response_bytes) {
      res.body.destroy();
      throw new SecaiError(ErrorCode.EGRESS_FAILED, `response of ${declared} bytes exceeds ${a.max_response_bytes}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).byteLength;
      if (size > a.max_response_bytes) {
        res.body.destroy();
        throw new SecaiError(ErrorCode.EGRESS_FAILED, `response exceeds ${a.max_response_bytes} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    ev.status = res.statusCode;
    ev.bytes = size;
    deps.evidence(ev);
    return { status: res.statusCode, headers, body: new Uint8Array(Buffer.concat(chunks)), address: pinned.address, decision };
  } catch (err) {
    ev.reason = err instanceof SecaiError ? err.message : `request failed: ${(err as Error).name === 'TimeoutError' || signal.aborted ? `timed out after ${a.timeout_ms} ms` : (err as Error).message}`;
    deps.evidence(ev);
    if (err instanceof SecaiError) throw err;
    throw new SecaiError(ErrorCode.EGRESS_FAILED, ev.reason, { cause: err });
  } finally {
    await agent.destroy().catch(() => {}); // lint-ok: closing this request's own pool; its outcome is already in the evidence
  }
}
