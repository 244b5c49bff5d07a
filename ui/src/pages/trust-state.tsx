// The Security page's integrity monitor and runtime attestation: what each says now, read again while the page is open.
import { useEffect, useState } from 'preact/hooks';
import { api, describeError } from '../api.js';

interface Finding { key: string; class: string; level: string; kind: string; summary: string; path: string; at: number; count: number }
interface IntegrityStatus {
  state: string; generation: number; files: number; findings: Finding[]; pending: { path: string; since: number; deadline: number }[];
  lastScan: { at: number; files: number; bytesHashed: number; ms: number; full: boolean; changes: number } | null; lastError: string | null;
  canaries: { path: string; watching: boolean }[];
}
interface AttestStatus {
  state: 'measuring' | 'attested' | 'failed'; mode: 'tpm' | 'software-only' | null; stateDigest: string | null; attestedAt: number | null;
  measurements: number; failure: { reason: string; code: string; changes: { name: string; expected: string; found: string }[]; at: number } | null;
  quote: { pcr: number; verified: boolean } | null;
}

const REFRESH_MS = 3000;
const when = (ms: number | null | undefined) => (ms ? new Date(ms).toLocaleString() : '–');

/** Reads `path` now and every REFRESH_MS while mounted; an error is shown, the last good answer kept. */
function usePolled<T>(path: string): { data: T | null; error: string } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    const load = () => api<T>('GET', path).then((d) => { if (live) { setData(d); setError(''); } }, (e: unknown) => live && setError(describeError(e)));
    void load();
    const t = setInterval(load, REFRESH_MS);
    return () => { live = false; clearInterval(t); };
  }, [path]);
  return { data, error };
}

export function IntegrityCard() {
  const { data: s, error } = usePolled<IntegrityStatus>('/api/integrity/status');
  return (
    <div class="card" aria-labelledby="integrity-h" data-testid="integrity">
      <h2 id="integrity-h">Integrity</h2>
      {error && <p role="alert" class="error">{error}</p>}
      {s && (
        <>
          <p>State <strong data-testid="integrity-state" class={s.state === 'trusted' ? 'ok' : 'bad'}>{s.state}</strong>: {s.files} files against baseline generation {s.generation};
            last scan {s.lastScan ? `${when(s.lastScan.at)} (${s.lastScan.full ? 'full' : 'quick'}, ${s.lastScan.files} files, ${s.lastScan.ms} ms)` : 'not yet'}.
            {' '}{s.canaries.filter((c) => c.watching).length} of {s.canaries.length} canaries watched.</p>
          {s.lastError && <p class="bad">Last error: {s.lastError}</p>}
          {s.findings.length > 0 && (
            <ul data-testid="integrity-findings">
              {s.findings.slice(0, 50).map((f) => <li key={f.key}><span class="bad">{f.level}</span> {f.summary} <code class="wrap">{f.path}</code></li>)}
            </ul>
          )}
          {s.state !== 'trusted' && <p class="muted">Re-baselining is a signed operator command that shows the diff first: <code>securectl integrity diff</code>, then <code>securectl integrity rebaseline --confirm DIGEST</code>.</p>}
        </>
      )}
    </div>
  );
}

export function AttestationCard() {
  const { data: s, error } = usePolled<AttestStatus>('/api/attestation/status');
  return (
    <div class="card" aria-labelledby="attest-h" data-testid="attestation">
      <h2 id="attest-h">Attestation</h2>
      {error && <p role="alert" class="error">{error}</p>}
      {s && (
        <>
          <p>State <strong data-testid="attest-state" class={s.state === 'attested' ? 'ok' : s.state === 'failed' ? 'bad' : 'muted'}>{s.state}</strong>
            {s.mode && <>, mode <strong data-testid="attest-mode">{s.mode}</strong></>}{s.attestedAt && <>, attested {when(s.attestedAt)}</>}; {s.measurements} measurements.</p>
          {s.stateDigest && <p>State digest <code class="wrap">{s.stateDigest}</code>{s.quote && <>; TPM quote over PCR {s.quote.pcr} {s.quote.verified ? 'verified' : 'NOT verified'}</>}.</p>}
          {s.failure && (
            <div class="bad">
              <p>Failed ({s.failure.code}): {s.failure.reason}</p>
              {s.failure.changes.length > 0 && <ul>{s.failure.changes.map((c) => <li key={c.name}><code class="wrap">{c.name}</code></li>)}</ul>}
            </div>
          )}
          <p class="muted">Until the state is attested the vault does not unlock and no model loads (<code>securectl attest show</code> has the bundle).</p>
        </>
      )}
    </div>
  );
}
