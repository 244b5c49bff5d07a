// The web UI's Models page: promoted models (registry list, verify, removal with the passphrase) and quarantine jobs.
import { serveOp } from '../../../bus/op-ref.js';
import { authManifest } from '../../../runtime/catalog.js';
import { quarantineManifest, registryManifest } from '../../../runtime/catalog.js';
import { ErrorCode, SecaiError } from '../../../common/errors.js';
import { readJson, sendJson, type Route } from '../http.js';
import type { GatewayDeps } from '../deps.js';
import { sessionCookie } from '../auth-guard.js';
import { compile } from '../../../bus/schema.js';
import { registryName } from '../../../contracts/registry-entry.js';

const NAME = /^[^\0/\\]{1,128}$/;
/** A registry name exactly as the registry's manifest schema allows it: anything else is refused before the bus. */
const isRegistryName = compile(registryName);
const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function modelsRoutes(d: GatewayDeps): Route[] {
  return [
    { method: 'GET', path: '/api/models', access: 'session', handler: async ({ res }) => sendJson(res, 200, await d.bus.call(serveOp(registryManifest, 'list'), {})) },
    {
      // Re-hashes the promoted copy against the signed manifest; changes nothing (removal stays a signed command).
      method: 'POST', path: '/api/models/:name/verify', access: 'session',
      handler: async ({ res, params }) => {
        const name = params.name ?? '';
        if (!NAME.test(name)) throw new SecaiError(ErrorCode.USAGE, 'not a model name');
        sendJson(res, 200, await d.bus.call(serveOp(registryManifest, 'verify'), { name }, 600_000));
      },
    },
    {
      // Removal needs the passphrase again (auth.remove_model: throttled like login): a session cookie alone is not enough.
      method: 'DELETE', path: '/api/models/:name', access: 'session',
      handler: async ({ req, res, params }) => {
        const name = params.name ?? '';
        if (!isRegistryName(name)) throw new SecaiError(ErrorCode.USAGE, 'not a model name (A-Z a-z 0-9 . _ : -, at most 128, starting with a letter or digit)');
        const b = await readJson<{ passphrase?: unknown }>(req, 8192);
        if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new SecaiError(ErrorCode.BAD_MESSAGE, 'expected a JSON object { passphrase }');
        if (typeof b.passphrase !== 'string' || !b.passphrase) throw new SecaiError(ErrorCode.BAD_MESSAGE, 'passphrase is required: removing a model needs it again');
        const sessionId = (sessionCookie(req) ?? '').slice(0, 64);
        const removed = await d.bus.call(serveOp(authManifest, 'remove_model'), { sessionId, name, passphrase: b.passphrase }, 120_000);
        sendJson(res, 200, { removed });
      },
    },
    { method: 'GET', path: '/api/quarantine/jobs', access: 'session', handler: async ({ res }) => sendJson(res, 200, await d.bus.call(serveOp(quarantineManifest, 'list'), {})) },
    {
      method: 'GET', path: '/api/quarantine/jobs/:id', access: 'session',
      handler: async ({ res, params }) => {
        const id = params.id ?? '';
        if (!JOB_ID.test(id)) throw new SecaiError(ErrorCode.USAGE, 'not a job id');
        sendJson(res, 200, await d.bus.call(serveOp(quarantineManifest, 'get'), { id }));
      },
    },
    {
      // Stops a URL import still downloading; any other job answers 409 (SECAI_E_INVALID_STATE).
      method: 'POST', path: '/api/quarantine/jobs/:id/cancel', access: 'session',
      handler: async ({ res, params }) => {
        const id = params.id ?? '';
        if (!JOB_ID.test(id)) throw new SecaiError(ErrorCode.USAGE, 'not a job id');
        sendJson(res, 200, await d.bus.call(serveOp(quarantineManifest, 'cancel'), { id }));
      },
    },
  ];
}
