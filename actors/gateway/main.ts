// Gateway actor process: the only HTTP listener of the appliance, on loopback.
import type { Server } from 'node:http';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { fromPromise, waitFor } from 'xstate';
import { gatewayMachine } from '../../machines/gateway/gateway.machine.js';
import { main } from '../../runtime/host.js';
import { createGatewayServer, createRouter } from './http.js';
import { authGuard } from './auth-guard.js';
import { loadLocalApiPolicy } from './local-api-policy.js';
import { gatewayManifest } from './manifest.js';
import { allRoutes } from './routes/index.js';

export const DEFAULT_HTTP_PORT = 8480;

let server: Server | undefined;
let boundPort = 0;

main({
  manifest: gatewayManifest,
  machine: (ctx) => gatewayMachine.provide({
    actors: {
      listen: fromPromise(async () => {
        const want = Number(process.env.SECAI_HTTP_PORT ?? DEFAULT_HTTP_PORT);
        const host = process.env.SECAI_HTTP_HOST === '::1' ? '::1' : '127.0.0.1';
        const routes = allRoutes({ bus: ctx.bus, log: ctx.log, paths: ctx.paths, configDir: ctx.configDir });
        const port = () => boundPort;
        // Header, body and keep-alive deadlines (HTTP_TIMEOUTS): a client that trickles its request holds nothing for long.
        server = createGatewayServer(createRouter(routes, port, authGuard(ctx.bus, { port, localApi: loadLocalApiPolicy(ctx.configDir) })));
        await new Promise<void>((resolve, reject) => {
          server!.once('error', reject);
          server!.listen(want, host, () => resolve());
        });
        const addr = server.address();
        boundPort = typeof addr === 'object' && addr ? addr.port : want;
        const url = `http://${host === '::1' ? '[::1]' : host}:${boundPort}`;
        ctx.log.info({ url }, 'gateway listening');
        writeFileAtomic(join(ctx.paths.run, 'http.url'), url + '\n', 0o600);
        void ctx.emit('listening', { port: boundPort, url }).catch(() => {});
        return { port: boundPort };
      }),
      close: fromPromise(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))),
    },
  }),
  publicContext: (c) => ({ port: c.port, error: c.error }),
  ops: () => ({ status: () => ({ port: boundPort, url: `http://127.0.0.1:${boundPort}` }) }),
  start: async (ctx) => {
    const snap = await waitFor(ctx.actor, (s) => s.matches('serving') || s.matches('failed'), { timeout: 10_000 });
    if (snap.matches('failed')) throw new Error(`gateway cannot listen: ${snap.context.error}`);
  },
  stop: async (ctx) => {
    ctx.actor.send({ type: 'gateway.stop' });
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  },
});
