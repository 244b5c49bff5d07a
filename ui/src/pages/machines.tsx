// Machines: every actor's statechart, its current state highlighted live, and its recent transitions.
import { useEffect, useState } from 'preact/hooks';
import { api, describeError } from '../api.js';
import { recentStates, subscribeLive, type Snapshot } from '../live.js';
import { selfTransitions, Statechart, type GraphNode } from '../statechart.js';
import { nextJobs, type JobView } from '../job-states.js';

interface MachineInfo {
  actor: string;
  graph?: GraphNode;
  /** The machines this actor spawns (the quarantine's job machine), drawn per running instance. */
  children?: Record<string, { graph?: GraphNode }>;
  snapshot?: Snapshot | null;
  error?: { code: string; message: string };
}

const RECENT = 12;

/** A state value: a name, or for parallel regions (the supervisor: one per actor slot) "region: state, …", which wraps. */
function fmtValue(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object') return Object.entries(v).map(([k, x]) => `${k}: ${fmtValue(x)}`).join(', ');
  return JSON.stringify(v);
}

export function MachinesPage() {
  const [machines, setMachines] = useState<MachineInfo[] | null>(null);
  const [error, setError] = useState('');
  const [current, setCurrent] = useState<Record<string, Snapshot>>({});
  const [history, setHistory] = useState<Record<string, Snapshot[]>>({});
  const [connected, setConnected] = useState(false);
  const [jobs, setJobs] = useState<JobView[]>([]);

  useEffect(() => {
    api<{ machines: MachineInfo[] }>('GET', '/api/machines').then((r) => {
      setMachines(r.machines);
      setCurrent((c) => {
        const next = { ...c };
        for (const m of r.machines) if (m.snapshot && !next[m.actor]) next[m.actor] = m.snapshot;
        return next;
      });
      const q = r.machines.find((m) => m.actor === 'quarantine')?.snapshot;
      if (q) setJobs((j) => nextJobs(j, q.context));
    }, (e: unknown) => setError(describeError(e)));
    const add = (s: Snapshot) => {
      setCurrent((c) => (c[s.actor] && c[s.actor]!.seq > s.seq && c[s.actor]!.at > s.at ? c : { ...c, [s.actor]: s }));
      setHistory((h) => ({ ...h, [s.actor]: [...(h[s.actor] ?? []), s].slice(-RECENT) }));
      if (s.actor === 'quarantine') setJobs((j) => nextJobs(j, s.context));
    };
    recentStates.forEach(add);
    return subscribeLive({ state: add, status: setConnected });
  }, []);

  return (
    <section aria-labelledby="machines-h">
      <h1 id="machines-h" tabIndex={-1}>Machines</h1>
      <p class="lede">Each actor is a state machine in its own process. The highlighted state is the current one, updated live from <code>secai.state.&lt;actor&gt;</code>. <span role="status" data-testid="live" class={connected ? 'ok' : 'muted'}>{connected ? 'live' : 'connecting…'}</span></p>
      {error && <p role="alert" class="error">{error}</p>}
      {!machines && !error && <p aria-busy="true">Loading machines…</p>}
      {machines?.map((m) => {
        const snap = current[m.actor];
        const recent = history[m.actor] ?? [];
        const loops = m.graph ? selfTransitions(m.graph) : [];
        return (
          <article key={m.actor} class="machine card" aria-labelledby={`m-${m.actor}`} data-actor={m.actor}>
            <header>
              <h2 id={`m-${m.actor}`}>{m.actor}</h2>
              <span class="badge" data-testid="current-state">{snap ? fmtValue(snap.value) : 'no state yet'}</span>
            </header>
            {m.error && <p role="alert" class="error">{m.error.message} ({m.error.code})</p>}
            {m.graph && (
              <div class="chart-scroll" tabIndex={0} aria-label={`${m.actor} statechart (scrollable)`}>
                <Statechart actor={m.actor} graph={m.graph} value={snap?.value ?? null} lastEvent={snap?.event} />
              </div>
            )}
            {m.children?.['job']?.graph && <JobCharts graph={m.children['job'].graph} jobs={jobs} />}
            {loops.length > 0 && (
              <p class="muted">Handled without leaving the state: {loops.map((l) => `${l.label} (in ${l.state})`).join(', ')}</p>
            )}
            <h3>Recent transitions</h3>
            {recent.length === 0 ? <p class="muted">None since this page opened.</p> : (
              <table class="transitions">
                <thead><tr><th scope="col">time</th><th scope="col">event</th><th scope="col">to state</th></tr></thead>
                <tbody>
                  {[...recent].reverse().map((s) => (
                    <tr key={`${s.seq}-${s.at}`} data-event={s.event} data-state={fmtValue(s.value)}>
                      <td>{new Date(s.at).toLocaleTimeString()}</td>
                      <td><code>{s.event}</code></td>
                      <td>{fmtValue(s.value)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </article>
        );
      })}
    </section>
  );
}

/** Each quarantine job this page saw: its own machine, the current stage highlighted, and the states it went through. */
function JobCharts(p: { graph: GraphNode; jobs: JobView[] }) {
  return (
    <section class="jobs" aria-label="quarantine jobs">
      <h3>Jobs</h3>
      {p.jobs.length === 0 ? <p class="muted">No job since this page opened: import a model to see its machine move through the stages.</p> : (
        [...p.jobs].reverse().map((j) => (
          <article key={j.id} class="job card" data-job={j.id} data-job-state={j.label} aria-labelledby={`job-${j.id}`}>
            <header>
              <h4 id={`job-${j.id}`}>{j.name}</h4>
              <span class="badge" data-testid="job-state">{j.label}</span>
            </header>
            <ol class="job-seen" aria-label="states seen">
              {j.seen.map((label, i) => <li key={`${i}-${label}`} data-state={label}>{label}</li>)}
            </ol>
            <div class="chart-scroll" tabIndex={0} aria-label={`job ${j.name} statechart (scrollable)`}>
              <Statechart actor={`job-${j.id}`} graph={p.graph} value={j.value} />
            </div>
          </article>
        ))
      )}
    </section>
  );
}
