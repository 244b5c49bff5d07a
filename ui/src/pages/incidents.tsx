// Incidents on the Security page: the list kept live from the incident actor's transitions, one incident's timeline,
// evidence and containment, and acknowledge/resolve behind the passphrase again.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, describeError } from '../api.js';
import { asyncHandler } from '../async-handler.js';
import { emptyFeed, nextActs, withEvent, withList, type Feed, type IncidentSummary } from '../incident-feed.js';
import { openIncidentStream } from '../incident-stream.js';

interface TimelineEntry { at: number; state: string; reason: string; by?: string; note?: string }
interface Detection { class: string; key: string; severity: string; at: number; summary: string; evidence: unknown; target?: unknown }
interface IncidentRecord { incident: IncidentSummary; evidence: Detection[]; timeline: TimelineEntry[]; flood: unknown; repeatsSinceContained: number; escalateAfter: number }

const ACT_LABEL = { ack: 'Acknowledge', resolve: 'Resolve' } as const;
const when = (ms: number | null) => (ms ? new Date(ms).toLocaleString() : '–');
const label = (s: string) => s.replace(/_/g, ' ');

/** The list: read once the stream is live, then every transition applied as it arrives. */
function useIncidents() {
  const [feed, setFeed] = useState<Feed>(emptyFeed());
  const [live, setLive] = useState(false);
  const [error, setError] = useState('');
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let open = true;
    const close = openIncidentStream({
      status: (c) => open && setLive(c),
      ready: () => {
        setFeed((f) => ({ ...f, incidents: null }));
        api<{ incidents: IncidentSummary[] }>('GET', '/api/incidents?limit=200').then(
          (r) => { if (open) { setFeed((f) => withList(f, r.incidents)); setError(''); } },
          (e: unknown) => open && setError(describeError(e)),
        );
      },
      incident: (e) => { if (open) { setFeed((f) => withEvent(f, e)); setTick((n) => n + 1); } },
    });
    return () => { open = false; close(); };
  }, []);
  return { feed, live, error, tick };
}

function ActDialog({ id, act, onDone, onClose }: { id: string; act: 'ack' | 'resolve'; onDone: (i: IncidentSummary) => void; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const pass = useRef<HTMLInputElement>(null);
  const note = useRef<HTMLTextAreaElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
    pass.current?.focus();
  }, []);
  const submit = asyncHandler(async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true); setError('');
    try {
      const r = await api<{ incident: IncidentSummary }>('POST', `/api/incidents/${encodeURIComponent(id)}/${act}`, { passphrase: pass.current?.value ?? '', note: note.current?.value ?? '' });
      dialog.current?.close();
      onDone(r.incident);
    } catch (err) {
      setError(describeError(err));
      if (pass.current) { pass.current.value = ''; pass.current.focus(); }
    } finally { setBusy(false); }
  });
  const verb = ACT_LABEL[act];
  return (
    <dialog ref={dialog} class="confirm remove-dialog" aria-labelledby="act-h" aria-describedby="act-d" onClose={onClose}>
      <form onSubmit={submit}>
        <h3 id="act-h">{verb} incident {id}?</h3>
        <p id="act-d">{act === 'ack'
          ? 'You have looked at it: its containment stays in force. Recorded in its timeline and the audit chain as a web operator.'
          : 'It is over: the incident closes. Containment is not undone by this (unlock the vault, enable the airlock yourself). Recorded as a web operator.'} Enter the passphrase to confirm.</p>
        <label for="act-pass">Passphrase</label>
        <input id="act-pass" ref={pass} type="password" autocomplete="current-password" required />
        <label for="act-note">Note (optional)</label>
        <textarea id="act-note" ref={note} maxLength={1024} rows={2} />
        {error && <p role="alert" class="error" data-testid="act-error">{error}</p>}
        <div class="row">
          <button type="submit" class="danger" disabled={busy}>{busy ? 'Sending…' : `Yes, ${verb.toLowerCase()}`}</button>
          <button type="button" class="secondary" onClick={() => dialog.current?.close()}>Cancel</button>
        </div>
      </form>
    </dialog>
  );
}

