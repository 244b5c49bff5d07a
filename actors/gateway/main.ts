// Gateway actor process: wiring. The listener's lifecycle (opening → serving → closing) and its port live in machines/gateway.
import type { Server } from 'node:http';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { fromPromise, waitFor } from 'xstate';
import { gatewayMachine } from '../../machines/gateway/gateway.machine.js';
import { main } from '../../runtime/host.js';
import { createGatewayServer, createRouter } from './http.js';
import { authGuard } from './auth-guard.js';
import { configSection } from '../../runtime/config-section.js';
import { secaiEnv } from '../../common/env.js';
import { gatewayManifest } from './manifest.js';
import { allRoutes } from './routes/index.js';

main<typeof gatewayMachine, typeof gatewayManifest>({
  manifest: gatewayManifest,
  machine: async (ctx) => {
    // policy.yaml `local_api` from the policy actor; the guard reads it per request, so a reload applies to the next one.
    const localApi = await configSection(ctx, 'local_api', () => undefined);
    return gatewayMachine.provide({
      actors: {
        listen: fromPromise(async (): Promise<{ port: number; server: unknown }> => {
          const { httpPort: want, httpHost: host } = secaiEnv();
          const routes = allRoutes({ bus: ctx.bus, log: ctx.log, paths: ctx.paths, configDir: ctx.configDir });
          // Known once listening; the routes ask for it per request (origin checks), never before.
          let bound = 0;
          const port = () => bound;
          // Header, body and keep-alive deadlines (HTTP_TIMEOUTS): a client that trickles its request holds nothing for long.
          const server = createGatewayServer(createRouter(routes, port, authGuard(ctx.bus, { port, get localApi() { return localApi.value; } })));
          await new Promise<void>((resolve, reject) => {
            server.once('error', reject);
            server.listen(want, host, () => resolve());
          });
          const addr = server.address();
          bound = typeof addr === 'object' && addr ? addr.port : want;
          const url = `http://${host === '::1' ? '[::1]' : host}:${bound}`;
          ctx.log.info({ url }, 'gateway listening');
          writeFileAtomic(join(ctx.paths.run, 'http.url'), url + '\n', 0o600);
          void ctx.emitOrLog('listening', { port: bound, url });
          return { port: bound, server };
        }),
        close: fromPromise(({ input }) => new Promise<void>((resolve) => {
          const server = input.server as Server | null;
          if (server) server.close(() => resolve());
          else resolve();
        })),
      },
    });
  },
  publicContext: (c) => ({ port: c.port, error: c.error }),
  ops: (ctx) => ({ status: () => ({ port: ctx.actor.getSnapshot().context.port, url: `http://127.0.0.1:${ctx.actor.getSnapshot().context.port}` }) }),
  start: async (ctx) => {
    const snap = await waitFor(ctx.actor, (s) => s.matches('serving') || s.matches('failed'), { timeout: 10_000 });
    if (snap.matches('failed')) throw new Error(`gateway cannot listen: ${snap.context.error}`);
  },
  stop: async (ctx) => {
    ctx.actor.send({ type: 'gateway.stop' });
    await waitFor(ctx.actor, (s) => s.status === 'done', { timeout: 5000 }).catch((err: unknown) => ctx.log.warn({ err }, 'gateway did not close in time'));
  },
});
