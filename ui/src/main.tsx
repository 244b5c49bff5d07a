// The app shell: sign-in gate, navigation landmarks, and client-side routing between the pages.
import './styles.css';
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, onUnauthorized, setCsrf } from './api.js';
import { authState, type AuthState } from './auth.js';
import { closeLive } from './live.js';
import { AuditPage } from './pages/audit.js';
import { ChatPage } from './pages/chat.js';
import { GeneratePage } from './pages/generate.js';
import { LoginPage, SetupPage } from './pages/login.js';
import { MachinesPage } from './pages/machines.js';
import { SecurityPage } from './pages/security.js';
import { McpPage } from './pages/mcp.js';
import { AgentPage } from './pages/agent.js';
import { ModelsPage } from './pages/models.js';
import { SettingsPage } from './pages/settings.js';
import { asyncHandler } from './async-handler.js';

const PAGES = [
  { path: '/machines', label: 'Machines', view: MachinesPage },
  { path: '/audit', label: 'Audit tap', view: AuditPage },
  { path: '/chat', label: 'Chat', view: ChatPage },
  { path: '/generate', label: 'Generate', view: GeneratePage },
  { path: '/models', label: 'Models', view: ModelsPage },
  { path: '/security', label: 'Security', view: SecurityPage },
  { path: '/mcp', label: 'MCP', view: McpPage },
  { path: '/agent', label: 'Agent', view: AgentPage },
  { path: '/settings', label: 'Settings', view: SettingsPage },
] as const;

function currentPath(): string {
  return location.pathname === '/' ? '/machines' : location.pathname;
}

export function navigate(path: string): void {
  if (path === location.pathname) return;
  history.pushState(null, '', path);
  dispatchEvent(new PopStateEvent('popstate'));
}

function App() {
  const [auth, setAuth] = useState<AuthState>({ kind: 'loading' });
  const [path, setPath] = useState(currentPath());
  const recheck = () => { void authState().then(setAuth); };

  useEffect(() => {
    recheck();
    const onPop = () => setPath(currentPath());
    addEventListener('popstate', onPop);
    const off = onUnauthorized(() => { closeLive(); setAuth((a) => (a.kind === 'in' ? { kind: 'login' } : a)); });
    return () => { removeEventListener('popstate', onPop); off(); };
  }, []);

  const page = PAGES.find((p) => p.path === path);
  // After a client-side navigation, focus goes to the new page's heading (screen readers announce it);
  // not on first load, where the skip link must stay the first stop.
  const navigated = useRef(false);
  useEffect(() => {
    document.title = `${page?.label ?? 'SecAI OS'} · SecAI OS`;
    if (navigated.current && auth.kind === 'in') document.querySelector<HTMLElement>('main h1')?.focus();
    navigated.current = true;
  }, [path]);

  const logout = asyncHandler(async () => {
    try { await api('POST', '/api/auth/logout'); } catch { /* lint-ok: the session may already be gone */ }
    setCsrf('');
    closeLive();
    recheck();
  });

  let body;
  if (auth.kind === 'loading') body = <p aria-busy="true">Loading…</p>;
  else if (auth.kind === 'unavailable') body = <section class="narrow card" aria-labelledby="na-h"><h1 id="na-h" tabIndex={-1}>Sign-in unavailable</h1><p role="alert">{auth.reason}</p></section>;
  else if (auth.kind === 'setup') body = <SetupPage onDone={recheck} />;
  else if (auth.kind === 'login') body = <LoginPage onDone={recheck} />;
  else if (!page) body = <section><h1 tabIndex={-1}>Not found</h1><p>No page at {path}.</p></section>;
  else body = <page.view />;

  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top" role="banner">
        <span class="brand">SecAI OS</span>
        {auth.kind === 'in' && (
          <nav aria-label="Main">
            <ul>
              {PAGES.map((p) => (
                <li key={p.path}>
                  <a href={p.path} aria-current={p.path === path ? 'page' : undefined}
                    onClick={(e) => { if (!e.ctrlKey && !e.metaKey && !e.shiftKey) { e.preventDefault(); navigate(p.path); } }}>{p.label}</a>
                </li>
              ))}
            </ul>
          </nav>
        )}
        {auth.kind === 'in' && <button type="button" class="link" onClick={logout}>Sign out</button>}
      </header>
      <main id="main" tabIndex={-1}>{body}</main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
