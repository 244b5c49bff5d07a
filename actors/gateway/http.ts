// HTTP plumbing for the gateway: routing, bounded JSON bodies, security headers, and Host checks.
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { ErrorCode, SecaiError, toErrorData, type ErrorData } from '../../common/errors.js';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  url: URL;
}

/** How an API family shapes its errors (OpenAI, Ollama and ours differ). */
export type ErrorShape = (status: number, e: ErrorData) => unknown;

/**
 * Who may call a route: `public` (health, first-run setup, login), `local-client` (the OpenAI- and
 * Ollama-compatible APIs used by local programs), `session` (the web UI and its API: a session
 * cookie plus its proof token on every method). The guard decides; see auth-guard.ts.
 */
export type Access = 'public' | 'local-client' | 'session';

/** Throws (e.g. UNAUTHORIZED) when the request may not reach a route of this access level. */
export type Guard = (access: Access, c: RouteContext) => Promise<void> | void;

/** Until an auth guard is installed, session routes are closed: fail closed. */
export const closedGuard: Guard = (access) => {
  if (access === 'session') throw new SecaiError(ErrorCode.UNAUTHORIZED, 'this route needs a session, and no authentication is configured');
};

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  access: Access;
  /** `/v1/models`, `/api/models/:name` — `:x` matches one path segment. */
  path: string;
  handler: (c: RouteContext) => Promise<void> | void;
  errorShape?: ErrorShape;
  /**
   * The body may take longer than `bodyMs` (browser uploads of model files, which bound themselves:
   * an idle timeout, bus-sized chunks, and the server's `requestMs` ceiling). Every other route's body
   * must have arrived within `bodyMs` of its headers.
   */
  longBody?: true;
}

/**
 * Time limits of the gateway's HTTP server. `headersMs`: the request line and headers; `bodyMs`: the
 * whole body of an ordinary route (a body that trickles is cut off, 408, and the socket closed);
 * `requestMs`: any request's headers and body (Node's requestTimeout; the upload ceiling); `keepAliveMs`:
 * an idle keep-alive connection between requests. A response may stream for longer (SSE, NDJSON): these
 * bound what the client sends, not what it is sent.
 */
export interface HttpTimeouts { headersMs: number; bodyMs: number; requestMs: number; keepAliveMs: number }
export const HTTP_TIMEOUTS: HttpTimeouts = Object.freeze({ headersMs: 10_000, bodyMs: 30_000, requestMs: 3_600_000, keepAliveMs: 5_000 });

/**
 * The largest request body any route reads whole: one bus message carries at most 1 MiB (nats-server
 * max_payload, bus/server-config.ts), less room for what a route adds around the body. readBody caps every
 * route's own limit at this, so a body the bus could not carry is a 413 here, never a 500 from the bus.
 */
export const MAX_FORWARDED_BODY = 1024 * 1024 - 64 * 1024;

export const secaiErrorShape: ErrorShape = (_status, e) => ({ error: e });

