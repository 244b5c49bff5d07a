// Chat: streams a reply from a loaded model through the gateway's OpenAI-compatible API, with a stop button.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, describeError } from '../api.js';
import { sseParser, type ChatChunk } from '../sse-parse.js';

interface Message { role: 'user' | 'assistant'; content: string; error?: string }

export function ChatPage() {
  const [models, setModels] = useState<string[] | null>(null);
  const [model, setModel] = useState('');
  const [messages, setMessages] = useState<Message[]>([]);
  const [draft, setDraft] = useState('');
  const [maxTokens, setMaxTokens] = useState(512);
  const [streaming, setStreaming] = useState(false);
  const [error, setError] = useState('');
  const abort = useRef<AbortController | null>(null);

  useEffect(() => {
    api<{ data: { id: string }[] }>('GET', '/v1/models').then((r) => {
      const ids = r.data.map((m) => m.id);
      setModels(ids);
      setModel((m) => m || ids[0] || '');
    }, (e: unknown) => { setModels([]); setError(describeError(e)); });
    return () => abort.current?.abort();
  }, []);

  const appendToLast = (f: (m: Message) => Message) => setMessages((ms) => [...ms.slice(0, -1), f(ms[ms.length - 1]!)]);

  const send = async (e: Event) => {
    e.preventDefault();
    const text = draft.trim();
    if (!text || !model || streaming) return;
    const history: Message[] = [...messages.filter((m) => !m.error), { role: 'user', content: text }];
    setMessages([...history, { role: 'assistant', content: '' }]);
    setDraft('');
    setError('');
    setStreaming(true);
    const ctl = new AbortController();
    abort.current = ctl;
    try {
      const r = await fetch('/v1/chat/completions', {
        method: 'POST', credentials: 'same-origin', signal: ctl.signal,
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ model, stream: true, max_tokens: maxTokens, messages: history.map(({ role, content }) => ({ role, content })) }),
      });
      if (!r.ok || !r.body) {
        const body = (await r.json().catch(() => ({}))) as ChatChunk;
        throw new Error(body.error?.message ?? `HTTP ${r.status}`);
      }
      const parser = sseParser((data) => {
        const c = JSON.parse(data) as ChatChunk;
        if (c.error) appendToLast((m) => ({ ...m, error: c.error?.message ?? 'generation failed' }));
        const t = c.choices?.[0]?.delta?.content;
        if (t) appendToLast((m) => ({ ...m, content: m.content + t }));
      });
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.push(value);
      }
      parser.end();
    } catch (err) {
      if (ctl.signal.aborted) appendToLast((m) => ({ ...m, content: m.content, error: 'stopped' }));
      else appendToLast((m) => ({ ...m, error: describeError(err) }));
    } finally {
      setStreaming(false);
      abort.current = null;
    }
  };

  return (
    <section aria-labelledby="chat-h" class="chat">
      <h1 id="chat-h" tabIndex={-1}>Chat</h1>
      <p class="muted">Runs on this machine only, in a sandboxed worker with no network. History stays in this tab.</p>
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
        </div>
      </form>
    </section>
  );
}
