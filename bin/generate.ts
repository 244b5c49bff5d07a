// securectl generate: one image through the appliance's own HTTP API (loopback only), progress on stderr, the PNG written
// atomically (never over an existing file unless --force).
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseEnv, secaiEnv } from '../common/env.js';
import { fsyncDir } from '../common/fs-atomic.js';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { sseEvents } from '../common/sse-parse.js';
import { applianceUrl } from './chat.js';

export const GENERATE_USAGE = `  generate --model M --prompt TEXT --out FILE.png [--negative TEXT] [--size WxH] [--steps N] [--guidance G]
           [--seed S] [--scheduler euler|euler_a|ddim|lcm] [--init FILE.png --strength X] [--force]
                             one image through the local HTTP API; progress on stderr; --force overwrites FILE.png`;

export interface GenerateOptions {
  model?: string;
  prompt?: string;
  negative?: string;
  /** `WxH` in pixels (default: the appliance's, 512x512 within policy). */
  size?: string;
  steps?: string;
  guidance?: string;
  seed?: string;
  scheduler?: string;
  /** A PNG to start from (image-to-image), with `strength` 0..1. */
  init?: string;
  strength?: string;
  out?: string;
  force?: boolean;
  json: boolean;
  env?: NodeJS.ProcessEnv;
  /** Where progress goes (stderr). */
  progress?: NodeJS.WritableStream & { isTTY?: boolean };
  output?: NodeJS.WritableStream;
}

/** What `--json` prints, and what the call returns. */
export interface Generated { out: string; model: string; seed: number; width: number; height: number; steps: number; scheduler: string; bytes: number }

const usage = (msg: string) => new SecaiError(ErrorCode.USAGE, msg);

function numberOf(v: string | undefined, what: string, int: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!v.trim() || !Number.isFinite(n) || (int && !Number.isInteger(n))) throw usage(`--${what} must be ${int ? 'an integer' : 'a number'}, got '${v.slice(0, 32)}'`);
  return n;
}

/** The request body of POST /api/secai/images/generate, from the command line (the gateway checks the values again). */
export function requestBody(o: GenerateOptions): Record<string, unknown> {
  if (!o.model) throw usage('generate needs --model (a promoted diffusion pipeline)');
  if (!o.prompt) throw usage('generate needs --prompt');
  if (!o.out) throw usage('generate needs --out FILE.png');
  let size: { width: number; height: number } | undefined;
  if (o.size !== undefined) {
    const m = /^(\d{1,5})x(\d{1,5})$/.exec(o.size);
    if (!m) throw usage(`--size must be WIDTHxHEIGHT, such as 512x512, got '${o.size.slice(0, 32)}'`);
    size = { width: Number(m[1]), height: Number(m[2]) };
  }
  if (o.strength !== undefined && o.init === undefined) throw usage('--strength needs --init FILE.png');
  const steps = numberOf(o.steps, 'steps', true);
  const guidance = numberOf(o.guidance, 'guidance', false);
  const seed = numberOf(o.seed, 'seed', true);
  const strength = numberOf(o.strength, 'strength', false);
  return {
    model: o.model, prompt: o.prompt, ...(o.negative !== undefined && { negativePrompt: o.negative }), ...size,
    ...(steps !== undefined && { steps }), ...(guidance !== undefined && { guidance }), ...(seed !== undefined && { seed }),
    ...(o.scheduler !== undefined && { scheduler: o.scheduler }),
    ...(o.init !== undefined && { initImage: readFileSync(o.init).toString('base64') }), ...(strength !== undefined && { strength }),
  };
}

/**
 * Writes `data` to `path` atomically: a temp file beside it, fsynced, then moved into place. Without `force` the move
 * is a hard link, which fails if the name exists (even one created meanwhile): an existing file is never replaced.
 */
export function writeNew(path: string, data: Uint8Array, force: boolean): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    try {
      for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (force) renameSync(tmp, path);
    else linkSync(tmp, path);
    fsyncDir(dirname(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw usage(`${path} exists: choose another --out, or --force to replace it`);
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

interface Done { seed: number; width: number; height: number; steps: number; scheduler: string; png: string }

/** Sends the request and follows its event stream to the picture; progress to `onProgress`. */
async function stream(url: string, token: string | undefined, body: Record<string, unknown>, onProgress: (step: number, steps: number) => void): Promise<Done> {
  const res = await fetch(`${url}/api/secai/images/generate`, {
    method: 'POST', body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...(token && { authorization: `Bearer ${token}` }) },
  });
  if (!res.ok || !res.body) {
    const e = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
    throw new SecaiError(e.error?.code ?? ErrorCode.INTERNAL, e.error?.message ?? `HTTP ${res.status} on /api/secai/images/generate`);
  }
  for await (const { event, data } of sseEvents(res.body as unknown as AsyncIterable<Uint8Array>)) {
    const j = JSON.parse(data) as Record<string, unknown>;
    if (event === 'progress') onProgress(Number(j['step']), Number(j['steps']));
    else if (event === 'error') throw new SecaiError(String(j['code'] ?? ErrorCode.INTERNAL), String(j['message'] ?? 'the generation failed'));
    else if (event === 'done') return j as unknown as Done;
  }
  throw new SecaiError(ErrorCode.CANCELLED, 'the event stream ended without a picture');
}

export async function runGenerate(o: GenerateOptions): Promise<number> {
  const body = requestBody(o);
  const out = resolve(o.out!);
  // Checked before the work (and again, atomically, when the file is written).
  if (existsSync(out) && !o.force) throw usage(`${out} exists: choose another --out, or --force to replace it`);
  if (!statSync(dirname(out), { throwIfNoEntry: false })?.isDirectory()) throw usage(`${dirname(out)} is not a folder`);
  const url = applianceUrl(o.env);
  const token = (o.env ? parseEnv(o.env) : secaiEnv()).apiToken;
  const err = o.progress ?? process.stderr;
  const tty = (err as { isTTY?: boolean }).isTTY === true;
  let shown = false;
  const done = await stream(url, token, body, (step, steps) => {
    err.write(tty ? `\rstep ${step}/${steps}` : `step ${step}/${steps}\n`);
    shown = true;
  });
  if (tty && shown) err.write('\n');
  const png = Buffer.from(done.png, 'base64');
  writeNew(out, png, o.force === true);
  const r: Generated = { out, model: String(body['model']), seed: done.seed, width: done.width, height: done.height, steps: done.steps, scheduler: done.scheduler, bytes: png.length };
  const to = o.output ?? process.stdout;
  if (o.json) to.write(JSON.stringify(r) + '\n');
  else to.write(`${out}: ${r.width}x${r.height}, seed ${r.seed}, ${r.steps} steps (${r.scheduler}), ${r.bytes} bytes\n`);
  return 0;
}
