// Reads a passphrase for securectl: SECAI_PASSPHRASE, --passphrase-stdin (first line), or a prompt without echo.
import { secaiEnv } from '../common/env.js';
import { ErrorCode, SecaiError } from '../common/errors.js';

async function readLine(stream: NodeJS.ReadStream): Promise<string> {
  let buf = '';
  for await (const chunk of stream) {
    buf += chunk.toString();
    const i = buf.search(/\r?\n/);
    if (i >= 0) return buf.slice(0, i);
  }
  return buf;
}

async function promptHidden(question: string): Promise<string> {
  const { stdin, stderr } = process;
  stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  let s = '';
  try {
    for await (const chunk of stdin) {
      for (const ch of chunk.toString('utf8') as string) {
        if (ch === '\r' || ch === '\n') return s;
        if (ch === '\u0003') throw new SecaiError(ErrorCode.USAGE, 'cancelled');
        if (ch === '\u007f') s = s.slice(0, -1);
        else s += ch;
      }
    }
    return s;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    stderr.write('\n');
  }
}

export async function readPassphrase(o: { stdin: boolean }): Promise<string> {
  const env = secaiEnv().passphrase;
  let p: string;
  if (o.stdin) p = await readLine(process.stdin);
  else if (env) p = env;
  else if (process.stdin.isTTY) p = await promptHidden('vault passphrase: ');
  else throw new SecaiError(ErrorCode.USAGE, 'a passphrase is needed: set SECAI_PASSPHRASE, pass --passphrase-stdin, or run on a terminal');
  if (!p) throw new SecaiError(ErrorCode.USAGE, 'empty passphrase');
  return p;
}
