// Agent: run a task, follow each task through the plan machine's states, read every step's plan and evidence, and
// approve or deny the plan or the step waiting with the passphrase again (through auth; policy mints only then).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, describeError } from '../api.js';
import { asyncHandler } from '../async-handler.js';

const MODES = ['standard', 'offline_only', 'online_assisted', 'sensitive'] as const;
type TaskState = 'planning' | 'pending_approval' | 'running' | 'completed' | 'failed' | 'cancelled' | 'frozen';
interface Step { index: number; tool: string; args: Record<string, unknown>; why: string; intentHash: string }
interface Evidence { tool: string; decision: 'allow' | 'ask' | 'deny' | null; rule: string | null; nonce: string | null; approvedBy: string | null; resultHash: string | null; summary: string | null; error: string | null }
type Budgets = Record<'steps' | 'tokens' | 'wall_seconds' | 'files_read' | 'files_written' | 'bytes_out', number>;
interface Plan {
  planId: string; task: string; mode: string; tools: string[]; state: TaskState; phase: string | null; step: number; awaiting: number | null;
  plan: Step[] | null; planIntentHash: string | null; planApprovedBy: string | null; evidence: Evidence[]; budgets: Budgets; used: Budgets;
  reason: string | null; detail: string | null; by: string; createdAt: number;
}
interface AgentView { enabled: boolean; plans: Plan[]; lastFreeze: { incidentId: string; at: number; frozen: number } | null }
/** What is waiting for the operator: the plan (step -1) or one step, with the intent hash the approval binds. */
interface Waiting { plan: Plan; step: number; intentHash: string }

const REFRESH_MS = 1000;
/** The plan machine's top-level states in their order, then the step sub-states while running (machines/agent-plan). */
const STATES: readonly TaskState[] = ['planning', 'pending_approval', 'running', 'completed', 'failed', 'cancelled', 'frozen'];
const PHASES = ['checking', 'deciding', 'awaiting_approval', 'calling', 'observing'] as const;
const ENDED: readonly TaskState[] = ['completed', 'failed', 'cancelled', 'frozen'];
const when = (ms: number) => new Date(ms).toLocaleTimeString();
const dash = (v: string | null) => v ?? '–';

function waitingOf(p: Plan): Waiting | null {
  if (p.awaiting === null || !p.plan) return null;
  if (p.awaiting === -1) return p.planIntentHash ? { plan: p, step: -1, intentHash: p.planIntentHash } : null;
  const s = p.plan[p.awaiting];
  return s ? { plan: p, step: p.awaiting, intentHash: s.intentHash } : null;
}

/** The states as boxes, the current one marked (and, while running, the step's sub-state). */
function StateRow({ p }: { p: Plan }) {
  return (
    <div data-testid="agent-states">
      <ol class="agent-states" aria-label="task state">
        {STATES.map((s) => <li key={s} data-state={s} aria-current={p.state === s ? 'step' : undefined} class={p.state === s ? 'current' : ''}>{s.replace('_', ' ')}</li>)}
      </ol>
      {p.state === 'running' && (
        <ol class="agent-states phases" aria-label={`step ${p.step} state`}>
          {PHASES.map((s) => <li key={s} data-phase={s} aria-current={p.phase === s ? 'step' : undefined} class={p.phase === s ? 'current' : ''}>{s.replace('_', ' ')}</li>)}
        </ol>
      )}
    </div>
  );
}

/** A step's arguments as they will be used: for fs.write, the path and the whole content that will be written. */
function Args({ step }: { step: Step }) {
  if (step.tool === 'fs.write') {
    return (
      <div class="agent-write">
        <p>writes <code data-testid="write-path">{String(step.args['path'] ?? '')}</code>:</p>
        <pre class="evidence" data-testid="write-content">{String(step.args['content'] ?? '')}</pre>
      </div>
    );
  }
  return <pre class="evidence">{JSON.stringify(step.args, null, 2)}</pre>;
}

