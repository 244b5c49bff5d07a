// Who may talk to the MCP firewall's port: a loopback Host (no DNS rebinding), no browser Origin, and the bearer token from keys/.
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { writeFileAtomic } from '../../common/fs-atomic.js';

/** The token outside clients send as `Authorization: Bearer …`; made 0600 at first start, kept across restarts. */
export function clientToken(path: string): string {
  try {
    const t = readFileSync(path, 'utf8').trim();
    if (/^[A-Za-z0-9_-]{43}$/.test(t)) return t;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const t = randomBytes(32).toString('base64url');
  writeFileAtomic(path, t + '\n', 0o600);
  return t;
}

export const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** null when the request may proceed; otherwise the status and the reason (which names no secret). `tokenDigest`: digest(token). */
export function guardRequest(req: IncomingMessage, o: { port: number; tokenDigest: Buffer }): { status: number; reason: string } | null {
  const host = req.headers.host ?? '';
  const allowedHosts = [`127.0.0.1:${o.port}`, `localhost:${o.port}`, `[::1]:${o.port}`];
  if (!allowedHosts.includes(host.toLowerCase())) return { status: 421, reason: `Host ${host.slice(0, 64)} is not this loopback port` };
  // Browsers send Origin on every cross-origin POST; MCP clients are not browsers. A page on any port is refused.
  if (req.headers.origin !== undefined) return { status: 403, reason: 'requests from web pages are refused' };
  const auth = req.headers.authorization ?? '';
  const m = /^Bearer ([A-Za-z0-9_-]{1,256})$/.exec(auth);
  // Compared as digests: equal length, constant time, whatever the caller sent.
  if (!m || !timingSafeEqual(digest(m[1]!), o.tokenDigest)) return { status: 401, reason: 'missing or wrong bearer token (SECAI_HOME/keys/mcp-client.token)' };
  return null;
}
