// Models: the signed model catalog (Download), imports, the registry (promoted models, verify) and the quarantine runs,
// stage by stage with evidence, live from the audit chain.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, describeError, uploadFile } from '../api.js';
import { recentAudit, subscribeLive } from '../live.js';
import { emptyRun, foldRun, stepsFromResults, type Run } from '../quarantine-runs.js';
import { initialWatch, watchRegistry, type LiveEvent } from '../registry-watch.js';
import { formatBytes, uploadRefusal } from '../upload-limit.js';
import { asyncHandler } from '../async-handler.js';
import { ModelCatalog, type ModelCatalogListing } from './model-catalog.js';

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

/** One allowlist entry; `label` is how it matches (`huggingface.co/org/`, `*.hf.co`), as stage 1 cites it. */
interface Source { host: string; subdomains: boolean; pathPrefix?: string; redirectOnly?: boolean; label: string; note?: string }
interface Queued { id: string; name: string }
/** `GET /api/models/catalog`: the allowlisted sources and the upload limit, as the quarantine has them, and the signed model list (or why it was refused). */
interface CatalogReply { sources: Source[]; ipLiterals: string[]; maxFileBytes: number; catalog?: ModelCatalogListing; catalogError?: { code: string; message: string } }
/** Changes on the live stream within this long of the first are read with one request. */
const REGISTRY_REFRESH_MS = 300;

/** One import form's state: what happened last, as text for a status or an alert. */
function useOutcome(what = 'queued for quarantine') {
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState('');
  const [failed, setFailed] = useState('');
  const run = async (f: () => Promise<Queued>) => {
    setBusy(true); setDone(''); setFailed('');
    try {
      const r = await f();
      setDone(`${r.name} ${what} as job ${r.id}: watch its stages below.`);
    } catch (err) { setFailed(describeError(err)); } finally { setBusy(false); }
  };
  /** A refusal decided here, before anything is sent; null clears it. */
  const refuse = (why: string | null) => { setDone(''); setFailed(why ?? ''); };
  return { busy, done, failed, run, refuse };
}

function Outcome({ o, id }: { o: ReturnType<typeof useOutcome>; id: string }) {
  return (
    <>
      <p role="status" class="ok" data-testid={`${id}-done`}>{o.done}</p>
      {o.failed && <p role="alert" class="error" data-testid={`${id}-error`}>{o.failed}</p>}
    </>
  );
}

/** `maxFileBytes`: the quarantine's limit (null until the catalog answers); `limitError`: why it could not be read. */
function Import({ maxFileBytes, limitError }: { maxFileBytes: number | null; limitError: string }) {
  const [file, setFile] = useState<File | null>(null);
  const [progress, setProgress] = useState<number | null>(null);
  const up = useOutcome();
  // Checked when the file is chosen and again on submit: a file over the limit is never sent (the server refuses it too).
  // Without the limit (still reading it, or it could not be read) nothing can be sent: fail closed.
  const check = (f: File | null) => (f && maxFileBytes !== null ? uploadRefusal(f, maxFileBytes) : null);
  const send = (f: File) => {
    const refused = uploadRefusal(f, maxFileBytes);
    if (refused) { up.refuse(refused); return; }
    void upload(f);
  };
  const upload = (f: File) => up.run(async () => {
    setProgress(0);
    try {
      return await uploadFile<Queued>(`/api/models/upload?name=${encodeURIComponent(f.name)}`, f, (sent, total) => setProgress(total ? Math.floor((100 * sent) / total) : null));
    } finally { setProgress(null); }
  });
  return (
    <div class="card" aria-labelledby="import-h">
      <h2 id="import-h">Import</h2>
      <p>Every model is untrusted until every quarantine stage passes; its progress shows below as it happens.</p>
      <form onSubmit={(e) => { e.preventDefault(); if (file) send(file); }}>
        <label for="upload-file">Upload a model file (GGUF or safetensors) from this browser</label>
        <p class="muted" id="upload-limit" data-testid="upload-limit">
          {maxFileBytes !== null ? `Largest file: ${formatBytes(maxFileBytes)} (policy quarantine.max_file_bytes).` : limitError ? `Uploads are unavailable: the size limit could not be read (${limitError}); reload the page to try again.` : 'Reading the size limit…'}
        </p>
        <div class="import-row">
          <input id="upload-file" type="file" aria-describedby="upload-limit" onChange={(e) => { const f = (e.target as HTMLInputElement).files?.[0] ?? null; setFile(f); up.refuse(check(f)); }} />
          <button type="submit" disabled={!file || up.busy || maxFileBytes === null}>{up.busy ? 'Uploading…' : 'Upload'}</button>
          {progress !== null && <progress max={100} value={progress} aria-label="Upload progress">{progress}%</progress>}
        </div>
        <Outcome o={up} id="upload" />
      </form>
      <ImportField field="path" label={<>Import a file or folder on this machine (absolute path; policy <code>paths</code> must allow reading it)</>}
        placeholder="/var/lib/secure-ai/workspace/model.gguf" button="Import path" />
      <p class="muted">Or drop it into <code>$SECAI_HOME/quarantine/incoming/</code>, or run <code>securectl models import PATH|URL</code> (a signed command).</p>
    </div>
  );
}