function ActDialog({ w, action, onDone, onClose }: { w: Waiting; action: 'approve' | 'deny'; onDone: (msg: string) => void; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const pass = useRef<HTMLInputElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
    pass.current?.focus();
  }, []);
  const what = w.step === -1 ? 'the plan' : `step ${w.step}`;
  const submit = asyncHandler(async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true); setError('');
    try {
      const r = await api<{ state: string }>('POST', `/api/agent/${w.plan.planId}/${action}`, { step: w.step, intentHash: w.intentHash, passphrase: pass.current?.value ?? '' });
      dialog.current?.close();
      onDone(`${w.plan.planId} ${what} ${action === 'approve' ? 'approved' : 'denied'}: the task is ${r.state}.`);
    } catch (err) {
      setError(describeError(err));
      if (pass.current) { pass.current.value = ''; pass.current.focus(); }
    } finally { setBusy(false); }
  });
  const verb = action === 'approve' ? 'Approve' : 'Deny';
  return (
    <dialog ref={dialog} class="confirm remove-dialog" aria-labelledby="agent-act-h" aria-describedby="agent-act-d" onClose={onClose}>
      <form onSubmit={submit}>
        <h3 id="agent-act-h">{verb} {what}?</h3>
        <p id="agent-act-d">{action === 'approve'
          ? <>Policy then mints a one-use capability for exactly this {w.step === -1 ? 'plan' : 'step'}, intent <code class="wrap">{w.intentHash}</code>, and the agent runs it.</>
          : <>The task fails and nothing more of it runs.</>} Enter the passphrase to confirm.</p>
        <label for="agent-act-pass">Passphrase</label>
        <input id="agent-act-pass" ref={pass} type="password" autocomplete="current-password" required />
        {error && <p role="alert" class="error" data-testid="act-error">{error}</p>}
        <div class="row">
          <button type="submit" class="danger" disabled={busy}>{busy ? 'Sending…' : `Yes, ${action}`}</button>
          <button type="button" class="secondary" onClick={() => dialog.current?.close()}>Cancel</button>
        </div>
      </form>
    </dialog>
  );
}

function RunForm({ onStarted }: { onStarted: (planId: string) => void }) {
  const task = useRef<HTMLTextAreaElement>(null);
  const mode = useRef<HTMLSelectElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const submit = asyncHandler(async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true); setError('');
    try {
      const r = await api<{ planId: string }>('POST', '/api/agent/run', { task: task.current?.value ?? '', mode: mode.current?.value ?? 'standard' });
      if (task.current) task.current.value = '';
      onStarted(r.planId);
    } catch (err) { setError(describeError(err)); } finally { setBusy(false); }
  });
  return (
    <form class="card" onSubmit={submit} aria-labelledby="agent-run-h">
      <h2 id="agent-run-h">New task</h2>
      <label for="agent-task">Task</label>
      <textarea id="agent-task" ref={task} rows={3} maxLength={4096} required />
      <label for="agent-mode">Mode</label>
      <select id="agent-mode" ref={mode}>{MODES.map((m) => <option key={m} value={m}>{m}</option>)}</select>
      {error && <p role="alert" class="error" data-testid="run-error">{error}</p>}
      <div class="row"><button type="submit" disabled={busy}>{busy ? 'Starting…' : 'Run'}</button></div>
    </form>
  );
}

