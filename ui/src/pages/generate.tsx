// Generate: text-to-image and image-to-image with a promoted diffusion pipeline, a progress bar per denoising step and a
// cancel, through the gateway's event stream; pictures saved in the gallery (vault records), shown and deleted below.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, describeError, notifyUnauthorized, sessionHeaders } from '../api.js';
import { asyncHandler } from '../async-handler.js';
import { base64Of, pngDataUrl, startImagePng } from '../image-data.js';
import { sseParser } from '../../../common/sse-parse.js';

interface Pipeline { name: string; state: string }
interface Defaults { steps: number; guidance: number; maxSide: number; maxSteps: number; schedulers: string[]; initImageMaxBytes: number }
interface ModelsReply { models: Pipeline[]; defaults: Defaults; warning: string | null }
interface GalleryItem { id: string; created: number; model: string; prompt: string; seed: number; width: number; height: number; steps: number; scheduler: string }
interface Result { png: string; prompt: string; seed: number; width: number; height: number; steps: number; scheduler: string; galleryId?: string; galleryError?: { code: string; message: string } }
/** Idle keeps where the last run got to: the bar stays full after a picture, part-way after a cancel. */
type Run = { state: 'idle'; step: number; steps: number } | { state: 'running'; step: number; steps: number; requestId: string } | { state: 'cancelling'; step: number; steps: number };

/** The HTTP body's own bound (one bus message) leaves room for this much start image once in base64. */
const START_IMAGE_BYTES = 700 * 1024;
const THUMBS_PER_PAGE = 12;

function vaultProblem(err: unknown, what: string): string {
  if (err instanceof ApiError && err.code === 'SECAI_E_VAULT_LOCKED') return `${what}: the vault is locked. Unlock it in Settings.`;
  if (err instanceof ApiError && err.code === 'SECAI_E_VAULT_UNINITIALIZED') return `${what}: no vault has been set up yet.`;
  return `${what}: ${describeError(err)}`;
}

/** A gallery picture as a data URL: fetched with this tab's session proof (an <img src> could not send it). */
async function thumbnail(id: string): Promise<string> {
  const r = await fetch(`/api/gallery/${encodeURIComponent(id)}`, { credentials: 'same-origin', headers: sessionHeaders() });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  return pngDataUrl(base64Of(new Uint8Array(await r.arrayBuffer())));
}

function Gallery({ version, onShow }: { version: number; onShow: (item: GalleryItem, png: string) => void }) {
  const [items, setItems] = useState<GalleryItem[] | null>(null);
  const [problem, setProblem] = useState('');
  const [shown, setShown] = useState(THUMBS_PER_PAGE);
  const [thumbs, setThumbs] = useState<Record<string, string>>({});
  const load = () => api<{ images: GalleryItem[] }>('GET', '/api/gallery').then(
    (r) => { setItems(r.images); setProblem(''); },
    (e: unknown) => { setItems(null); setProblem(vaultProblem(e, 'The gallery is unavailable')); },
  );
  useEffect(() => { void load(); }, [version]);
  useEffect(() => {
    for (const it of items?.slice(0, shown) ?? []) {
      if (thumbs[it.id]) continue;
      thumbnail(it.id).then((url) => setThumbs((t) => ({ ...t, [it.id]: url })), (e: unknown) => setProblem(`A picture could not be read: ${describeError(e)}`));
    }
  }, [items, shown]);
  const remove = asyncHandler(async (id: string) => {
    try {
      await api('DELETE', `/api/gallery/${encodeURIComponent(id)}`);
      void load();
    } catch (err) { setProblem(vaultProblem(err, 'The picture was not deleted')); }
  });
  return (
    <section class="card" aria-labelledby="gallery-h">
      <h2 id="gallery-h">Gallery</h2>
      <p class="muted">Kept encrypted in the vault.</p>
      {problem && <p role="alert" class="error" data-testid="gallery-problem">{problem}</p>}
      {items && items.length === 0 && !problem && <p class="muted" data-testid="gallery-empty">No saved picture yet.</p>}
      {items && items.length > 0 && (
        <ul class="gallery">
          {items.slice(0, shown).map((it) => (
            <li key={it.id} data-image={it.id}>
              <button type="button" class="thumb" aria-label={`Show ${it.prompt}`} disabled={!thumbs[it.id]} onClick={() => onShow(it, thumbs[it.id]!)}>
                {thumbs[it.id] ? <img src={thumbs[it.id]} alt={it.prompt} width={Math.min(128, it.width)} /> : <span aria-busy="true">…</span>}
              </button>
              <p class="caption">{it.prompt}</p>
              <small class="muted">{it.width}×{it.height}, seed {it.seed}, {new Date(it.created).toLocaleString()}</small>
              <button type="button" class="secondary small" aria-label={`Delete ${it.prompt}`} onClick={() => remove(it.id)}>Delete</button>
            </li>
          ))}
        </ul>
      )}
      {items && items.length > shown && <button type="button" class="secondary" onClick={() => setShown((n) => n + THUMBS_PER_PAGE)}>Show more</button>}
    </section>
  );
}

