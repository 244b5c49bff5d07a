// The chat page's incremental parser of OpenAI-style server-sent events.
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