function TaskDetail({ p, onAct, onCancel }: { p: Plan; onAct: (w: Waiting, a: 'approve' | 'deny') => void; onCancel: () => void }) {
  const w = waitingOf(p);
  const budgetNames = Object.keys(p.budgets) as (keyof Budgets)[];
  return (
    <div class="card" data-testid="agent-task" data-plan={p.planId} data-state={p.state} data-phase={p.phase ?? ''} data-awaiting={p.awaiting ?? ''}>
      <h2>{p.planId}</h2>
      <p><q>{p.task}</q> <small class="muted">[{p.mode}] by {p.by} at {when(p.createdAt)}; tools {p.tools.join(', ')}</small></p>
      <StateRow p={p} />
      {p.reason && <p class={p.state === 'completed' ? 'muted' : 'bad'} data-testid="agent-reason">{p.reason}{p.detail && `: ${p.detail}`}</p>}
      {p.planApprovedBy && <p class="muted">plan approved by {p.planApprovedBy}</p>}
      {w && (
        <div class="card agent-waiting" data-testid="agent-waiting" data-step={w.step}>
          <h3>Waiting for you: {w.step === -1 ? 'the plan' : `step ${w.step}`}</h3>
          {w.step === -1
            ? <p>The whole plan below runs step by step once approved (a step that policy asks about waits again).</p>
            : <><p><strong>{p.plan![w.step]!.tool}</strong>: {p.plan![w.step]!.why}</p><Args step={p.plan![w.step]!} /></>}
          <p><small>intent <code class="wrap">{w.intentHash}</code></small></p>
          <div class="row">
            <button type="button" class="danger" aria-haspopup="dialog" onClick={() => onAct(w, 'approve')}>Approve…</button>
            <button type="button" class="secondary" aria-haspopup="dialog" onClick={() => onAct(w, 'deny')}>Deny…</button>
          </div>
        </div>
      )}
      <h3>Plan</h3>
      {!p.plan ? <p class="muted">{p.state === 'planning' ? 'The planner is writing the plan…' : 'No plan.'}</p> : p.plan.length === 0 ? <p class="muted">The plan has no steps.</p> : (
        <table class="agent-steps">
          <thead><tr><th scope="col">#</th><th scope="col">tool, why</th><th scope="col">arguments</th><th scope="col">evidence</th></tr></thead>
          <tbody>
            {p.plan.map((s) => {
              const e = p.evidence[s.index];
              return (
                <tr key={s.index} data-step={s.index} aria-current={p.state === 'running' && p.step === s.index ? 'step' : undefined}>
                  <th scope="row">{s.index}</th>
                  <td><strong>{s.tool}</strong><br /><small>{s.why}</small></td>
                  <td><Args step={s} /></td>
                  <td>{e ? (
                    <dl class="evidence-list" data-testid="step-evidence">
                      <dt>decision</dt><dd data-testid="decision">{dash(e.decision)} {e.rule && <small>(rule {e.rule})</small>}</dd>
                      <dt>token</dt><dd><code class="wrap">{dash(e.nonce)}</code></dd>
                      <dt>approved by</dt><dd data-testid="approved-by">{dash(e.approvedBy)}</dd>
                      <dt>result</dt><dd><code class="wrap">{dash(e.resultHash)}</code></dd>
                      {e.summary && <><dt>summary</dt><dd data-testid="summary">{e.summary}</dd></>}
                      {e.error && <><dt>error</dt><dd class="bad" data-testid="step-error">{e.error}</dd></>}
                    </dl>
                  ) : <span class="muted">not yet</span>}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <h3>Budgets</h3>
      <table class="agent-budgets">
        <thead><tr>{budgetNames.map((k) => <th key={k} scope="col">{k.replace('_', ' ')}</th>)}</tr></thead>
        <tbody><tr>{budgetNames.map((k) => <td key={k} data-budget={k}>{p.used[k]} / {p.budgets[k]}</td>)}</tr></tbody>
      </table>
      {!ENDED.includes(p.state) && <div class="row"><button type="button" class="secondary" onClick={onCancel}>Cancel task</button></div>}
    </div>
  );
}

export function AgentPage() {
  const [view, setView] = useState<AgentView | null>(null);
  const [error, setError] = useState('');
  const [selected, setSelected] = useState<string | null>(null);
  const [acting, setActing] = useState<{ w: Waiting; action: 'approve' | 'deny' } | null>(null);
  const [done, setDone] = useState('');
  const live = useRef(true);
  const load = () => api<AgentView>('GET', '/api/agent').then((v) => { if (live.current) { setView(v); setError(''); } }, (e: unknown) => live.current && setError(describeError(e)));
  useEffect(() => {
    live.current = true;
    void load();
    const t = setInterval(load, REFRESH_MS);
    return () => { live.current = false; clearInterval(t); };
  }, []);
  const cancel = asyncHandler(async (planId: string) => {
    try { await api('POST', `/api/agent/${planId}/cancel`, {}); setDone(`${planId} cancelled.`); } catch (err) { setError(describeError(err)); }
    void load();
  });
  const plans = view ? [...view.plans].reverse() : [];
  const current = plans.find((p) => p.planId === selected) ?? plans[0];
  return (
    <section aria-labelledby="agent-h">
      <h1 id="agent-h" tabIndex={-1}>Agent</h1>
      <p class="muted">The agent plans a task with a local model and runs it step by step: policy decides each step and mints a one-use
        capability for it; a step policy asks about (a write, for one) waits for you here or for <code>securectl agent approve</code>.</p>
      {error && <p role="alert" class="error">{error}</p>}
      {!view && !error && <p aria-busy="true">Loading…</p>}
      {view && !view.enabled && <p class="bad" data-testid="agent-disabled">The agent is disabled (<code>agent.yaml</code> <code>enabled: false</code>).</p>}
      {view?.lastFreeze && <p class="bad">Incident {view.lastFreeze.incidentId} froze {view.lastFreeze.frozen} task(s) at {when(view.lastFreeze.at)}.</p>}
      {view?.enabled && <RunForm onStarted={(id) => { setSelected(id); setDone(''); void load(); }} />}
      <p role="status" class="ok" data-testid="act-done">{done}</p>
      {view && (
        <div class="card">
          <h2>Tasks</h2>
          {plans.length === 0 ? <p class="muted" data-testid="no-tasks">No tasks yet.</p> : (
            <table class="agent-tasks">
              <thead><tr><th scope="col">task</th><th scope="col">state</th><th scope="col">started</th></tr></thead>
              <tbody>
                {plans.map((p) => (
                  <tr key={p.planId} data-plan={p.planId} data-state={p.state} aria-current={p === current ? 'true' : undefined}>
                    <th scope="row"><button type="button" class="link-like" onClick={() => setSelected(p.planId)}>{p.task.slice(0, 80)}</button><br /><small class="muted">{p.planId}</small></th>
                    <td><span class="badge">{p.state}</span>{p.awaiting !== null && <> <strong>waits for you</strong></>}</td>
                    <td>{when(p.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}
      {current && <TaskDetail p={current} onAct={(w, action) => { setDone(''); setActing({ w, action }); }} onCancel={() => cancel(current.planId)} />}
      {acting && <ActDialog w={acting.w} action={acting.action} onDone={(m) => { setDone(m); void load(); }} onClose={() => setActing(null)} />}
    </section>
  );
}
