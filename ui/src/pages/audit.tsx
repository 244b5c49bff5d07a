// Audit tap: the live stream of committed audit records, filtered by subject pattern and actor; chain status and verify-now.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, describeError } from '../api.js';
import { recentAudit, subscribeLive, type AuditRecord } from '../live.js';
import { subjectActor, subjectMatches } from '../subject-filter.js';
import { asyncHandler } from '../async-handler.js';

interface Verdict { ok: boolean; records: number; head?: string; at: number; brokenAt?: number; line?: number; reason?: string }
interface Status { records: number; state: unknown; lastVerdict: Verdict | null }

function VerdictLine({ v }: { v: Verdict | null }) {
  if (!v) return <span>not verified yet</span>;
  return v.ok
    ? <span class="ok">intact: {v.records} records, verified {new Date(v.at).toLocaleTimeString()}</span>
    : <span class="bad">BROKEN at record {v.brokenAt} (line {v.line}): {v.reason}</span>;
}

export function AuditPage() {
  const [records, setRecords] = useState<AuditRecord[]>(() => [...recentAudit]);
  const [pattern, setPattern] = useState('');
  const [actor, setActor] = useState('');
  const [status, setStatus] = useState<Status | null>(null);
  const [verdict, setVerdict] = useState<Verdict | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [connected, setConnected] = useState(false);

  const refresh = () => api<Status>('GET', '/api/audit/status').then(setStatus, (e: unknown) => setError(describeError(e)));
  useEffect(() => {
    void refresh();
    // Records that arrived between the first render and this effect are in recentAudit, not yet in state:
    // take them now, in the same turn as subscribing, so none falls between the two.
    setRecords([...recentAudit]);
    return subscribeLive({
      audit: (r) => setRecords((rs) => [...rs, r].slice(-500)),
      status: setConnected,
    });
  }, []);

  const verify = asyncHandler(async () => {
    setBusy(true);
    setError('');
    try {
      setVerdict(await api<Verdict>('POST', '/api/audit/verify'));
      await refresh();
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  });

  const actors = useMemo(() => [...new Set(records.map((r) => subjectActor(r.subject)))].sort(), [records]);
  const shown = records.filter((r) => subjectMatches(pattern, r.subject) && (!actor || subjectActor(r.subject) === actor)).slice(-200).reverse();
  const v = verdict ?? status?.lastVerdict ?? null;

  return (
    <section aria-labelledby="audit-h">
      <h1 id="audit-h" tabIndex={-1}>Audit tap</h1>
      <div class="card chain-status" role="status" aria-live="polite">
        <p>Chain: <strong data-testid="chain-records">{status ? `${status.records} records` : '…'}</strong> · <span data-testid="chain-verdict"><VerdictLine v={v} /></span></p>
        <button type="button" onClick={verify} disabled={busy}>{busy ? 'Verifying…' : 'Verify now'}</button>
      </div>
      {error && <p role="alert" class="error">{error}</p>}
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter records">
        <label>Subject pattern <input name="pattern" value={pattern} placeholder="secai.cmd.>" onInput={(e) => setPattern((e.target as HTMLInputElement).value)} /></label>
        <label>Actor
          <select name="actor" value={actor} onChange={(e) => setActor((e.target as HTMLSelectElement).value)}>
            <option value="">all</option>
            {actors.map((a) => <option key={a} value={a}>{a}</option>)}
          </select>
        </label>
        <span class={connected ? 'ok' : 'muted'}>{connected ? 'live' : 'connecting…'}</span>
      </form>
      <table class="records">
        <caption class="visually-hidden">Audit records, newest first</caption>
        <thead><tr><th scope="col">#</th><th scope="col">time</th><th scope="col">subject</th><th scope="col">payload</th></tr></thead>
        <tbody>
          {shown.map((r) => (
            <tr key={r.seq} data-subject={r.subject}>
              <td>{r.seq}</td>
              <td>{new Date(r.at).toLocaleTimeString()}</td>
              <td><code>{r.subject}</code></td>
              <td><code class="payload">{JSON.stringify(r.payload)?.slice(0, 240)}</code></td>
            </tr>
          ))}
        </tbody>
      </table>
      {shown.length === 0 && <p class="muted">No records match yet.</p>}
    </section>
  );
}
