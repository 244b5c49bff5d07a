// First run (choose the vault passphrase) and login: the only pages reachable without a session.
import { useRef, useState } from 'preact/hooks';
import { api, describeError } from '../api.js';
import { takeCsrf } from '../auth.js';
import { asyncHandler } from '../async-handler.js';

const MIN_PASSPHRASE = 12;

export function SetupPage(p: { onDone: () => void }) {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const a = useRef<HTMLInputElement>(null);
  const b = useRef<HTMLInputElement>(null);
  const code = useRef<HTMLInputElement>(null);
  const submit = asyncHandler(async (e: Event) => {
    e.preventDefault();
    const pass = a.current?.value ?? '';
    const setupCode = (code.current?.value ?? '').trim();
    if (pass.length < MIN_PASSPHRASE) { setError(`Use at least ${MIN_PASSPHRASE} characters.`); a.current?.focus(); return; }
    if (pass !== b.current?.value) { setError('The two passphrases differ.'); b.current?.focus(); return; }
    if (!setupCode) { setError('Enter the setup code that secai up printed.'); code.current?.focus(); return; }
    setBusy(true);
    setError('');
    try {
      takeCsrf(await api('POST', '/api/auth/setup', { passphrase: pass, setupCode }));
      p.onDone();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  });
  return (
    <section class="narrow card" aria-labelledby="setup-h">
      <h1 id="setup-h" tabIndex={-1}>Set up SecAI OS</h1>
      <p>Choose the passphrase that encrypts your vault. It never leaves this machine, and it cannot be recovered: write it down somewhere safe.</p>
      <form onSubmit={submit} aria-describedby={error ? 'setup-err' : undefined}>
        <label for="setup-code">Setup code</label>
        <p id="setup-code-hint" >Printed by <code>secai up</code> on its terminal (also in <code>run/setup-code</code> under its state folder): it proves you run this machine.</p>
        <input id="setup-code" ref={code} type="text" autocomplete="off" spellcheck={false} aria-describedby="setup-code-hint" autoFocus />
        <label for="setup-pass">Passphrase</label>
        <input id="setup-pass" ref={a} type="password" autocomplete="new-password" required />
        <label for="setup-pass2">Repeat passphrase</label>
        <input id="setup-pass2" ref={b} type="password" autocomplete="new-password" required />
        {error && <p id="setup-err" role="alert" class="error">{error}</p>}
        <button type="submit" disabled={busy}>{busy ? 'Creating the vault…' : 'Create vault'}</button>
      </form>
    </section>
  );
}

export function LoginPage(p: { onDone: () => void }) {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const pass = useRef<HTMLInputElement>(null);
  const submit = asyncHandler(async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      takeCsrf(await api('POST', '/api/auth/login', { passphrase: pass.current?.value ?? '' }));
      p.onDone();
    } catch (err) {
      setError(describeError(err));
      pass.current?.select();
    } finally {
      setBusy(false);
    }
  });
  return (
    <section class="narrow card" aria-labelledby="login-h">
      <h1 id="login-h" tabIndex={-1}>Sign in</h1>
      <form onSubmit={submit}>
        <label for="login-pass">Passphrase</label>
        <input id="login-pass" ref={pass} type="password" autocomplete="current-password" required autoFocus />
        {error && <p role="alert" class="error">{error}</p>}
        <button type="submit" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </section>
  );
}
