// Chat: streams a reply from a loaded model through the gateway's OpenAI-compatible API, with a stop button; history in the vault.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, describeError, sessionHeaders } from '../api.js';
import { sseParser } from '../../../common/sse-parse.js';
import { chatTitle, newChatId } from '../chat-history.js';
import { asyncHandler } from '../async-handler.js';

/** One chunk of an OpenAI-style streamed reply, or the error that ends it. */
interface ChatChunk { choices?: { delta?: { content?: string }; finish_reason?: string | null }[]; error?: { message?: string; code?: string } }
interface Message { role: 'user' | 'assistant'; content: string; error?: string }
interface ChatSummary { id: string; title: string; updatedAt: number }

/** Why history is unavailable, in words (a locked vault says how to fix it). */
function historyProblem(err: unknown): string {
  if (err instanceof ApiError && err.code === 'SECAI_E_VAULT_LOCKED') return 'Chat history is unavailable: the vault is locked. Unlock it in Settings to see and save conversations.';
  return `Chat history is unavailable: ${describeError(err)}`;
}

function History({ chats, current, problem, onOpen, onDelete, onNew }: {
  chats: ChatSummary[] | null; current: string; problem: string;
  onOpen: (id: string) => void; onDelete: (id: string) => void; onNew: () => void;
}) {
  return (
    <aside class="card history" aria-labelledby="history-h">
      <h2 id="history-h">Conversations</h2>
      <p class="muted">Kept encrypted in the vault.</p>
      <button type="button" class="secondary" onClick={onNew}>New chat</button>
      {problem && <p role="alert" class="error" data-testid="history-problem">{problem}</p>}
      {chats && chats.length === 0 && !problem && <p class="muted">No saved conversation yet.</p>}
      {chats && chats.length > 0 && (
        <ul class="chat-list">
          {chats.map((c) => (
            <li key={c.id} data-chat={c.id} aria-current={c.id === current ? 'true' : undefined}>
              <button type="button" class="link open" onClick={() => onOpen(c.id)}>{c.title}</button>
              <button type="button" class="secondary small" aria-label={`Delete ${c.title}`} onClick={() => onDelete(c.id)}>Delete</button>
            </li>
          ))}
        </ul>
      )}
    </aside>
  );
}