/** One incident, read again whenever the stream says something changed (`tick`). */
function IncidentDetail({ id, tick, onClose }: { id: string; tick: number; onClose: () => void }) {
  const [rec, setRec] = useState<IncidentRecord | null>(null);
  const [error, setError] = useState('');
  const [acting, setActing] = useState<'ack' | 'resolve' | null>(null);
  const [done, setDone] = useState('');
  const heading = useRef<HTMLHeadingElement>(null);
  const load = () => api<IncidentRecord>('GET', `/api/incidents/${encodeURIComponent(id)}`).then((r) => { setRec(r); setError(''); }, (e: unknown) => setError(describeError(e)));
  useEffect(() => { setDone(''); void load(); heading.current?.focus(); }, [id]);
  useEffect(() => { if (tick) void load(); }, [tick]);
  const i = rec?.incident;
  return (
    <div class="card incident-detail" data-testid="incident-detail" data-state={i?.state}>
      <h2 id="incident-h" ref={heading} tabIndex={-1}>Incident {id}</h2>
      {error && <p role="alert" class="error">{error}</p>}
      {!rec && !error && <p aria-busy="true">Loading…</p>}
      {i && rec && (
        <>
          <p><span class={`badge sev-${i.severity}`}>{i.severity}</span> {label(i.class)} — <strong data-testid="detail-state">{i.state}</strong>, seen {i.count}×,
            first {when(i.firstSeen)}, last {when(i.lastSeen)}.</p>
          <p>{i.summary}</p>
          {i.escalation && <p class="bad">Escalated: {i.escalation}</p>}
          <div class="row">
            {nextActs(i.state).map((a) => (
              <button key={a} type="button" class="danger" aria-haspopup="dialog" onClick={() => { setDone(''); setActing(a); }}>{ACT_LABEL[a]}…</button>
            ))}
            <button type="button" class="secondary" onClick={onClose}>Back to the list</button>
          </div>
          <p role="status" class="ok" data-testid="act-done">{done}</p>
          <h3>Containment</h3>
          {i.steps.length === 0 ? <p class="muted">Policy names no containment for this class and severity: it waits for an operator.</p> : (
            <ol class="steps">
              {i.steps.map((s) => <li key={s.action} data-action={s.action} data-status={s.status}><code>{s.action}</code> <span class={s.status === 'done' ? 'ok' : s.status === 'failed' ? 'bad' : 'muted'}>{s.status}</span>{s.detail && <> — {s.detail}</>}</li>)}
            </ol>
          )}
          <h3>Timeline</h3>
          <table class="timeline">
            <thead><tr><th scope="col">when</th><th scope="col">state</th><th scope="col">why</th><th scope="col">by</th></tr></thead>
            <tbody>
              {rec.timeline.map((t, n) => (
                <tr key={n} data-state={t.state}><td>{when(t.at)}</td><td>{t.state}</td><td>{t.reason}{t.note && <> — “{t.note}”</>}</td><td data-testid="timeline-by">{t.by ?? 'appliance'}</td></tr>
              ))}
            </tbody>
          </table>
          <h3>Evidence</h3>
          <p class="muted">{rec.evidence.length} detection{rec.evidence.length === 1 ? '' : 's'} kept (the first ones and the latest).</p>
          {rec.evidence.map((d, n) => (
            <details key={n}>
              <summary>{when(d.at)}: {d.summary}</summary>
              <pre class="evidence">{JSON.stringify({ evidence: d.evidence, target: d.target }, null, 2)}</pre>
            </details>
          ))}
        </>
      )}
      {acting && i && (
        <ActDialog id={i.id} act={acting}
          onDone={(next) => { setDone(`Incident ${next.id} ${next.state}.`); void load(); }}
          onClose={() => setActing(null)} />
      )}
    </div>
  );
}

export function IncidentsCard() {
  const { feed, live, error, tick } = useIncidents();
  const [selected, setSelected] = useState<string | null>(null);
  const list = feed.incidents;
  const unresolved = list?.filter((i) => i.state !== 'resolved').length ?? 0;
  return (
    <>
      <div class="card" aria-labelledby="incidents-h">
        <div class="chain-status">
          <h2 id="incidents-h">Incidents</h2>
          <span data-testid="incidents-live" class={live ? 'ok' : 'muted'}>{live ? 'live' : 'connecting…'}</span>
          {list && <span class={unresolved ? 'bad' : 'ok'} data-testid="incidents-unresolved">{unresolved} unresolved</span>}
        </div>
        <p class="muted">Something suspicious opens an incident with its evidence; the appliance contains it by policy; an operator acknowledges, then resolves it (here with the passphrase, or <code>securectl incidents ack|resolve ID</code>).</p>
        {error && <p role="alert" class="error">{error}</p>}
        {!list && !error && <p aria-busy="true">Loading…</p>}
        {list && list.length === 0 && <p data-testid="no-incidents">No incidents.</p>}
        {list && list.length > 0 && (
          <table class="incidents">
            <thead><tr><th scope="col">incident</th><th scope="col">severity</th><th scope="col">state</th><th scope="col">count</th><th scope="col">last seen</th></tr></thead>
            <tbody>
              {list.map((i) => (
                <tr key={i.id} data-incident={i.id} data-class={i.class} data-state={i.state} aria-current={i.id === selected ? 'true' : undefined}>
                  <th scope="row"><button type="button" class="link-like" onClick={() => setSelected(i.id)}>{label(i.class)}</button> <small class="muted">{i.summary}</small></th>
                  <td><span class={`badge sev-${i.severity}`}>{i.severity}</span></td>
                  <td data-testid="state">{i.state}</td>
                  <td data-testid="count">{i.count}</td>
                  <td>{when(i.lastSeen)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      {selected && <IncidentDetail id={selected} tick={tick} onClose={() => setSelected(null)} />}
    </>
  );
}
