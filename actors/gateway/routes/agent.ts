// The web UI's Agent page: the agent's tasks, running and cancelling one for the session, and approving or denying a
// plan or step with the passphrase again (through auth, throttled like login; auth alone may record a web approval).
import type { IncomingMessage } from 'node:http';
import { serveOp } from '../../../bus/op-ref.js';
import { ErrorCode, SecaiError } from '../../../common/errors.js';
import { AGENT_MODES } from '../../../machines/agent-plan/agent-plan.machine.js';
import { agentManifest, authManifest } from '../../../runtime/catalog.js';
import { readJson, sendJson, type Route, type RouteContext } from '../http.js';
import { sessionCookie } from '../auth-guard.js';
import type { GatewayDeps } from '../deps.js';

export interface RunBody { task: string; mode?: (typeof AGENT_MODES)[number] }
export interface ActBody { step: number; intentHash: string; passphrase: string }

const PLAN_ID = /^plan-[A-Za-z0-9_-]{1,59}$/;
const HASH = /^[0-9a-f]{64}$/;

async function object(req: IncomingMessage, shape: string): Promise<Record<string, unknown>> {
  const b = await readJson<unknown>(req, 16 * 1024);
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new SecaiError(ErrorCode.BAD_MESSAGE, `expected a JSON object ${shape}`);
  return b as Record<string, unknown>;
}

/** `{ task, mode? }`, checked before anything reaches the bus. */
export async function runBody(req: IncomingMessage): Promise<RunBody> {
  const b = await object(req, '{ task, mode? }');
  const task = b['task'];
  if (typeof task !== 'string' || !task.trim() || task.length > 4096) throw new SecaiError(ErrorCode.BAD_MESSAGE, 'task is required (at most 4096 characters)');
  const mode = b['mode'];
  if (mode !== undefined && !(AGENT_MODES as readonly unknown[]).includes(mode)) throw new SecaiError(ErrorCode.BAD_MESSAGE, `mode must be one of ${AGENT_MODES.join(', ')}`);
  return { task, ...(mode !== undefined && { mode: mode as RunBody['mode'] & string }) };
}

/** `{ step, intentHash, passphrase }`: the step (-1 the plan) and the intent hash the page showed, and the passphrase again. */
export async function actBody(req: IncomingMessage): Promise<ActBody> {
  const b = await object(req, '{ step, intentHash, passphrase }');
  const step = b['step'];
  if (typeof step !== 'number' || !Number.isInteger(step) || step < -1 || step > 63) throw new SecaiError(ErrorCode.BAD_MESSAGE, 'step must be the step waiting (-1: the plan)');
  if (typeof b['intentHash'] !== 'string' || !HASH.test(b['intentHash'])) throw new SecaiError(ErrorCode.BAD_MESSAGE, 'intentHash must be the 64 hex digits the page showed');
  const passphrase = b['passphrase'];
  if (typeof passphrase !== 'string' || !passphrase || passphrase.length > 1024) throw new SecaiError(ErrorCode.BAD_MESSAGE, 'passphrase is required: acting on an agent step needs it again');
  return { step, intentHash: b['intentHash'], passphrase };
}

function planIdOf(c: RouteContext): string {
  const id = c.params.planId ?? '';
  if (!PLAN_ID.test(id)) throw new SecaiError(ErrorCode.BAD_MESSAGE, 'not a plan id');
  return id;
}

export function agentRoutes(d: GatewayDeps): Route[] {
  const sid = (c: RouteContext) => (sessionCookie(c.req) ?? '').slice(0, 64);
  /** The session's handle (the guard validated it a moment ago): what `by` names for a run or a cancel. */
  const handleOf = async (c: RouteContext) => {
    const csrf = c.req.headers['x-csrf-token'];
    const r = await d.bus.call(serveOp(authManifest, 'validate'), { sessionId: sid(c), ...(typeof csrf === 'string' && { csrf: csrf.slice(0, 128) }) });
    return r.handle;
  };
  const act = (action: 'approve' | 'deny') => async (c: RouteContext) => {
    const planId = planIdOf(c);
    const b = await actBody(c.req);
    sendJson(c.res, 200, await d.bus.call(serveOp(authManifest, 'agent_act'), { sessionId: sid(c), planId, action, ...b }, 60_000));
  };
  return [
    {
      method: 'GET', path: '/api/agent', access: 'session',
      handler: async ({ res }) => sendJson(res, 200, await d.bus.call(serveOp(agentManifest, 'status'), {})),
    },
    {
      method: 'POST', path: '/api/agent/run', access: 'session',
      handler: async (c) => {
        const b = await runBody(c.req);
        sendJson(c.res, 200, await d.bus.call(serveOp(agentManifest, 'run_web'), { ...b, session: await handleOf(c) }));
      },
    },
    { method: 'POST', path: '/api/agent/:planId/approve', access: 'session', handler: act('approve') },
    { method: 'POST', path: '/api/agent/:planId/deny', access: 'session', handler: act('deny') },
    {
      method: 'POST', path: '/api/agent/:planId/cancel', access: 'session',
      handler: async (c) => sendJson(c.res, 200, await d.bus.call(serveOp(agentManifest, 'cancel_web'), { planId: planIdOf(c), session: await handleOf(c) })),
    },
  ];
}
