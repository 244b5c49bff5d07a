// Test helper: serves a list of gateway routes through the gateway's real router on a free loopback port.
import type { AddressInfo } from 'node:net';
import { createGatewayServer, createRouter, HTTP_TIMEOUTS, type Guard, type HttpTimeouts, type Route } from '../../actors/gateway/http.js';

export interface RouteServer { url: string; close(): Promise<void> }

/** `timeouts`: the gateway's own limits by default; tests of slow clients pass small ones. */
export async function serveRoutes(routes: Route[], guard?: Guard, timeouts: HttpTimeouts = HTTP_TIMEOUTS): Promise<RouteServer> {
  let port = 0;
  const server = createGatewayServer(createRouter(routes, () => port, guard, timeouts), timeouts);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** A raw GET that keeps the path exactly as written (fetch and URL normalise `..` and `%2e`). */
export async function rawGet(url: string, path: string): Promise<{ status: number; type: string; body: string }> {
  const { request } = await import('node:http');
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET', headers: { host: u.host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}
