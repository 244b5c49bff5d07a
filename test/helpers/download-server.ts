// Test helper: a local model server on 127.0.0.1 (HTTP, or HTTPS with a throwaway openssl certificate) whose
// paths misbehave on purpose: big, endless, stalled, cut short, redirected. It records every request it saw end.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const MiB = 1024 * 1024;

export interface ModelServer {
  port: number;
  /** The 8 MiB body of /m/big.gguf and its SHA-256. */
  big: Buffer;
  bigSha256: string;
  /** Requests seen, by path. */
  hits: string[];
  /** Resolves when the server side of the next request for `path` is closed (finished or aborted), with how. */
  closed(path: string): Promise<{ finished: boolean; sent: number }>;
  /** PEM of the certificate (HTTPS only): give it to the airlock as NODE_EXTRA_CA_CERTS. */
  certPath?: string;
  stop(): Promise<void>;
}

function handler(big: Buffer, hits: string[], waiters: Map<string, ((r: { finished: boolean; sent: number }) => void)[]>, files: Record<string, Buffer>) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0]!;
    hits.push(path);
    const file = Object.hasOwn(files, path) ? files[path] : undefined;
    if (file) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(file.byteLength) });
      res.end(file);
      return;
    }
    let sent = 0;
    res.on('close', () => {
      const w = waiters.get(path)?.shift();
      w?.({ finished: res.writableFinished, sent });
    });
    const write = (b: Buffer) => { sent += b.byteLength; return res.write(b); };
    // Writes 64 KiB pieces while the client reads, until `total` (or forever) or the connection goes.
    const pour = (total: number) => {
      const piece = Buffer.alloc(64 * 1024, 7);
      const go = () => {
        while (!res.destroyed && (total === Infinity || sent < total)) {
          if (!write(piece)) { res.once('drain', go); return; }
        }
        if (!res.destroyed) res.end();
      };
      go();
    };
    switch (path) {
      case '/m/big.gguf':
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(big.byteLength) });
        sent = big.byteLength;
        res.end(big);
        return;
      case '/m/huge.gguf': // no Content-Length: the size is only known by counting
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        pour(64 * MiB);
        return;
      case '/m/declared-huge.gguf':
        res.writeHead(200, { 'content-length': String(64 * MiB) });
        pour(64 * MiB);
        return;
      case '/m/endless.gguf':
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        pour(Infinity);
        return;
      case '/m/trickle.gguf': { // 1 KiB every 50 ms, forever: never idle, never big
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const timer = setInterval(() => { if (res.destroyed) clearInterval(timer); else write(Buffer.alloc(1024, 9)); }, 50);
        res.on('close', () => clearInterval(timer));
        return;
      }
      case '/m/silent.gguf': // never answers: not even headers
        return;
      case '/m/stall.gguf': // 128 KiB, then nothing, connection kept open
        res.writeHead(200, { 'content-length': String(4 * MiB) });
        write(Buffer.alloc(128 * 1024, 3));
        return;
      case '/m/short.gguf': // promises 4 MiB, sends 1 MiB, hangs up
        res.writeHead(200, { 'content-length': String(4 * MiB) });
        write(Buffer.alloc(MiB, 5));
        res.socket?.end(() => res.socket?.destroy());
        return;
      case '/m/redirect.gguf':
        res.writeHead(302, { location: '/m/big.gguf' });
        res.end();
        return;
      default:
        res.writeHead(404);
        res.end();
    }
  };
}

/** `files`: more paths served whole (e.g. a real tiny GGUF for an import that should be promoted). */
export async function startModelServer(o: { tls?: { host: string }; files?: Record<string, Buffer> } = {}): Promise<ModelServer> {
  const big = randomBytes(8 * MiB);
  const hits: string[] = [];
  const waiters = new Map<string, ((r: { finished: boolean; sent: number }) => void)[]>();
  let dir: string | undefined;
  let server: Server;
  let certPath: string | undefined;
  if (o.tls) {
    dir = mkdtempSync(join(tmpdir(), 'secai-tls-'));
    const keyPath = join(dir, 'key.pem');
    certPath = join(dir, 'cert.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyPath, '-out', certPath,
      '-subj', `/CN=${o.tls.host}`, '-addext', `subjectAltName=DNS:${o.tls.host}`, '-days', '1',
    ], { stdio: 'ignore' });
    server = createTlsServer({ key: readFileSync(keyPath), cert: readFileSync(certPath) }, handler(big, hits, waiters, o.files ?? {}));
  } else {
    server = createServer(handler(big, hits, waiters, o.files ?? {}));
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    big,
    bigSha256: createHash('sha256').update(big).digest('hex'),
    hits,
    ...(certPath && { certPath }),
    closed(path) {
      return new Promise((r) => { const l = waiters.get(path) ?? []; l.push(r); waiters.set(path, l); });
    },
    stop: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => { if (dir) rmSync(dir, { recursive: true, force: true }); r(); });
    }),
  };
}
