// MCP: whether the MCP firewall listens, its upstream servers, every tool with its status, findings and (for a rug
// pull) the diff, approving a definition with the passphrase again, and how an outside client connects.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, describeError } from '../api.js';
import { asyncHandler } from '../async-handler.js';

type ToolStatus = 'exposed' | 'unapproved' | 'changed' | 'poisoned' | 'shadowed' | 'denied';
interface Finding { kind: string; severity: 'high' | 'medium'; where: string; excerpt: string }
interface Change { field: string; before: string | null; after: string | null }
interface Tool {
  server: string; name: string; status: ToolStatus; hash: string; pinnedHash: string | null; findings: Finding[]; diff: Change[];
  description: string; readOnly: boolean; sink: string; taint: string[];
}
interface Server { id: string; transport: string; status: string; error: string | null; tools: number }
interface McpStatus { enabled: boolean; url: string | null; sessions: number; calls: number; refused: number; pinsProblem: string | null; servers: Server[] }
interface McpView { status: McpStatus; tools: Tool[] }
interface Approved { server: string; tool: string; hash: string; approvedBy: string; acceptedFindings: string[] }

const REFRESH_MS = 5000;
/** Why a tool that is not exposed is not: the same words as docs/mcp.md. */
const MEANING: Record<ToolStatus, string> = {
  exposed: 'allowed by policy and its definition is the one approved: clients see it',
  unapproved: 'allowed by policy, never approved: hidden until an operator approves this definition',
  changed: 'the server now offers another definition than the one approved (a rug pull?): hidden until approved again',
  poisoned: 'never approved, and the scan found instructions or paths in it: hidden; approving needs “accept findings”',
  shadowed: 'more than one allowed server offers this name: hidden on all of them until policy allows only one',
  denied: 'policy denies it (mcp.servers[].tools): hidden and uncallable',
};
/** Statuses an operator can change here: the others need a policy edit. */
const APPROVABLE: readonly ToolStatus[] = ['unapproved', 'changed', 'poisoned'];
const text = (v: string | null) => (v === null ? '(none)' : v);

function ApproveDialog({ tool, onDone, onClose }: { tool: Tool; onDone: (a: Approved) => void; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const pass = useRef<HTMLInputElement>(null);
  const accept = useRef<HTMLInputElement>(null);
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
      const r = await api<{ approved: Approved }>('POST', '/api/mcp/approve', {
        server: tool.server, tool: tool.name, hash: tool.hash, acceptFindings: accept.current?.checked === true, passphrase: pass.current?.value ?? '',
      });
      dialog.current?.close();
      onDone(r.approved);
    } catch (err) {
      setError(describeError(err));
      if (pass.current) { pass.current.value = ''; pass.current.focus(); }
    } finally { setBusy(false); }
  });
  const id = `${tool.server}/${tool.name}`;
  return (
    <dialog ref={dialog} class="confirm remove-dialog" aria-labelledby="mcp-approve-h" aria-describedby="mcp-approve-d" onClose={onClose}>
      <form onSubmit={submit}>
        <h3 id="mcp-approve-h">Approve {id}?</h3>
        <p id="mcp-approve-d">Every MCP client (and the agent) may then call this tool as its server describes it now, definition <code class="wrap">{tool.hash}</code>.
          If the server changes the definition later, the tool is hidden again until approved again. Enter the passphrase to confirm.</p>
        {tool.findings.length > 0 && (
          <label class="check">
            <input ref={accept} type="checkbox" data-testid="accept-findings" />
            {' '}I read the {tool.findings.length} finding{tool.findings.length === 1 ? '' : 's'} and accept {tool.findings.length === 1 ? 'it' : 'them'}
          </label>
        )}
        <label for="mcp-approve-pass">Passphrase</label>
        <input id="mcp-approve-pass" ref={pass} type="password" autocomplete="current-password" required />
        {error && <p role="alert" class="error" data-testid="approve-error">{error}</p>}
        <div class="row">
          <button type="submit" class="danger" disabled={busy}>{busy ? 'Sending…' : 'Yes, approve'}</button>
          <button type="button" class="secondary" onClick={() => dialog.current?.close()}>Cancel</button>
        </div>
      </form>
    </dialog>
  );
}

function ToolRow({ tool, onApprove }: { tool: Tool; onApprove: (t: Tool) => void }) {
  return (
    <tr data-server={tool.server} data-tool={tool.name} data-status={tool.status}>
      <th scope="row">{tool.name}<br /><small class="muted">{tool.server}</small></th>
      <td><span class={`badge mcp-${tool.status}`} data-testid="tool-status" title={MEANING[tool.status]}>{tool.status}</span>
        <br /><small class="muted">{MEANING[tool.status]}</small></td>
      <td>
        <code class="wrap" title="sha256 of the canonical definition">{tool.hash}</code>
        {tool.pinnedHash && tool.pinnedHash !== tool.hash && <><br /><small>approved: <code class="wrap">{tool.pinnedHash}</code></small></>}
        <br /><small class="muted">{tool.readOnly ? 'read-only' : 'writes'}, sink {tool.sink}{tool.taint.length > 0 && `, taints ${tool.taint.join(', ')}`}</small>
      </td>
      <td>
        {tool.description && <details><summary>description</summary><pre class="evidence">{tool.description}</pre></details>}
        {tool.findings.length > 0 && (
          <ul class="findings" data-testid="findings">
            {tool.findings.map((f, n) => (
              <li key={n} data-kind={f.kind}><span class={`badge sev-${f.severity}`}>{f.severity}</span> <strong>{f.kind.replace(/_/g, ' ')}</strong> in <code>{f.where}</code>: <q>{f.excerpt}</q></li>
            ))}
          </ul>
        )}
        {tool.diff.length > 0 && (
          <table class="mcp-diff" data-testid="diff">
            <caption>What changed since the approval</caption>
            <thead><tr><th scope="col">field</th><th scope="col">approved</th><th scope="col">offered now</th></tr></thead>
            <tbody>
              {tool.diff.map((c) => (
                <tr key={c.field} data-field={c.field}><th scope="row">{c.field}</th><td><pre class="before">{text(c.before)}</pre></td><td><pre class="after">{text(c.after)}</pre></td></tr>
              ))}
            </tbody>
          </table>
        )}
        {!tool.description && !tool.findings.length && !tool.diff.length && <span class="muted">–</span>}
      </td>
      <td>{APPROVABLE.includes(tool.status) && <button type="button" class="danger small" aria-haspopup="dialog" onClick={() => onApprove(tool)}>Approve…</button>}</td>
    </tr>
  );
}

