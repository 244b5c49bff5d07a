// The Models page's model catalog: the signed, curated list (name, size, license, source, SHA-256 pin), each with a
// Download button that starts a download through the airlock into quarantine; its run then shows under Quarantine runs.
import { useState } from 'preact/hooks';
import { api, describeError } from '../api.js';
import { formatBytes } from '../upload-limit.js';

/** One entry as `GET /api/models/catalog` lists it (the quarantine's `catalog` op). */
export interface CatalogModel {
  id: string; name: string; family: string; format: string; sizeBytes: number; license: string;
  sourceUrl: string; sha256: string; pinVerified: boolean; pinSource: string; tags: string[]; description?: string;
}
export interface ModelCatalogListing { publisher: string; signer: { name: string; keyId: string }; digest: string; models: CatalogModel[] }

type RowState = { busy: boolean; done: string; failed: string };

/** `listing`: the verified catalog, or null with `error` saying why none is shown (a refused signature included). */
export function ModelCatalog({ listing, error }: { listing: ModelCatalogListing | null; error: string }) {
  const [rows, setRows] = useState<Record<string, RowState>>({});
  const set = (id: string, s: RowState) => setRows((r) => ({ ...r, [id]: s }));
  const download = async (m: CatalogModel) => {
    set(m.id, { busy: true, done: '', failed: '' });
    try {
      const r = await api<{ id: string; name: string }>('POST', '/api/models/import', { catalog: m.id });
      set(m.id, { busy: false, done: `${r.name} is downloading into quarantine as job ${r.id}: watch its stages under Quarantine runs.`, failed: '' });
    } catch (err) {
      set(m.id, { busy: false, done: '', failed: describeError(err) });
    }
  };
  return (
    <div class="card" aria-labelledby="model-catalog-h">
      <h2 id="model-catalog-h">Model catalog</h2>
      <p class="muted">
        Curated models, each pinned by SHA-256. A download goes through the airlock (if policy enables it) into quarantine;
        stage 3 rejects a file that does not match its pin, and every other stage runs as for any import.
      </p>
      {error && <p role="alert" class="error" data-testid="model-catalog-error">The catalog is not available: {error}</p>}
      {listing && (
        <>
          <p class="muted" data-testid="model-catalog-signer">{listing.publisher}, signed by {listing.signer.name} (key {listing.signer.keyId}).</p>
          {listing.models.length === 0 && <p>The catalog lists no model.</p>}
          {listing.models.length > 0 && (
            <table>
              <thead><tr><th scope="col">model</th><th scope="col">size</th><th scope="col">license</th><th scope="col">source and SHA-256 pin</th><th scope="col"><span class="visually-hidden">download</span></th></tr></thead>
              <tbody>
                {listing.models.map((m) => {
                  const s = rows[m.id];
                  return (
                    <tr key={m.id} data-catalog-model={m.id}>
                      <th scope="row">{m.name}<br /><small class="muted">{m.family} · {m.format}{m.tags.length ? ` · ${m.tags.join(', ')}` : ''}</small>{m.description && <><br /><small>{m.description}</small></>}</th>
                      <td>{formatBytes(m.sizeBytes)}</td>
                      <td>{m.license}</td>
                      <td>
                        <code class="wrap">{m.sourceUrl}</code><br />
                        <code class="wrap" data-testid="pin">{m.sha256}</code><br />
                        {/* The publisher did not hash this file itself: the pin is still enforced, so a wrong one rejects the download. */}
                        <small class={m.pinVerified ? 'muted' : 'warn'} title={m.pinSource}>{m.pinVerified ? 'pin verified by the publisher' : `pin not yet verified by the publisher (${m.pinSource})`}</small>
                      </td>
                      <td>
                        <button type="button" onClick={() => void download(m)} disabled={s?.busy === true} aria-label={`Download ${m.name}`}>{s?.busy ? 'Starting…' : 'Download'}</button>
                        <p role="status" class="ok" data-testid={`catalog-done-${m.id}`}>{s?.done ?? ''}</p>
                        {s?.failed && <p role="alert" class="error" data-testid={`catalog-error-${m.id}`}>{s.failed}</p>}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
        </>
      )}
      <p class="muted">Or, as a signed operator command: <code>securectl models catalog</code>, then <code>securectl models pull ID</code>.</p>
    </div>
  );
}
