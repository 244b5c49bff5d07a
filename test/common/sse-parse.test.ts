// The incremental parser of server-sent events: the Chat page's OpenAI-style stream, the Generate page's named events,
// and the response bodies that securectl generate reads.
import t from 'tap';
import { sseEvents, sseParser, type SseEvent } from '../../common/sse-parse.js';

t.test('sse — payloads split anywhere across chunks, [DONE] dropped, CRLF accepted', async (t) => {
  const body = 'data: {"a":1}\n\ndata: {"a":2}\r\n\r\n: comment\n\ndata: [DONE]\n\n';
  for (let cut = 0; cut <= body.length; cut++) {
    const got: string[] = [];
    const p = sseParser((d) => got.push(d));
    p.push(body.slice(0, cut));
    p.push(body.slice(cut));
    p.end();
    t.same(got, ['{"a":1}', '{"a":2}'], `cut at ${cut}`);
  }
});

t.test('sse — multi-line data joins with newlines; a trailing block without blank line is flushed at end', async (t) => {
  const got: string[] = [];
  const p = sseParser((d) => got.push(d));
  p.push('data: x\ndata: y\n\ndata:z');
  t.same(got, ['x\ny']);
  p.end();
  t.same(got, ['x\ny', 'z']);
});

t.test('sse — named events: the event name travels with its data; a block without one is a message', async (t) => {
  const body = 'event: started\ndata: {"requestId":"r"}\n\nevent: progress\r\ndata: {"step":1}\r\n\n: keep-alive\n\ndata: plain\n\nevent: done\ndata: {}\n\n';
  for (let cut = 0; cut <= body.length; cut++) {
    const got: [string, string][] = [];
    const p = sseParser((d, e) => got.push([e, d]));
    p.push(body.slice(0, cut));
    p.push(body.slice(cut));
    p.end();
    t.same(got, [['started', '{"requestId":"r"}'], ['progress', '{"step":1}'], ['message', 'plain'], ['done', '{}']], `cut at ${cut}`);
  }
});

/** A body delivered in the given pieces (bytes, so a character can be split across two). */
async function* chunks(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield p;
}
async function all(body: AsyncIterable<Uint8Array>): Promise<SseEvent[]> {
  const got: SseEvent[] = [];
  for await (const e of sseEvents(body)) got.push(e);
  return got;
}

t.test('sse — a body yields its events split anywhere, a character split across chunks included', async (t) => {
  const bytes = Buffer.from('event: progress\ndata: {"step":1}\n\nevent: done\ndata: {"caption":"é"}\n\n');
  for (let cut = 0; cut <= bytes.length; cut++) {
    t.same(await all(chunks(bytes.subarray(0, cut), bytes.subarray(cut))), [
      { event: 'progress', data: '{"step":1}' },
      { event: 'done', data: '{"caption":"é"}' },
    ], `cut at ${cut}`);
  }
});

t.test('sse — a body that ends inside a block does not yield that block', async (t) => {
  t.same(await all(chunks(Buffer.from('event: progress\ndata: {}\n\nevent: done\ndata: {}'))), [{ event: 'progress', data: '{}' }]);
});
