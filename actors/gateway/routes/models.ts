// The web UI's Models page: promoted models (registry list, verify) and quarantine jobs with their reports. Read-only.
import { ErrorCode, SecaiError } from '../../../common/errors.js';
import { sendJson, type Route } from '../http.js';
import type { GatewayDeps } from '../deps.js';

const NAME = /^[^\0/\\]{1,128}$/;
const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function modelsRoutes(d: GatewayDeps): Route[] {
  return [
    { method: 'GET', path: '/api/models', access: 'session', handler: async ({ res }) => sendJson(res, 200, await d.bus.request('registry', 'list')) },
    {
      // Re-hashes the promoted copy against the signed manifest; changes nothing (removal stays a signed command).
      method: 'POST', path: '/api/models/:name/verify', access: 'session',
      handler: async ({ res, params }) => {
        const name = params.name ?? '';
        if (!NAME.test(name)) throw new SecaiError(ErrorCode.USAGE, 'not a model name');
        sendJson(res, 200, await d.bus.request('registry', 'verify', { name }, 600_000));
      },
    },
    { method: 'GET', path: '/api/quarantine/jobs', access: 'session', handler: async ({ res }) => sendJson(res, 200, await d.bus.request('quarantine', 'list')) },
    {
      method: 'GET', path: '/api/quarantine/jobs/:id', access: 'session',
      handler: async ({ res, params }) => {
        const id = params.id ?? '';
        if (!JOB_ID.test(id)) throw new SecaiError(ErrorCode.USAGE, 'not a job id');
        sendJson(res, 200, await d.bus.request('quarantine', 'get', { id }));
      },
    },
  ];
}