/** One import form: a path or a URL, posted to /api/models/import as { path } or { url }, with its outcome. */
function ImportField({ field, label, placeholder, button }: { field: 'path' | 'url'; label: ComponentChildren; placeholder: string; button: string }) {
  const [value, setValue] = useState('');
  // A URL import answers when the server did: the job then downloads before its stages run.
  const outcome = useOutcome(field === 'url' ? 'downloading into quarantine' : 'queued for quarantine');
  const input = { id: `import-${field}`, value, placeholder, onInput: (e: Event) => setValue((e.target as HTMLInputElement).value) };
  return (
    <form onSubmit={(e) => { e.preventDefault(); if (value.trim()) void outcome.run(() => api<Queued>('POST', '/api/models/import', { [field]: value.trim() })); }}>
      <label for={`import-${field}`}>{label}</label>
      <div class="import-row">
        {field === 'url' ? <input type="url" {...input} /> : <input type="text" {...input} />}
        <button type="submit" disabled={!value.trim() || outcome.busy}>{button}</button>
      </div>
      <Outcome o={outcome} id={field} />
    </form>
  );
}

function Catalog({ sources, error }: { sources: Source[] | null; error: string }) {
  return (
    <div class="card" aria-labelledby="catalog-h">
      <h2 id="catalog-h">Sources</h2>
      <p class="muted">Models may be downloaded only from these sources (policy <code>sources.allowlist.yaml</code>), through the airlock, and only if policy enables it.</p>
      {error && <p role="alert" class="error">{error}</p>}
      {sources && (
        <table>
          <thead><tr><th scope="col">source</th><th scope="col">covers</th><th scope="col">subdomains</th><th scope="col">note</th></tr></thead>
          <tbody>
            {sources.map((s, i) => (
              <tr key={i} data-source={s.label}>
                <th scope="row"><code>{s.label}</code></th>
                <td>{s.pathPrefix === undefined ? 'the whole host' : 'only this path'}{s.redirectOnly ? ', only when an allowed URL redirects there' : ''}</td>
                <td>{s.subdomains ? 'yes' : 'no'}</td><td>{s.note ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ImportField field="url" label="Import from a URL (https, an allowlisted host)"
        placeholder="https://huggingface.co/…/resolve/main/model.gguf" button="Import URL" />
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
  const submit = asyncHandler(async (e: Event) => {
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
  });
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

/** `version` changes when the live stream says the registry changed: the list is read again, the page's state kept. */
function Registry({ version }: { version: number }) {
  const [models, setModels] = useState<RegistryEntry[] | null>(null);
  const [error, setError] = useState('');
  const [verdicts, setVerdicts] = useState<Record<string, string>>({});
  const [removing, setRemoving] = useState<string | null>(null);
  const [removed, setRemoved] = useState('');
  const heading = useRef<HTMLHeadingElement>(null);
  // Only the latest request's answer is shown: an earlier one that arrives late would bring back a removed model.
  const latest = useRef(0);
  const load = () => {
    const n = ++latest.current;
    return api<{ models: RegistryEntry[] }>('GET', '/api/models').then(
      (r) => { if (n === latest.current) { setModels(r.models); setError(''); } },
      (e: unknown) => { if (n === latest.current) setError(describeError(e)); },
    );
  };
  useEffect(() => { void load(); }, [version]);
  const verify = asyncHandler(async (name: string) => {
    setVerdicts((v) => ({ ...v, [name]: 'verifying…' }));
    try {
      const r = await api<{ ok: boolean; reason?: string }>('POST', `/api/models/${encodeURIComponent(name)}/verify`);
      setVerdicts((v) => ({ ...v, [name]: r.ok ? 'intact' : `FAILED: ${r.reason ?? ''}` }));
    } catch (err) { setVerdicts((v) => ({ ...v, [name]: describeError(err) })); }
  });
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
  // Bumped when the live stream says the registry changed (a promotion, a removal here or elsewhere): the list reloads.
  const [registryVersion, setRegistryVersion] = useState(0);
  const [catalog, setCatalog] = useState<CatalogReply | null>(null);
  const [catalogError, setCatalogError] = useState('');
  const map = useState(() => new Map<string, Run>())[0];
  const publish = () => setRuns([...map.values()].sort((a, b) => b.lastSeq - a.lastSeq || b.id.localeCompare(a.id)).map((r) => ({ ...r })));
  useEffect(() => {
    // Jobs that ran before this page opened come from the quarantine's job list; live ones from the audit stream.
    api<{ jobs: JobSummary[] }>('GET', '/api/quarantine/jobs').then((r) => {
      for (const j of r.jobs) {
        if (map.has(j.id)) continue;
        map.set(j.id, { ...emptyRun(j.id), name: j.name, outcome: ['promoted', 'rejected', 'held'].includes(j.state) ? j.state : null, reason: j.reason, downloading: j.state === 'downloading' });
      }
      publish();
    }, (e: unknown) => setError(describeError(e)));
    api<CatalogReply>('GET', '/api/models/catalog').then(setCatalog, (e: unknown) => setCatalogError(describeError(e)));
    recentAudit.forEach((r) => foldRun(map, r));
    publish();
    // A burst of changes (several removals, a gap, a reconnection) is read once, shortly after the first.
    let watch = initialWatch;
    let pending: ReturnType<typeof setTimeout> | undefined;
    const hear = (e: LiveEvent) => {
      const step = watchRegistry(watch, e);
      watch = step.state;
      if (step.stale && pending === undefined) {
        pending = setTimeout(() => { pending = undefined; setRegistryVersion((v) => v + 1); }, REGISTRY_REFRESH_MS);
      }
    };
    const unsubscribe = subscribeLive({
      audit: (r) => {
        hear({ type: 'audit', record: r });
        if (!r.subject.startsWith('secai.evt.quarantine.')) return;
        foldRun(map, r);
        publish();
      },
      gap: () => hear({ type: 'gap' }),
      status: (connected) => hear({ type: 'status', connected }),
    });
    return () => { unsubscribe(); clearTimeout(pending); };
  }, []);
  // The run ends through its verdict on the live stream (rejected, "download cancelled by the web UI").
  const cancelDownload = async (id: string) => {
    try {
      await api('POST', `/api/quarantine/jobs/${encodeURIComponent(id)}/cancel`);
    } catch (e) { setError(describeError(e)); }
  };
  const showReport = asyncHandler(async (id: string) => {
    setOpen(open === id ? null : id);
    const run = map.get(id);
    if (!run || run.steps.some((s) => s.evidence !== null) || !run.outcome) return;
    try {
      const rep = await api<{ results: unknown[]; reason: string; state: string }>('GET', `/api/quarantine/jobs/${encodeURIComponent(id)}`);
      map.set(id, { ...run, steps: stepsFromResults(rep.results, run.lastSeq), reason: rep.reason });
      publish();
    } catch (e) { setError(describeError(e)); }
  });
  return (
    <section aria-labelledby="models-h">
      <h1 id="models-h" tabIndex={-1}>Models</h1>
      <ModelCatalog listing={catalog?.catalog ?? null} error={catalogError || (catalog?.catalogError ? `${catalog.catalogError.message} (${catalog.catalogError.code})` : '')} />
      <Import maxFileBytes={catalog?.maxFileBytes ?? null} limitError={catalogError} />
      <div class="card" aria-labelledby="runs-h">
        <h2 id="runs-h">Quarantine runs</h2>
        {error && <p role="alert" class="error">{error}</p>}
        {runs.length === 0 && <p class="muted">No quarantine run yet.</p>}
        {runs.map((run) => (
          <article key={run.id} class="run" data-run={run.id} aria-labelledby={`run-${run.id}`}>
            <h3 id={`run-${run.id}`}>{run.name || run.id} <span class={`badge outcome ${run.outcome ?? 'running'}`} data-testid="outcome">{run.outcome ?? 'running'}</span></h3>
            {run.reason && <p>{run.reason}</p>}
            <RunPath run={run} />
            {run.downloading && !run.outcome && <button type="button" class="secondary" onClick={() => void cancelDownload(run.id)}>Cancel download</button>}
            {run.outcome && <button type="button" class="secondary" aria-expanded={open === run.id} onClick={() => showReport(run.id)}>{open === run.id ? 'Hide evidence' : 'Show evidence'}</button>}
            {open === run.id && (
              <ul class="evidence-list">
                {run.steps.map((s) => <li key={s.stage}><strong>{s.stage}</strong>: {s.verdict} — {s.reason}<pre class="evidence">{JSON.stringify(s.evidence, null, 2)}</pre></li>)}
              </ul>
            )}
          </article>
        ))}
      </div>
      <Registry version={registryVersion} />
      <Catalog sources={catalog?.sources ?? null} error={catalogError} />
    </section>
  );
}