/** A number input that keeps the last valid value (the browser checks min, max and step as well). */
function NumberField({ id, label, value, min, max, step, disabled, onChange }: { id: string; label: string; value: number; min: number; max: number; step: number; disabled: boolean; onChange: (n: number) => void }) {
  return (
    <div>
      <label for={id}>{label}</label>
      <input id={id} type="number" min={min} max={max} step={step} value={value} disabled={disabled}
        onInput={(e) => { const n = Number((e.target as HTMLInputElement).value); if (Number.isFinite(n) && n >= min && n <= max) onChange(n); }} />
    </div>
  );
}

export function GeneratePage() {
  const [pipelines, setPipelines] = useState<Pipeline[] | null>(null);
  const [defaults, setDefaults] = useState<Defaults | null>(null);
  const [warning, setWarning] = useState<string | null>(null);
  const [model, setModel] = useState('');
  const [prompt, setPrompt] = useState('');
  const [negative, setNegative] = useState('');
  const [width, setWidth] = useState(512);
  const [height, setHeight] = useState(512);
  const [steps, setSteps] = useState(20);
  const [guidance, setGuidance] = useState(7.5);
  const [scheduler, setScheduler] = useState('');
  const [randomSeed, setRandomSeed] = useState(true);
  const [seed, setSeed] = useState(0);
  const [start, setStart] = useState<{ file: File; preview: string } | null>(null);
  const [strength, setStrength] = useState(0.6);
  const [save, setSave] = useState(true);
  const [run, setRun] = useState<Run>({ state: 'idle', step: 0, steps: 1 });
  const [result, setResult] = useState<Result | null>(null);
  const [error, setError] = useState('');
  const [galleryVersion, setGalleryVersion] = useState(0);
  const abort = useRef<AbortController | null>(null);
  const busy = run.state !== 'idle';

  useEffect(() => {
    api<ModelsReply>('GET', '/api/images/models').then((r) => {
      setPipelines(r.models);
      setModel((m) => m || r.models[0]?.name || '');
      setDefaults(r.defaults);
      setWarning(r.warning);
      const side = Math.min(512, r.defaults.maxSide);
      setWidth(side); setHeight(side); setSteps(r.defaults.steps); setGuidance(r.defaults.guidance);
    }, (e: unknown) => { setPipelines([]); setError(describeError(e)); });
    return () => abort.current?.abort();
  }, []);

  const chooseStart = asyncHandler(async (e: Event) => {
    const input = e.target as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) { setStart(null); return; }
    try {
      setStart({ file, preview: pngDataUrl(await startImagePng(file, 128, 128, START_IMAGE_BYTES)) });
      setError('');
    } catch (err) {
      input.value = '';
      setStart(null);
      setError(describeError(err));
    }
  });

  const generate = asyncHandler(async (e: Event) => {
    e.preventDefault();
    if (!model || !prompt.trim() || busy || !defaults) return;
    setError('');
    setRun({ state: 'running', step: 0, steps, requestId: '' });
    const ctl = new AbortController();
    abort.current = ctl;
    let requestId = '';
    let finished = false;
    try {
      const initImage = start ? await startImagePng(start.file, width, height, Math.min(START_IMAGE_BYTES, defaults.initImageMaxBytes)) : undefined;
      const body = {
        model, prompt, width, height, steps, guidance, save,
        ...(negative.trim() && { negativePrompt: negative }), ...(!randomSeed && { seed }), ...(scheduler && { scheduler }),
        ...(initImage && { initImage, strength }),
      };
      const r = await fetch('/api/images/generate', {
        method: 'POST', credentials: 'same-origin', signal: ctl.signal,
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...sessionHeaders() },
        body: JSON.stringify(body),
      });
      if (!r.ok || !r.body) {
        const b = (await r.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
        if (r.status === 401 || b.error?.code === 'SECAI_E_CSRF') notifyUnauthorized();
        throw new ApiError(r.status, b.error?.code ?? `HTTP_${r.status}`, b.error?.message ?? `HTTP ${r.status}`);
      }
      const parser = sseParser((data, event) => {
        const d = JSON.parse(data) as Record<string, unknown>;
        if (event === 'started') {
          requestId = String(d['requestId']);
          setRun((x) => (x.state === 'running' ? { ...x, requestId } : x));
        } else if (event === 'progress') {
          setRun((x) => (x.state === 'idle' ? x : { ...x, step: Number(d['step']), steps: Number(d['steps']) }));
        } else if (event === 'done') {
          finished = true;
          // The steps that ran (fewer for image-to-image, none at strength 0): the bar ends full.
          const ran = Math.max(1, Number(d['steps']));
          setRun((x) => (x.state === 'idle' ? x : { ...x, step: ran, steps: ran }));
          setResult({ ...(d as unknown as Result), prompt });
          if (!randomSeed) setSeed(Number(d['seed']));
          if (d['galleryId']) setGalleryVersion((v) => v + 1);
        } else if (event === 'error') {
          finished = true;
          const err = d as { code?: string; message?: string };
          setError(err.code === 'SECAI_E_CANCELLED' ? 'Cancelled.' : `${err.message ?? 'the generation failed'} (${err.code ?? 'error'})`);
        }
      });
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.push(value);
      }
      parser.end();
      if (!finished) setError('The generation ended without a picture.');
    } catch (err) {
      if (ctl.signal.aborted) setError('Cancelled.');
      else if (err instanceof ApiError && err.code === 'SECAI_E_VAULT_LOCKED') setError('The vault is locked: unlock it in Settings to save pictures, or untick “Save to the gallery”.');
      else setError(describeError(err));
    } finally {
      setRun((x) => ({ state: 'idle', step: x.step, steps: x.steps }));
      abort.current = null;
    }
  });

  const cancel = asyncHandler(async () => {
    if (run.state !== 'running') return;
    setRun({ state: 'cancelling', step: run.step, steps: run.steps });
    // By its id, so the diffusion actor stops between two steps; before the id is known, leaving cancels too.
    if (!run.requestId) { abort.current?.abort(); return; }
    try {
      await api('POST', '/api/images/cancel', { requestId: run.requestId });
    } catch {
      abort.current?.abort();
    }
  });

  const maxSide = defaults?.maxSide ?? 1024;
  const progress = run.state === 'idle' ? null : run;
  return (
    <section aria-labelledby="gen-h">
      <h1 id="gen-h" tabIndex={-1}>Generate</h1>
      <p class="muted">Pictures are made on this machine only, by a promoted diffusion pipeline in a sandboxed worker with no network.</p>
      {warning && <p class="bad" role="alert">{warning}</p>}
      <form class="card gen-form" onSubmit={generate} aria-labelledby="gen-form-h">
        <h2 id="gen-form-h">Picture</h2>
        <label for="gen-model">Model</label>
        <select id="gen-model" value={model} onChange={(e) => setModel((e.target as HTMLSelectElement).value)} disabled={!pipelines?.length || busy}>
          {!pipelines && <option value="">loading…</option>}
          {pipelines?.length === 0 && <option value="">no promoted diffusion pipeline</option>}
          {pipelines?.map((p) => <option key={p.name} value={p.name}>{p.name}{p.state === 'ready' ? ' (loaded)' : ''}</option>)}
        </select>
        <label for="gen-prompt">Prompt</label>
        <textarea id="gen-prompt" rows={3} maxLength={2000} value={prompt} disabled={busy} onInput={(e) => setPrompt((e.target as HTMLTextAreaElement).value)} />
        <label for="gen-negative">Negative prompt</label>
        <textarea id="gen-negative" rows={2} maxLength={2000} value={negative} disabled={busy} onInput={(e) => setNegative((e.target as HTMLTextAreaElement).value)} />
        <div class="gen-grid">
          <NumberField id="gen-width" label="Width" value={width} min={64} max={maxSide} step={8} disabled={busy} onChange={setWidth} />
          <NumberField id="gen-height" label="Height" value={height} min={64} max={maxSide} step={8} disabled={busy} onChange={setHeight} />
          <NumberField id="gen-steps" label="Steps" value={steps} min={1} max={defaults?.maxSteps ?? 60} step={1} disabled={busy} onChange={setSteps} />
          <NumberField id="gen-guidance" label="Guidance" value={guidance} min={0} max={30} step={0.5} disabled={busy} onChange={setGuidance} />
          <div>
            <label for="gen-scheduler">Scheduler</label>
            <select id="gen-scheduler" value={scheduler} disabled={busy} onChange={(e) => setScheduler((e.target as HTMLSelectElement).value)}>
              <option value="">the pipeline's own</option>
              {(defaults?.schedulers ?? []).map((s) => <option key={s} value={s}>{s}</option>)}
            </select>
          </div>
          <div>
            <label for="gen-seed">Seed</label>
            <input id="gen-seed" type="number" min={0} max={4294967295} step={1} value={seed} disabled={busy || randomSeed}
              onInput={(e) => { const n = Number((e.target as HTMLInputElement).value); if (Number.isInteger(n) && n >= 0 && n <= 4294967295) setSeed(n); }} />
            <label class="check"><input type="checkbox" checked={randomSeed} disabled={busy} onChange={(e) => setRandomSeed((e.target as HTMLInputElement).checked)} /> Random seed</label>
          </div>
        </div>
        <label for="gen-start">Start image (image-to-image)</label>
        <input id="gen-start" type="file" accept="image/png,image/jpeg,image/webp" disabled={busy} onChange={chooseStart} />
        {start && (
          <div class="gen-start">
            <img src={start.preview} alt="the start image" width={64} />
            <label for="gen-strength">Strength <output for="gen-strength">{strength.toFixed(2)}</output></label>
            <input id="gen-strength" type="range" min={0} max={1} step={0.05} value={strength} disabled={busy} onInput={(e) => setStrength(Number((e.target as HTMLInputElement).value))} />
            <small class="muted">0 keeps the start image; 1 ignores it.</small>
          </div>
        )}
        <label class="check"><input type="checkbox" checked={save} disabled={busy} onChange={(e) => setSave((e.target as HTMLInputElement).checked)} /> Save to the gallery</label>
        <div class="row">
          <button type="submit" disabled={!model || !prompt.trim() || busy}>Generate</button>
          <button type="button" class="secondary" disabled={run.state !== 'running'} onClick={cancel}>Cancel</button>
        </div>
      </form>
      <div class="card gen-output" aria-labelledby="gen-out-h">
        <h2 id="gen-out-h">Result</h2>
        <label for="gen-progress">Progress</label>
        <progress id="gen-progress" max={run.steps} value={run.step} />
        <p role="status" class="muted" data-testid="gen-step" data-step={progress?.step ?? ''} data-steps={progress?.steps ?? ''}>
          {progress ? (progress.state === 'cancelling' ? 'Cancelling…' : progress.step === 0 ? 'Waiting for the pipeline…' : `Step ${progress.step} of ${progress.steps}`) : ''}
        </p>
        {error && <p role="alert" class="error" data-testid="gen-error">{error}</p>}
        {result && (
          <figure class="gen-result" data-testid="gen-result" data-seed={result.seed}>
            <img src={pngDataUrl(result.png)} alt={result.prompt} width={result.width} height={result.height} />
            <figcaption>
              {result.width}×{result.height}, seed {result.seed}, {result.steps} steps ({result.scheduler})
              {result.galleryId && <> · saved in the gallery</>}
              {result.galleryError && <span class="error"> · not saved: {result.galleryError.message}</span>}
              {' '}<button type="button" class="link-like" disabled={busy} onClick={() => { setRandomSeed(false); setSeed(result.seed); }}>Use this seed</button>
            </figcaption>
          </figure>
        )}
      </div>
      <Gallery version={galleryVersion} onShow={(it, png) => setResult({ png: png.slice(png.indexOf(',') + 1), prompt: it.prompt, seed: it.seed, width: it.width, height: it.height, steps: it.steps, scheduler: it.scheduler, galleryId: it.id })} />
    </section>
  );
}
