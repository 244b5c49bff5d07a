// Panic controls: three levels, each behind an explicit confirmation; levels 2 and 3 also need the passphrase.
import { useRef, useState } from 'preact/hooks';
import { api, describeError } from './api.js';
import { asyncHandler } from './async-handler.js';

const LEVELS = [
  { level: 1, title: 'Lock', text: 'Locks the vault and ends sessions. Reversible: unlock with the passphrase.' },
  { level: 2, title: 'Wipe keys', text: 'Destroys the vault keys: the vault can never be decrypted again, even with the passphrase.' },
  { level: 3, title: 'Full wipe', text: 'Erases the vault, the registry, the quarantine and the keys. The audit log keeps a record of the wipe.' },
] as const;

export function PanicCard() {
  const [armed, setArmed] = useState<number | null>(null);
  const [msg, setMsg] = useState('');
  const [error, setError] = useState('');
  const pass = useRef<HTMLInputElement>(null);
  const fire = asyncHandler(async (e: Event) => {
    e.preventDefault();
    if (armed === null) return;
    setError(''); setMsg('');
    try {
      await api('POST', '/api/emergency/panic', { level: armed, confirm: true, ...(armed > 1 && { passphrase: pass.current?.value ?? '' }) });
      setMsg(`Panic level ${armed} done.`);
      setArmed(null);
    } catch (err) { setError(describeError(err)); }
  });
  const info = LEVELS.find((l) => l.level === armed);
  return (
    <div class="card panic" aria-labelledby="panic-h">
      <h2 id="panic-h">Emergency</h2>
      <ul class="levels">
        {LEVELS.map((l) => (
          <li key={l.level}>
            <button type="button" class="danger" onClick={() => { setArmed(l.level); setMsg(''); setError(''); }} aria-describedby={`panic-${l.level}-d`}>Panic {l.level}: {l.title}…</button>
            <span id={`panic-${l.level}-d`} class="muted"> {l.text}</span>
          </li>
        ))}
      </ul>
      {info && (
        <form onSubmit={fire} class="confirm" aria-labelledby="panic-confirm-h" aria-describedby="panic-confirm-d">
          <h3 id="panic-confirm-h">Confirm panic level {info.level}: {info.title}</h3>
          <p id="panic-confirm-d">{info.text}</p>
          {info.level > 1 && (<><label for="panic-pass">Passphrase</label><input id="panic-pass" ref={pass} type="password" autocomplete="current-password" required autoFocus /></>)}
          <div class="row">
            <button type="submit" class="danger">Yes, panic level {info.level}</button>
            <button type="button" class="secondary" onClick={() => setArmed(null)}>Cancel</button>
          </div>
        </form>
      )}
      {msg && <p role="status" class="ok">{msg}</p>}
      {error && <p role="alert" class="error">{error}</p>}
    </div>
  );
}
