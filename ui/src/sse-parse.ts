// Parses an OpenAI-style `text/event-stream` body incrementally: `data: {...}` lines, `[DONE]` at the end.

export interface ChatChunk { choices?: { delta?: { content?: string }; finish_reason?: string | null }[]; error?: { message?: string; code?: string } }

/** Feeds text as it arrives; calls onData for each complete `data:` payload (the `[DONE]` marker excluded). */
export function sseParser(onData: (data: string) => void): { push(text: string): void; end(): void } {
  let buf = '';
  const flush = (block: string) => {
    const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
    if (data && data !== '[DONE]') onData(data);
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
