// The Security page's own event stream (GET /api/incidents/events): a fetch stream carrying the session proof, reconnected
// with backoff while the page is open. `ready` means the gateway listens: a list read after it misses no transition.
import { notifyUnauthorized, sessionHeaders } from './api.js';
import { blocks } from './live.js';
import type { IncidentEvent } from './incident-feed.js';

const RETRY_MS = [500, 1000, 2000, 5000] as const;

export interface IncidentStreamHandlers { ready(): void; incident(e: IncidentEvent): void; status(connected: boolean): void }

/** Opens the stream; the returned function closes it. */
export function openIncidentStream(h: IncidentStreamHandlers): () => void {
  const ctl = new AbortController();
  void (async () => {
    for (let attempt = 0; !ctl.signal.aborted; attempt++) {
      try {
        const r = await fetch('/api/incidents/events', { headers: { accept: 'text/event-stream', ...sessionHeaders() }, credentials: 'same-origin', signal: ctl.signal });
        if (r.status === 401 || r.status === 403) { h.status(false); notifyUnauthorized(); return; }
        if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
        attempt = 0;
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buf = blocks(buf + value, (event, data) => {
            try {
              if (event === 'ready') { h.status(true); h.ready(); } else if (event === 'incident') h.incident(JSON.parse(data) as IncidentEvent);
            } catch { /* lint-ok: one bad event does not end the stream */ }
          });
        }
      } catch {
        // lint-ok: the stream broke (gateway restart, network): retried below unless the page closed it.
      }
      if (ctl.signal.aborted) return;
      h.status(false);
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]));
    }
  })();
  return () => ctl.abort();
}
