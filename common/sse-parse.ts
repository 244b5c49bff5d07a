// Parses a `text/event-stream` body incrementally: `data: {...}` lines (with their `event:` name), `[DONE]` at the end.
// Shared by the web UI (its pages feed decoded text) and Node callers (securectl generate, tests) that read a body.

/** One event: its `event:` name ('message' when it has none) and its `data:` lines joined with newlines. */
export interface SseEvent { event: string; data: string }

/**
 * Feeds text as it arrives; calls onData for each complete `data:` payload (the `[DONE]` marker excluded), with the
 * block's `event:` name ('message' when it has none).
 */
export function sseParser(onData: (data: string, event: string) => void): { push(text: string): void; end(): void } {
  let buf = '';
  const flush = (block: string) => {
    const lines = block.split(/\r?\n/);
    const field = (name: string) => lines.filter((l) => l.startsWith(`${name}:`)).map((l) => l.slice(name.length + 1).replace(/^ /, ''));
    const data = field('data').join('\n');
    if (data && data !== '[DONE]') onData(data, field('event').at(-1) || 'message');
  };
  return {
    push(text) {
      buf += text;
      let i: number;
      while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
        const m = /\r?\n\r?\n/.exec(buf.slice(i))!;
        flush(buf.slice(0, i));
        buf = buf.slice(i + m[0].length);
      }
    },
    end() {
      if (buf.trim()) flush(buf);
      buf = '';
    },
  };
}

/**
 * The events of a response body, each as soon as its block is complete. A block cut off by the end of the body is
 * dropped (HTML Living Standard §9.2.6: "the incomplete event is not dispatched").
 */
export async function* sseEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  const ready: SseEvent[] = [];
  const parser = sseParser((data, event) => ready.push({ event, data }));
  for await (const part of body) {
    parser.push(decoder.decode(part, { stream: true }));
    while (ready.length) yield ready.shift()!;
  }
}
