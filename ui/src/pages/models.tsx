// Models: the registry (promoted models, verify) and the quarantine runs, stage by stage with evidence, live from the audit chain.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, describeError, uploadFile } from '../api.js';
import { recentAudit, subscribeLive } from '../live.js';
import { emptyRun, foldRun, stepsFromResults, type Run } from '../quarantine-runs.js';

/** The pipeline's stages in order (machines/quarantine: PIPELINE_ORDER). */
export const STAGES = ['source', 'format', 'integrity', 'provenance', 'static_scan', 'behavioral', 'diffusion', 'promote'] as const;

interface RegistryEntry { name: string; sha256: string; size?: number; format?: string; promotedAt?: string }
interface JobSummary { id: string; name: string; state: string; reason: string; queuedAt: string }

function RunPath({ run }: { run: Run }) {
  return (
    <ol class="pipeline" aria-label={`Stages of ${run.name || run.id}`}>
      {STAGES.map((stage) => {
        // Promotion has no stage result of its own: the run's outcome is its verdict.
        const s = run.steps.find((x) => x.stage === stage)
          ?? (stage === 'promote' && run.outcome === 'promoted' ? { stage, verdict: 'pass', reason: run.reason, evidence: null, seq: run.lastSeq } : undefined);
        return (
          <li key={stage} class={`stage ${s ? s.verdict : run.current === stage ? 'running' : 'pending'}`} data-stage={stage} data-verdict={s?.verdict ?? (run.current === stage ? 'running' : 'pending')}>
            <span class="stage-name">{stage}</span>
            <span class="verdict">{s?.verdict ?? (run.current === stage ? `running${run.percent !== null ? ` ${run.percent}%` : ''}` : run.outcome ? 'not run' : 'pending')}</span>
            {s && (
              <details>
                <summary>{s.reason || 'evidence'}</summary>
                <pre class="evidence">{JSON.stringify(s.evidence, null, 2)}</pre>
              </details>
            )}
          </li>
        );
      })}
    </ol>
  );
}

interface Source { host: string; subdomains: boolean; note?: string }
interface Queued { id: string; name: string }

/** One import form's state: what happened last, as text for a status or an alert. */
function useOutcome() {
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState('');
  const [failed, setFailed] = useState('');
  const run = async (f: () => Promise<Queued>) => {
    setBusy(true); setDone(''); setFailed('');
    try {
      const r = await f();
      setDone(`${r.name} queued for quarantine as job ${r.id}: watch its stages below.`);
    } catch (err) { setFailed(describeError(err)); } finally { setBusy(false); }
  };
  return { busy, done, failed, run };
}

function Outcome({ o, id }: { o: ReturnType<typeof useOutcome>; id: string }) {
  return (
    <>
      <p role="status" class="ok" data-testid={`${id}-done`}>{o.done}</p>
      {o.failed && <p role="alert" class="error" data-testid={`${id}-error`}>{o.failed}</p>}
    </>
  );
}

function Import() {
  const [file, setFile] = useState<File | null>(null);
  const [path, setPath] = useState('');
  const [progress, setProgress] = useState<number | null>(null);
  const up = useOutcome();
  const send = (f: File) => up.run(async () => {
    setProgress(0);
    try {
      return await uploadFile<Queued>(`/api/models/upload?name=${encodeURIComponent(f.name)}`, f, (sent, total) => setProgress(total ? Math.floor((100 * sent) / total) : null));
    } finally { setProgress(null); }
  });
  const byPath = useOutcome();
  return (
    <div class="card" aria-labelledby="import-h">
      <h2 id="import-h">Import</h2>
      <p>Every model is untrusted until every quarantine stage passes; its progress shows below as it happens.</p>
      <form onSubmit={(e) => { e.preventDefault(); if (file) void send(file); }}>
        <label for="upload-file">Upload a model file (GGUF or safetensors) from this browser</label>
        <div class="import-row">
          <input id="upload-file" type="file" onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)} />
          <button type="submit" disabled={!file || up.busy}>{up.busy ? 'Uploading…' : 'Upload'}</button>
          {progress !== null && <progress max={100} value={progress} aria-label="Upload progress">{progress}%</progress>}
        </div>
        <Outcome o={up} id="upload" />
      </form>
      <form onSubmit={(e) => { e.preventDefault(); if (path.trim()) void byPath.run(() => api<Queued>('POST', '/api/models/import', { path: path.trim() })); }}>
        <label for="import-path">Import a file or folder on this machine (absolute path; policy <code>paths</code> must allow reading it)</label>
        <div class="import-row">
          <input id="import-path" type="text" value={path} placeholder="/var/lib/secure-ai/workspace/model.gguf" onInput={(e) => setPath((e.target as HTMLInputElement).value)} />
          <button type="submit" disabled={!path.trim() || byPath.busy}>Import path</button>
        </div>
        <Outcome o={byPath} id="path" />
      </form>
      <p class="muted">Or drop it into <code>$SECAI_HOME/quarantine/incoming/</code>, or run <code>securectl models import PATH|URL</code> (a signed command).</p>
    </div>
  );
}

