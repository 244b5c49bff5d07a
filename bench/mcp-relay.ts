// bench:mcp's floor: a forwarder that checks nothing, in its own process like the firewall, between the same SDK
// client and the same upstream over the same transports (streamable HTTP in; stdio under the same bubblewrap
// command line, or streamable HTTP, out). What it costs over the direct path is the price of one more process hop
// on this machine, which no firewall can go below. Started by bench/mcp.bench.ts; prints its URL on stdout.
//   MCP_RELAY = {"transport":"stdio","command":…,"args":[…],"readOnly":[…],"env":{…}} | {"transport":"http","url":…}
import { spawn } from 'node:child_process';
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { sandboxCommand } from '../workers/sandbox.js';

type Spec =
  | { transport: 'stdio'; command: string; args: string[]; readOnly: string[]; env: Record<string, string> }
  | { transport: 'http'; url: string };

const spec = JSON.parse(process.env.MCP_RELAY ?? '') as Spec;

const readBody = (req: IncomingMessage): Promise<string> => new Promise((resolve, reject) => {
  const parts: Buffer[] = [];
  req.on('data', (d: Buffer) => parts.push(d));
  req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
  req.on('error', reject);
});

function stdioRelay(s: Extract<Spec, { transport: 'stdio' }>): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { command, args } = sandboxCommand({ command: s.command, args: s.args, readOnly: s.readOnly, env: s.env });
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'], env: {} });
  const waiting = new Map<string | number, (line: string) => void>();
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buffered += d;
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      const id = (JSON.parse(line) as { id?: string | number }).id;
      const answer = id === undefined ? undefined : waiting.get(id);
      if (answer) { waiting.delete(id!); answer(line); }
    }
  });
  return async (req, res) => {
    if (req.method !== 'POST') { res.writeHead(req.method === 'DELETE' ? 200 : 405).end(); return; }
    const body = await readBody(req);
    const id = (JSON.parse(body) as { id?: string | number }).id;
    if (id === undefined) { child.stdin.write(body + '\n'); res.writeHead(202).end(); return; }
    waiting.set(id, (line) => res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'relay' }).end(line));
    child.stdin.write(body + '\n');
  };
}

function httpRelay(s: Extract<Spec, { transport: 'http' }>): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const target = new URL(s.url);
  const agent = new Agent({ keepAlive: true });
  const pass = ['content-type', 'accept', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id'];
  return (req, res) => new Promise((resolve, reject) => {
    const headers = Object.fromEntries(pass.filter((h) => req.headers[h] !== undefined).map((h) => [h, req.headers[h] as string]));
    const out = request({ host: target.hostname, port: target.port, path: target.pathname, method: req.method, headers, agent }, (up) => {
      const back = Object.fromEntries(['content-type', 'mcp-session-id', 'cache-control'].filter((h) => up.headers[h] !== undefined).map((h) => [h, up.headers[h] as string]));
      res.writeHead(up.statusCode ?? 502, back);
      up.pipe(res);
      up.on('end', () => resolve());
    });
    out.on('error', reject);
    req.pipe(out);
  });
}

const handle = spec.transport === 'stdio' ? stdioRelay(spec) : httpRelay(spec);
const server = createServer((req, res) => { handle(req, res).catch((err: unknown) => res.writeHead(502).end(String(err))); });
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/mcp\n`);
});
process.stdin.on('end', () => process.exit(0)).resume();
