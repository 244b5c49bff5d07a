// Security: incidents live (with acknowledge/resolve), integrity and attestation, and the health of every actor process and of the bus.
import { useEffect, useState } from 'preact/hooks';
import { api, describeError } from '../api.js';
import { PanicCard } from '../panic.js';
import { IncidentsCard } from './incidents.js';
import { AttestationCard, IntegrityCard } from './trust-state.js';

interface ActorStatus { name: string; pid: number; running: boolean; ready: boolean; restarts: number; uptimeMs: number; state: unknown; status: string; lastEvent: string }
interface StatusReply {
  appliance: { pid: number; uptimeMs: number; headless: boolean; version: string; bus: { url: string; pid: number; restarts: number } };
  actors: ActorStatus[];
}

const REFRESH_MS = 3000;

export function fmtDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function health(a: ActorStatus): { text: string; cls: string } {
  if (!a.running) return { text: 'down', cls: 'bad' };
  if (!a.ready) return { text: 'starting', cls: 'muted' };
  return a.restarts > 0 ? { text: 'up (restarted)', cls: 'warn' } : { text: 'up', cls: 'ok' };
}

export function SecurityPage() {
  const [status, setStatus] = useState<StatusReply | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    const load = () => api<StatusReply>('GET', '/api/status').then((s) => { if (live) { setStatus(s); setError(''); } }, (e: unknown) => live && setError(describeError(e)));
    void load();
    const t = setInterval(load, REFRESH_MS);
    return () => { live = false; clearInterval(t); };
  }, []);
  return (
    <section aria-labelledby="security-h">
      <h1 id="security-h" tabIndex={-1}>Security</h1>
      <IncidentsCard />
      <div class="trust-state">
        <IntegrityCard />
        <AttestationCard />
      </div>
      {error && <p role="alert" class="error">{error}</p>}
      {!status && !error && <p aria-busy="true">Loading…</p>}
      {status && (
        <>
          <div class="card">
            <h2>Appliance</h2>
            <p>Version {status.appliance.version}, up {fmtDuration(status.appliance.uptimeMs)}, {status.appliance.headless ? 'headless' : 'with web UI'}.
              Bus (loopback only) pid {status.appliance.bus.pid}, <span data-testid="bus-restarts">{status.appliance.bus.restarts}</span> restarts.</p>
          </div>
          <div class="card">
            <h2>Actors</h2>
            <p class="muted">Every actor is its own process with its own bus identity; the supervisor restarts one that dies, with backoff.</p>
            <table class="actors">
              <thead><tr><th scope="col">actor</th><th scope="col">health</th><th scope="col">state</th><th scope="col">restarts</th><th scope="col">uptime</th><th scope="col">pid</th></tr></thead>
              <tbody>
                {status.actors.map((a) => {
                  const h = health(a);
                  return (
                    <tr key={a.name} data-actor={a.name}>
                      <th scope="row">{a.name}</th>
                      <td class={h.cls}>{h.text}</td>
                      <td><code>{typeof a.state === 'string' ? a.state : JSON.stringify(a.state)}</code></td>
                      <td data-testid="restarts">{a.restarts}</td>
                      <td>{a.ready ? fmtDuration(a.uptimeMs) : '–'}</td>
                      <td>{a.pid}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
      <PanicCard />
    </section>
  );
}