export function McpPage() {
  const [view, setView] = useState<McpView | null>(null);
  const [error, setError] = useState('');
  const [approving, setApproving] = useState<Tool | null>(null);
  const [done, setDone] = useState('');
  const live = useRef(true);
  const load = () => api<McpView>('GET', '/api/mcp').then((v) => { if (live.current) { setView(v); setError(''); } }, (e: unknown) => live.current && setError(describeError(e)));
  useEffect(() => {
    live.current = true;
    void load();
    const t = setInterval(load, REFRESH_MS);
    return () => { live.current = false; clearInterval(t); };
  }, []);
  const s = view?.status;
  const flagged = view?.tools.filter((t) => t.status === 'changed' || t.status === 'poisoned' || t.status === 'shadowed').length ?? 0;
  return (
    <section aria-labelledby="mcp-h">
      <h1 id="mcp-h" tabIndex={-1}>MCP</h1>
      <p class="muted">The MCP firewall stands between MCP clients (and the agent) and the MCP servers in policy: a tool is offered only when policy
        allows it and an operator approved its exact definition. Approve here with the passphrase, or with <code>securectl mcp approve SERVER TOOL HASH</code>.</p>
      {error && <p role="alert" class="error">{error}</p>}
      {!view && !error && <p aria-busy="true">Loading…</p>}
      {s && view && (
        <>
          <div class="card">
            <h2>Firewall</h2>
            {!s.enabled && <p data-testid="mcp-listening" class="muted">Disabled: <code>mcp.enabled</code> is false in policy.yaml. No port is open and no server is started.</p>}
            {s.enabled && (s.url
              ? <p data-testid="mcp-listening"><span class="ok">listening</span> on <code data-testid="mcp-url">{s.url}</code> (loopback only); {s.sessions} session(s), {s.calls} call(s), {s.refused} refused.</p>
              : <p data-testid="mcp-listening" class="bad">Enabled but not listening (see the appliance log).</p>)}
            {s.pinsProblem && <p class="bad" role="alert" data-testid="mcp-pins-problem">Every approval was dropped at start: {s.pinsProblem}. Each tool waits for a new approval.</p>}
            {flagged > 0 && <p class="bad" data-testid="mcp-flagged">{flagged} tool{flagged === 1 ? '' : 's'} changed, poisoned or shadowed: read {flagged === 1 ? 'it' : 'them'} below.</p>}
          </div>
          <div class="card">
            <h2>Servers</h2>
            {s.servers.length === 0 ? <p class="muted">No servers in <code>mcp.servers</code>.</p> : (
              <table class="mcp-servers">
                <thead><tr><th scope="col">server</th><th scope="col">transport</th><th scope="col">status</th><th scope="col">tools</th></tr></thead>
                <tbody>
                  {s.servers.map((x) => (
                    <tr key={x.id} data-server={x.id} data-status={x.status}>
                      <th scope="row">{x.id}</th><td>{x.transport}</td>
                      <td class={x.status === 'ready' ? 'ok' : x.status === 'failed' ? 'bad' : 'muted'}>{x.status}{x.error && <><br /><small>{x.error}</small></>}</td>
                      <td>{x.tools}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </div>
          <div class="card">
            <h2>Tools</h2>
            <p role="status" class="ok" data-testid="approve-done">{done}</p>
            {view.tools.length === 0 ? <p class="muted" data-testid="no-tools">No server offers any tool.</p> : (
              <table class="mcp-tools">
                <thead><tr><th scope="col">tool</th><th scope="col">status</th><th scope="col">definition</th><th scope="col">description, findings, diff</th><th scope="col"><span class="sr-only">action</span></th></tr></thead>
                <tbody>{view.tools.map((t) => <ToolRow key={`${t.server}/${t.name}`} tool={t} onApprove={(x) => { setDone(''); setApproving(x); }} />)}</tbody>
              </table>
            )}
          </div>
          <div class="card">
            <h2>Connect a client</h2>
            <p>Point an MCP client (streamable HTTP) at {s.url ? <code>{s.url}</code> : 'the firewall’s URL once it listens'} with the header
              <code> Authorization: Bearer TOKEN</code>. The token is in <code>keys/mcp-client.token</code> under the appliance’s state directory
              (<code>SECAI_HOME</code>; mode 0600): read it there, it is never shown in the browser. Requests from web pages (an <code>Origin</code> header) are refused.</p>
          </div>
        </>
      )}
      {approving && (
        <ApproveDialog tool={approving}
          onDone={(a) => { setDone(`${a.server}/${a.tool} approved (by ${a.approvedBy}).`); void load(); }}
          onClose={() => setApproving(null)} />
      )}
    </section>
  );
}
