// Settings: vault lock and unlock, passphrase change, and the signed-in sessions with revocation.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, describeError } from '../api.js';
import { asyncHandler } from '../async-handler.js';

interface VaultStatus { state: string; initialized?: boolean }
interface Session { handle: string; createdAt: number; lastSeenAt: number; expiresAt: number; current: boolean }

const when = (ms?: number) => (ms ? new Date(ms).toLocaleString() : '–');

function VaultCard() {
  const [status, setStatus] = useState<VaultStatus | null>(null);
  const [msg, setMsg] = useState('');
  const [error, setError] = useState('');
  const pass = useRef<HTMLInputElement>(null);
  const load = () => api<VaultStatus>('GET', '/api/vault/status').then(setStatus, (e: unknown) => setError(describeError(e)));
  useEffect(() => { void load(); }, []);
  const locked = status ? status.state === 'locked' : undefined;
  const act = asyncHandler(async (e: Event, what: 'lock' | 'unlock') => {
    e.preventDefault();
    setError(''); setMsg('');
    try {
      await api('POST', `/api/vault/${what}`, what === 'unlock' ? { passphrase: pass.current?.value ?? '' } : {});
      if (pass.current) pass.current.value = '';
      setMsg(what === 'lock' ? 'Vault locked.' : 'Vault unlocked.');
      await load();
    } catch (err) { setError(describeError(err)); }
  });
  return (
    <div class="card" aria-labelledby="vault-h">
      <h2 id="vault-h">Vault</h2>
      <p>State: <strong data-testid="vault-state">{status ? status.state : '…'}</strong></p>
      {status?.state === 'unlocked' && <form onSubmit={(e) => act(e, 'lock')}><button type="submit">Lock now</button></form>}
      {locked === true && (
        <form onSubmit={(e) => act(e, 'unlock')}>
          <label for="unlock-pass">Passphrase</label>
          <input id="unlock-pass" ref={pass} type="password" autocomplete="current-password" required />
          <button type="submit">Unlock</button>
        </form>
      )}
      {msg && <p role="status" class="ok">{msg}</p>}
      {error && <p role="alert" class="error">{error}</p>}
    </div>
  );
}

function PassphraseCard() {
  const [msg, setMsg] = useState('');
  const [error, setError] = useState('');
  const cur = useRef<HTMLInputElement>(null);
  const next = useRef<HTMLInputElement>(null);
  const again = useRef<HTMLInputElement>(null);
  const submit = asyncHandler(async (e: Event) => {
    e.preventDefault();
    setError(''); setMsg('');
    if (next.current?.value !== again.current?.value) { setError('The two new passphrases differ.'); again.current?.focus(); return; }
    try {
      await api('POST', '/api/auth/change-passphrase', { old: cur.current?.value ?? '', new: next.current?.value ?? '' });
      for (const r of [cur, next, again]) if (r.current) r.current.value = '';
      setMsg('Passphrase changed. Every other session was signed out.');
    } catch (err) { setError(describeError(err)); }
  });
  return (
    <div class="card" aria-labelledby="pass-h">
      <h2 id="pass-h">Change passphrase</h2>
      <form onSubmit={submit}>
        <label for="pass-cur">Current passphrase</label>
        <input id="pass-cur" ref={cur} type="password" autocomplete="current-password" required />
        <label for="pass-new">New passphrase</label>
        <input id="pass-new" ref={next} type="password" autocomplete="new-password" required />
        <label for="pass-again">Repeat new passphrase</label>
        <input id="pass-again" ref={again} type="password" autocomplete="new-password" required />
        <button type="submit">Change passphrase</button>
      </form>
      {msg && <p role="status" class="ok">{msg}</p>}
      {error && <p role="alert" class="error">{error}</p>}
    </div>
  );
}

function SessionsCard() {
  const [sessions, setSessions] = useState<Session[] | null>(null);
  const [error, setError] = useState('');
  const load = () => api<{ sessions: Session[] }>('GET', '/api/auth/sessions').then((r) => setSessions(r.sessions), (e: unknown) => setError(describeError(e)));
  useEffect(() => { void load(); }, []);
  const revoke = asyncHandler(async (handle: string) => {
    setError('');
    try { await api('DELETE', `/api/auth/sessions/${encodeURIComponent(handle)}`); await load(); } catch (err) { setError(describeError(err)); }
  });
  return (
    <div class="card" aria-labelledby="sessions-h">
      <h2 id="sessions-h">Sessions</h2>
      {error && <p role="alert" class="error">{error}</p>}
      {sessions && (
        <table>
          <thead><tr><th scope="col">session</th><th scope="col">signed in</th><th scope="col">last seen</th><th scope="col">expires</th><th scope="col"><span class="visually-hidden">actions</span></th></tr></thead>
          <tbody>
            {sessions.map((s) => (
              <tr key={s.handle} data-session={s.handle}>
                <td><code>{s.handle.slice(0, 12)}</code>{s.current && <strong> (this one)</strong>}</td>
                <td>{when(s.createdAt)}</td>
                <td>{when(s.lastSeenAt)}</td>
                <td>{when(s.expiresAt)}</td>
                <td>{!s.current && <button type="button" class="secondary" onClick={() => revoke(s.handle)} aria-label={`Revoke session ${s.handle.slice(0, 12)}`}>Revoke</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

export function SettingsPage() {
  return (
    <section aria-labelledby="settings-h">
      <h1 id="settings-h" tabIndex={-1}>Settings</h1>
      <VaultCard />
      <PassphraseCard />
      <SessionsCard />
    </section>
  );
}