export function ChatPage() {
  const [models, setModels] = useState<string[] | null>(null);
  const [model, setModel] = useState('');
  const [messages, setMessages] = useState<Message[]>([]);
  const [draft, setDraft] = useState('');
  const [maxTokens, setMaxTokens] = useState(512);
  // Sampling temperature, as the OpenAI API takes it (0: always the likeliest token, the same reply every time).
  const [temperature, setTemperature] = useState(1);
  const [streaming, setStreaming] = useState(false);
  const [error, setError] = useState('');
  const [chatId, setChatId] = useState(newChatId);
  const [chats, setChats] = useState<ChatSummary[] | null>(null);
  const [historyError, setHistoryError] = useState('');
  const [saved, setSaved] = useState('');
  const abort = useRef<AbortController | null>(null);

  const loadChats = () => api<{ chats: ChatSummary[] }>('GET', '/api/chats').then(
    (r) => { setChats(r.chats); setHistoryError(''); },
    (e: unknown) => { setChats(null); setHistoryError(historyProblem(e)); },
  );
  useEffect(() => { void loadChats(); }, []);

  /** Saves the whole conversation after each completed (or stopped) turn. */
  const save = async (id: string, all: Message[]) => {
    try {
      await api('PUT', `/api/chats/${encodeURIComponent(id)}`, { title: chatTitle(all), model, messages: all.map(({ role, content, error: e }) => ({ role, content, ...(e && { error: e.slice(0, 1024) }) })) });
      setSaved('saved in the vault');
      void loadChats();
    } catch (err) {
      setSaved('');
      setHistoryError(historyProblem(err));
    }
  };
  const open = asyncHandler(async (id: string) => {
    if (streaming) return;
    try {
      const c = await api<{ id: string; model: string; messages: Message[] }>('GET', `/api/chats/${encodeURIComponent(id)}`);
      setChatId(c.id);
      setMessages(c.messages);
      if (c.model && models?.includes(c.model)) setModel(c.model);
      setSaved('');
      setHistoryError('');
    } catch (err) { setHistoryError(historyProblem(err)); }
  });
  const remove = asyncHandler(async (id: string) => {
    try {
      await api('DELETE', `/api/chats/${encodeURIComponent(id)}`);
      if (id === chatId) startNew();
      void loadChats();
    } catch (err) { setHistoryError(historyProblem(err)); }
  });
  const startNew = () => {
    if (streaming) return;
    setChatId(newChatId());
    setMessages([]);
    setSaved('');
  };

  useEffect(() => {
    api<{ data: { id: string }[] }>('GET', '/v1/models').then((r) => {
      const ids = r.data.map((m) => m.id);
      setModels(ids);
      setModel((m) => m || ids[0] || '');
    }, (e: unknown) => { setModels([]); setError(describeError(e)); });
    return () => abort.current?.abort();
  }, []);

  const send = asyncHandler(async (e: Event) => {
    e.preventDefault();
    const text = draft.trim();
    if (!text || !model || streaming) return;
    const before = [...messages, { role: 'user', content: text } as Message];
    const history = before.filter((m) => !m.error);
    // The reply as it grows: shown on every chunk, saved with the conversation when the turn ends.
    const reply: Message = { role: 'assistant', content: '' };
    const show = () => setMessages([...before, { ...reply }]);
    show();
    setDraft('');
    setError('');
    setSaved('');
    setStreaming(true);
    const id = chatId;
    const ctl = new AbortController();
    abort.current = ctl;
    try {
      const r = await fetch('/v1/chat/completions', {
        method: 'POST', credentials: 'same-origin', signal: ctl.signal,
        // The session proof stands in for the local API token (policy local_api.api_token_sha256) when one is set.
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...sessionHeaders() },
        body: JSON.stringify({ model, stream: true, max_tokens: maxTokens, temperature, messages: history.map(({ role, content }) => ({ role, content })) }),
      });
      if (!r.ok || !r.body) {
        const body = (await r.json().catch(() => ({}))) as ChatChunk;
        throw new Error(body.error?.message ?? `HTTP ${r.status}`);
      }
      const parser = sseParser((data) => {
        const c = JSON.parse(data) as ChatChunk;
        if (c.error) reply.error = c.error?.message ?? 'generation failed';
        const t = c.choices?.[0]?.delta?.content;
        if (t) reply.content += t;
        if (c.error || t) show();
      });
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.push(value);
      }
      parser.end();
    } catch (err) {
      reply.error = ctl.signal.aborted ? 'stopped' : describeError(err);
      show();
    } finally {
      setStreaming(false);
      abort.current = null;
    }
    await save(id, [...before, reply]);
  });

  return (
    <section aria-labelledby="chat-h" class="chat">
      <h1 id="chat-h" tabIndex={-1}>Chat</h1>
      <p class="muted">Runs on this machine only, in a sandboxed worker with no network. Conversations are saved in the vault after each reply.</p>
      <div class="chat-layout">
      <History chats={chats} current={chatId} problem={historyError} onOpen={open} onDelete={remove} onNew={startNew} />
      <div class="chat-main">
      {error && <p role="alert" class="error">{error}</p>}
      <label for="chat-model">Model</label>
      <select id="chat-model" value={model} onChange={(e) => setModel((e.target as HTMLSelectElement).value)} disabled={!models?.length || streaming}>
        {!models && <option value="">loading…</option>}
        {models?.length === 0 && <option value="">no promoted model</option>}
        {models?.map((m) => <option key={m} value={m}>{m}</option>)}
      </select>
      <label for="chat-max">Longest reply (tokens)</label>
      <input id="chat-max" type="number" min={1} max={4096} value={maxTokens} disabled={streaming}
        onInput={(e) => { const n = Number((e.target as HTMLInputElement).value); if (Number.isInteger(n) && n >= 1 && n <= 4096) setMaxTokens(n); }} />
      <label for="chat-temperature">Temperature (0 = the same reply every time)</label>
      <input id="chat-temperature" type="number" min={0} max={2} step={0.1} value={temperature} disabled={streaming}
        onInput={(e) => { const n = Number((e.target as HTMLInputElement).value); if (Number.isFinite(n) && n >= 0 && n <= 2) setTemperature(n); }} />
      {/* Stop sits above the conversation: a reply that grows never moves it. */}
      <div class="row"><button type="button" class="secondary" disabled={!streaming} onClick={() => abort.current?.abort()}>Stop</button></div>
      <ol class="messages" aria-live="polite" aria-label="Conversation">
        {messages.map((m, i) => (
          <li key={i} class={`msg ${m.role}`} data-role={m.role}>
            <span class="who">{m.role === 'user' ? 'You' : model}</span>
            <p class="text">{m.content || (m.role === 'assistant' && streaming && i === messages.length - 1 ? '…' : '')}</p>
            {m.error && <p class="error" role="alert">{m.error}</p>}
          </li>
        ))}
      </ol>
      <form onSubmit={send} class="compose">
        <label for="chat-input">Message</label>
        <textarea id="chat-input" rows={3} value={draft} onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)}
          onKeyDown={(e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); (e.currentTarget.form as HTMLFormElement).requestSubmit(); } }} />
        <div class="row">
          <button type="submit" disabled={!model || streaming || !draft.trim()}>Send</button>
          <span role="status" class="muted save-state" data-testid="save-state">{saved}</span>
        </div>
      </form>
      </div>
      </div>
    </section>
  );
}