function Catalog() {
  const [sources, setSources] = useState<Source[] | null>(null);
  const [error, setError] = useState('');
  const [url, setUrl] = useState('');
  const byUrl = useOutcome();
  useEffect(() => {
    api<{ sources: Source[] }>('GET', '/api/models/catalog').then((r) => setSources(r.sources), (e: unknown) => setError(describeError(e)));
  }, []);
  return (
    <div class="card" aria-labelledby="catalog-h">
      <h2 id="catalog-h">Catalog</h2>
      <p class="muted">Models may be downloaded only from these sources (policy <code>sources.allowlist.yaml</code>), through the airlock, and only if policy enables it.</p>
      {error && <p role="alert" class="error">{error}</p>}
      {sources && (
        <table>
          <thead><tr><th scope="col">host</th><th scope="col">subdomains</th><th scope="col">note</th></tr></thead>
          <tbody>
            {sources.map((s) => <tr key={s.host} data-source={s.host}><th scope="row"><code>{s.host}</code></th><td>{s.subdomains ? 'yes' : 'no'}</td><td>{s.note ?? ''}</td></tr>)}
          </tbody>
        </table>
      )}
      <form onSubmit={(e) => { e.preventDefault(); if (url.trim()) void byUrl.run(() => api<Queued>('POST', '/api/models/import', { url: url.trim() })); }}>
        <label for="import-url">Import from a URL (https, an allowlisted host)</label>
        <div class="import-row">
          <input id="import-url" type="url" value={url} placeholder="https://huggingface.co/…/resolve/main/model.gguf" onInput={(e) => setUrl((e.target as HTMLInputElement).value)} />
          <button type="submit" disabled={!url.trim() || byUrl.busy}>Import URL</button>
        </div>
        <Outcome o={byUrl} id="url" />
      </form>
    </div>
  );
}

/**
 * The confirmation for removing a model: a modal dialog (focus moves in, Tab stays in, Escape cancels,
 * focus goes back to the Remove button) that asks for the passphrase again, like the panic confirmation.
 */
function RemoveDialog({ name, onRemoved, onClose }: { name: string; onRemoved: (name: string) => void; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const pass = useRef<HTMLInputElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
    pass.current?.focus();
  }, []);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true); setError('');
    try {
      await api('DELETE', `/api/models/${encodeURIComponent(name)}`, { passphrase: pass.current?.value ?? '' });
      dialog.current?.close();
      onRemoved(name);
    } catch (err) {
      setError(describeError(err));
      if (pass.current) { pass.current.value = ''; pass.current.focus(); }
    } finally { setBusy(false); }
  };
  return (
    <dialog ref={dialog} class="confirm remove-dialog" aria-labelledby="rm-h" aria-describedby="rm-d" onClose={onClose}>
      <form onSubmit={submit}>
        <h3 id="rm-h">Remove {name}?</h3>
        <p id="rm-d">Its files and its entry in the signed registry manifest are deleted; to use it again, import it again. The removal is recorded in the audit chain. Enter the passphrase to confirm.</p>
        <label for="rm-pass">Passphrase</label>
        <input id="rm-pass" ref={pass} type="password" autocomplete="current-password" required />
        {error && <p role="alert" class="error" data-testid="rm-error">{error}</p>}
        <div class="row">
          <button type="submit" class="danger" disabled={busy}>{busy ? 'Removing…' : `Yes, remove ${name}`}</button>
          <button type="button" class="secondary" onClick={() => dialog.current?.close()}>Cancel</button>
        </div>
      </form>
    </dialog>
  );
}

