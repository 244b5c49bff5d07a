// The UI's incremental parser of server-sent events (the Chat page's OpenAI-style stream, the Generate page's named events).
import t from 'tap';
import { sseParser } from '../../ui/src/sse-parse.js';

t.test('ui sse — payloads split anywhere across chunks, [DONE] dropped, CRLF accepted', async (t) => {
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

t.test('ui sse — multi-line data joins with newlines; a trailing block without blank line is flushed at end', async (t) => {
  const got: string[] = [];
  const p = sseParser((d) => got.push(d));
  p.push('data: x\ndata: y\n\ndata:z');
  t.same(got, ['x\ny']);
  p.end();
  t.same(got, ['x\ny', 'z']);
});

t.test('ui sse — named events: the event name travels with its data; a block without one is a message', async (t) => {
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