/** HTTP status for each error code that has one; everything else is a 500. One table: no route module registers its own. */
const STATUS: Record<string, number> = {
  [ErrorCode.BAD_MESSAGE]: 400, [ErrorCode.SCHEMA]: 400, [ErrorCode.USAGE]: 400, [ErrorCode.IMPORT_REFUSED]: 400, [ErrorCode.JSON_SCHEMA_UNSUPPORTED]: 400,
  [ErrorCode.UNAUTHORIZED]: 401, [ErrorCode.WRONG_PASSPHRASE]: 401, [ErrorCode.SETUP_CODE]: 401,
  [ErrorCode.PERMISSION]: 403, [ErrorCode.CSRF]: 403, [ErrorCode.CROSS_ORIGIN]: 403, [ErrorCode.POLICY_DENIED]: 403, [ErrorCode.EGRESS_DENIED]: 403, [ErrorCode.AIRLOCK_DISABLED]: 403,
  [ErrorCode.UNKNOWN_OP]: 404, [ErrorCode.MODEL_NOT_LOADED]: 404, [ErrorCode.MODEL_NOT_FOUND]: 404, [ErrorCode.CHAT_NOT_FOUND]: 404,
  [ErrorCode.UPLOAD_NOT_FOUND]: 404, [ErrorCode.JOB_NOT_FOUND]: 404, [ErrorCode.CATALOG_UNKNOWN]: 404, [ErrorCode.INCIDENT_NOT_FOUND]: 404,
  [ErrorCode.METHOD_NOT_ALLOWED]: 405, [ErrorCode.REQUEST_TIMEOUT]: 408,
  [ErrorCode.INVALID_STATE]: 409, [ErrorCode.DIGEST_MISMATCH]: 409, [ErrorCode.VAULT_UNINITIALIZED]: 409,
  [ErrorCode.PAYLOAD_TOO_LARGE]: 413, [ErrorCode.HTTP_HOST]: 421, [ErrorCode.MODEL_INVALID]: 422, [ErrorCode.VAULT_LOCKED]: 423, [ErrorCode.MODEL_SUSPENDED]: 423,
  [ErrorCode.NOT_ATTESTED]: 503,
  [ErrorCode.RATE_LIMITED]: 429, [ErrorCode.TOO_MANY_STREAMS]: 429, [ErrorCode.CANCELLED]: 499,
  [ErrorCode.WORKER_CRASHED]: 502, [ErrorCode.WORKER_PROTOCOL]: 502, [ErrorCode.EGRESS_FAILED]: 502,
  [ErrorCode.NOT_READY]: 503, [ErrorCode.NO_RESPONDER]: 503, [ErrorCode.SANDBOX_UNAVAILABLE]: 503, [ErrorCode.AIRLOCK_UNAVAILABLE]: 503,
  [ErrorCode.TIMEOUT]: 504,
  // An MCP approval refused: not allowed by policy, no such tool, or the definition is not the one reviewed.
  [ErrorCode.MCP_REFUSED]: 403, [ErrorCode.MCP_TOOL_UNAVAILABLE]: 404, [ErrorCode.MCP_TOOL_CHANGED]: 409, [ErrorCode.MCP_TOOL_POISONED]: 409,
  // The Agent page: no such task; an approval naming another step or intent (or a task no longer waiting); a disabled agent or a tool it does not offer; the live-task table full.
  [ErrorCode.PLAN_NOT_FOUND]: 404, [ErrorCode.APPROVAL_MISMATCH]: 409, [ErrorCode.AGENT_DISABLED]: 403, [ErrorCode.AGENT_FROZEN]: 423, [ErrorCode.AGENT_TOOL_REFUSED]: 403, [ErrorCode.AGENT_BUSY]: 429, [ErrorCode.IMAGE_INVALID]: 422, [ErrorCode.WORKER_MEMORY]: 507, [ErrorCode.IMAGE_NOT_FOUND]: 404,
  // RFC 4918 §11.5: 507 Insufficient Storage.
  [ErrorCode.STORAGE_FULL]: 507,
};

export function statusFor(code: string): number {
  return STATUS[code] ?? 500;
}

export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function readBody(req: IncomingMessage, routeMax: number): Promise<Buffer> {
  const maxBytes = Math.min(routeMax, MAX_FORWARDED_BODY);
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new SecaiError(ErrorCode.PAYLOAD_TOO_LARGE, `request body of ${declared} bytes exceeds ${maxBytes}`);
  // Events, not for-await: leaving a for-await loop destroys the socket, and the client would get a reset instead of the 413.
  return new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    const done = () => { req.off('data', onData); req.off('end', onEnd); req.off('error', onFail); req.off('close', onClose); };
    const onData = (chunk: Buffer) => {
      n += chunk.length;
      if (n <= maxBytes) { parts.push(chunk); return; }
      done();
      // The rest is read and dropped (bounded by the body deadline), so the client can read the answer.
      req.resume();
      reject(new SecaiError(ErrorCode.PAYLOAD_TOO_LARGE, `request body exceeds ${maxBytes} bytes`));
    };
    const onEnd = () => { done(); resolve(Buffer.concat(parts)); };
    const onFail = (err: Error) => { done(); reject(err); };
    const onClose = () => { done(); reject(new SecaiError(ErrorCode.CANCELLED, 'the client closed the request before its body ended')); };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onFail);
    req.once('close', onClose);
  });
}

export async function readJson<T = unknown>(req: IncomingMessage, maxBytes = 1024 * 1024): Promise<T> {
  const type = String(req.headers['content-type'] ?? '');
  const body = await readBody(req, maxBytes);
  if (!body.length) return {} as T;
  if (type && !type.startsWith('application/json')) throw new SecaiError(ErrorCode.BAD_MESSAGE, `expected application/json, got ${type}`);
  try {
    return JSON.parse(body.toString('utf8')) as T;
  } catch {
    throw new SecaiError(ErrorCode.BAD_MESSAGE, 'request body is not valid JSON');
  }
}