function Registry() {
  const [models, setModels] = useState<RegistryEntry[] | null>(null);
  const [error, setError] = useState('');
  const [verdicts, setVerdicts] = useState<Record<string, string>>({});
  const [removing, setRemoving] = useState<string | null>(null);
  const [removed, setRemoved] = useState('');
  const heading = useRef<HTMLHeadingElement>(null);
  const load = () => api<{ models: RegistryEntry[] }>('GET', '/api/models').then((r) => setModels(r.models), (e: unknown) => setError(describeError(e)));
  useEffect(() => { void load(); }, []);
  const verify = async (name: string) => {
    setVerdicts((v) => ({ ...v, [name]: 'verifying…' }));
    try {
      const r = await api<{ ok: boolean; reason?: string }>('POST', `/api/models/${encodeURIComponent(name)}/verify`);
      setVerdicts((v) => ({ ...v, [name]: r.ok ? 'intact' : `FAILED: ${r.reason ?? ''}` }));
    } catch (err) { setVerdicts((v) => ({ ...v, [name]: describeError(err) })); }
  };
  return (
    <div class="card" aria-labelledby="registry-h">
      <h2 id="registry-h" ref={heading} tabIndex={-1}>Registry</h2>
      <p class="muted">Promoted models only: read-only copies, recorded in the signed registry manifest. Removing one asks for the passphrase again.</p>
      {error && <p role="alert" class="error">{error}</p>}
      <p role="status" class="ok" data-testid="rm-done">{removed}</p>
      {models && models.length === 0 && <p>No model in the registry.</p>}
      {models && models.length > 0 && (
        <table>
          <thead><tr><th scope="col">name</th><th scope="col">SHA-256</th><th scope="col">size</th><th scope="col"><span class="visually-hidden">actions</span></th></tr></thead>
          <tbody>
            {models.map((m) => (
              <tr key={m.name} data-model={m.name}>
                <th scope="row">{m.name}</th>
                <td><code>{m.sha256.slice(0, 16)}…</code></td>
                <td>{m.size ?? '–'}</td>
                <td>
                  <div class="row">
                    <button type="button" class="secondary" onClick={() => verify(m.name)} aria-label={`Verify ${m.name}`}>Verify</button>
                    <button type="button" class="danger" onClick={() => { setRemoved(''); setRemoving(m.name); }} aria-label={`Remove ${m.name}`} aria-haspopup="dialog">Remove…</button>
                    <span role="status">{verdicts[m.name] ?? ''}</span>
                  </div>
                  <small class="muted">or, as a signed operator command: <code data-testid="rm-command">securectl models rm {m.name}</code></small>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {removing && (
        <RemoveDialog
          key={removing}
          name={removing}
          onClose={() => setRemoving(null)}
          // Its row (and Remove button) is gone: focus goes to the section heading, next to the status line.
          onRemoved={(name) => { setRemoved(`${name} removed from the registry.`); void load(); heading.current?.focus(); }}
        />
      )}
    </div>
  );
}

export function ModelsPage() {
  const [runs, setRuns] = useState<Run[]>([]);
  const [error, setError] = useState('');
  const [open, setOpen] = useState<string | null>(null);
  // Bumped when a run ends, so the registry list reloads and shows a newly promoted model.
  const [registryVersion, setRegistryVersion] = useState(0);
  const map = useState(() => new Map<string, Run>())[0];
  const publish = () => setRuns([...map.values()].sort((a, b) => b.lastSeq - a.lastSeq || b.id.localeCompare(a.id)).map((r) => ({ ...r })));
  useEffect(() => {
    // Jobs that ran before this page opened come from the quarantine's job list; live ones from the audit stream.
    api<{ jobs: JobSummary[] }>('GET', '/api/quarantine/jobs').then((r) => {
      for (const j of r.jobs) {
        if (map.has(j.id)) continue;
        map.set(j.id, { ...emptyRun(j.id), name: j.name, outcome: ['promoted', 'rejected', 'held'].includes(j.state) ? j.state : null, reason: j.reason });
      }
      publish();
    }, (e: unknown) => setError(describeError(e)));
    recentAudit.forEach((r) => foldRun(map, r));
    publish();
    return subscribeLive({
      audit: (r) => {
        if (!r.subject.startsWith('secai.evt.quarantine.') && r.subject !== 'secai.evt.registry.promoted') return;
        foldRun(map, r);
        publish();
        if (r.subject === 'secai.evt.registry.promoted' || r.subject === 'secai.evt.quarantine.verdict') setRegistryVersion((v) => v + 1);
      },
    });
  }, []);
  const showReport = async (id: string) => {
    setOpen(open === id ? null : id);
    const run = map.get(id);
    if (!run || run.steps.some((s) => s.evidence !== null) || !run.outcome) return;
    try {
      const rep = await api<{ results: unknown[]; reason: string; state: string }>('GET', `/api/quarantine/jobs/${encodeURIComponent(id)}`);
      map.set(id, { ...run, steps: stepsFromResults(rep.results, run.lastSeq), reason: rep.reason });
      publish();
    } catch (e) { setError(describeError(e)); }
  };
  return (
    <section aria-labelledby="models-h">
      <h1 id="models-h" tabIndex={-1}>Models</h1>
      <Import />
      <div class="card" aria-labelledby="runs-h">
        <h2 id="runs-h">Quarantine runs</h2>
        {error && <p role="alert" class="error">{error}</p>}
        {runs.length === 0 && <p class="muted">No quarantine run yet.</p>}
        {runs.map((run) => (
          <article key={run.id} class="run" data-run={run.id} aria-labelledby={`run-${run.id}`}>
            <h3 id={`run-${run.id}`}>{run.name || run.id} <span class={`badge outcome ${run.outcome ?? 'running'}`} data-testid="outcome">{run.outcome ?? 'running'}</span></h3>
            {run.reason && <p>{run.reason}</p>}
            <RunPath run={run} />
            {run.outcome && <button type="button" class="secondary" aria-expanded={open === run.id} onClick={() => showReport(run.id)}>{open === run.id ? 'Hide evidence' : 'Show evidence'}</button>}
            {open === run.id && (
              <ul class="evidence-list">
                {run.steps.map((s) => <li key={s.stage}><strong>{s.stage}</strong>: {s.verdict} — {s.reason}<pre class="evidence">{JSON.stringify(s.evidence, null, 2)}</pre></li>)}
              </ul>
            )}
          </article>
        ))}
      </div>
      <Registry key={registryVersion} />
      <Catalog />
    </section>
  );
}
