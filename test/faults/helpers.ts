// Shared by the fault tests: polling an observable state (never sleeping for a race), status and health reads.
import type { Appliance } from '../helpers/appliance.js';
import { httpFetch } from '../helpers/http.js';

export async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface SlotStatus { name: string; pid: number; ready: boolean; restarts: number; slot: string; reason: string }
export interface Status { appliance: { bus: { pid: number; restarts: number; responsive: boolean } }; health: { ok: boolean; state: string; reasons: string[] }; actors: SlotStatus[] }

export function status(a: Appliance): Status {
  const r = a.ctl(['status', '--json']);
  if (r.code !== 0) throw new Error(r.stderr || r.stdout);
  return r.json() as Status;
}

export function slot(a: Appliance, name: string): SlotStatus {
  const s = status(a).actors.find((x) => x.name === name);
  if (!s) throw new Error(`no actor ${name}`);
  return s;
}

export async function health(a: Appliance): Promise<{ status: number; body: { ok: boolean; state: string; reasons: string[]; storage: string } }> {
  const r = await httpFetch(`${a.httpUrl}/api/health`, { signal: AbortSignal.timeout(5000) });
  return { status: r.status, body: await r.json() as never };
}

/** Continues a stopped process (teardown: a stopped process ignores SIGTERM until continued). */
export function resume(pid: number): void {
  try { process.kill(pid, 'SIGCONT'); } catch { /* lint-ok: already gone */ }
}