function match(pattern: string, path: string): Record<string, string> | undefined {
  const p = pattern.split('/');
  const a = path.split('/');
  if (p.length !== a.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    const seg = p[i]!;
    if (seg.startsWith(':')) {
      try { params[seg.slice(1)] = decodeURIComponent(a[i]!); } catch { return undefined; }
    } else if (seg !== a[i]) return undefined;
  }
  return params;
}

/**
 * Only loopback Host headers are served: a page on another origin that rebinds its DNS name to
 * 127.0.0.1 still sends its own name as Host, and is refused.
 */
export function hostAllowed(host: string | undefined, port: number): boolean {
  if (!host) return false;
  return [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`].includes(host.toLowerCase());
}

/** Cuts off a request whose body has not fully arrived within `ms`: 408 when nothing was answered yet, then the socket is closed. */
function bodyDeadline(req: IncomingMessage, res: ServerResponse, ms: number, shape: ErrorShape): void {
  if (req.complete) return;
  const timer = setTimeout(() => {
    if (req.complete) return;
    const e = { code: ErrorCode.REQUEST_TIMEOUT, message: `the request body did not arrive within ${ms} ms` };
    if (!res.headersSent) {
      res.setHeader('connection', 'close');
      sendJson(res, 408, shape(408, e));
    }
    // Closed, not kept alive: the rest of a trickled body is never waited for.
    req.socket.destroySoon();
    setTimeout(() => req.socket.destroy(), 1000).unref();
  }, ms);
  timer.unref();
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
}

export function createRouter(routes: readonly Route[], port: () => number, guard: Guard = closedGuard, timeouts: Pick<HttpTimeouts, 'bodyMs'> = HTTP_TIMEOUTS): RequestListener {
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let shape: ErrorShape = secaiErrorShape;
    try {
      if (!hostAllowed(req.headers.host, port())) throw new SecaiError(ErrorCode.HTTP_HOST, 'Host header is not a loopback address of this gateway');
      let methodMismatch = false;
      for (const r of routes) {
        const params = match(r.path, url.pathname);
        if (!params) continue;
        if (r.method !== req.method) { methodMismatch = true; continue; }
        shape = r.errorShape ?? secaiErrorShape;
        if (!r.longBody) {
          // No route but an upload takes more than one bus message, whether or not it reads its body.
          if (Number(req.headers['content-length'] ?? 0) > MAX_FORWARDED_BODY) throw new SecaiError(ErrorCode.PAYLOAD_TOO_LARGE, `request body of ${req.headers['content-length']} bytes exceeds ${MAX_FORWARDED_BODY}`);
          bodyDeadline(req, res, timeouts.bodyMs, shape);
        }
        const c = { req, res, params, url };
        await guard(r.access, c);
        await r.handler(c);
        return;
      }
      // A CORS preflight: only the local model API answers one, after the guard's origin check (allowlisted origins).
      if (req.method === 'OPTIONS' && methodMismatch) {
        const r = routes.find((x) => x.access === 'local-client' && match(x.path, url.pathname));
        if (r) {
          shape = r.errorShape ?? secaiErrorShape;
          await guard('local-client', { req, res, params: {}, url });
          res.writeHead(204);
          res.end();
          return;
        }
      }
      if (methodMismatch) throw new SecaiError(ErrorCode.METHOD_NOT_ALLOWED, `${req.method} is not allowed on ${url.pathname}`);
      throw new SecaiError(ErrorCode.UNKNOWN_OP, `no route for ${req.method} ${url.pathname}`);
    } catch (err) {
      const e = toErrorData(err);
      const status = statusFor(e.code);
      if (!res.headersSent) sendJson(res, status, shape(status, e));
      else res.end();
    }
  };
  // Node ignores what a listener returns: should even the error reply fail, the connection ends instead of hanging.
  return (req, res) => { route(req, res).catch((err: unknown) => res.destroy(err instanceof Error ? err : new Error(String(err)))); };
}

/**
 * The gateway's HTTP server with its time limits (HTTP_TIMEOUTS; tests pass small ones). Node checks
 * the header and request deadlines every `connectionsCheckingInterval`, so that is kept well under them.
 */
export function createGatewayServer(listener: RequestListener, t: HttpTimeouts = HTTP_TIMEOUTS): Server {
  const server = createServer({
    headersTimeout: t.headersMs,
    requestTimeout: t.requestMs,
    keepAliveTimeout: t.keepAliveMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(t.headersMs / 4))),
  }, listener);
  return server;
}
