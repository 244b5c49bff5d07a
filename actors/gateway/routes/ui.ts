// The web UI's static files (dist/ui): fixed page paths fall back to index.html, assets by exact name, nothing else.
import { secaiEnv } from '../../../common/env.js';
import { lstatSync, readFileSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { ErrorCode, SecaiError } from '../../../common/errors.js';
import { projectRoot } from '../../../common/paths.js';
import type { Route, RouteContext } from '../http.js';

/** The single-page app's own paths: each serves index.html and the app routes on the client. */
export const UI_PAGES = ['machines', 'audit', 'chat', 'generate', 'models', 'security', 'mcp', 'agent', 'settings', 'login', 'setup'] as const;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** A built asset name: one segment, no leading dot, a known extension. Anything else is not ours. */
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

/** The built UI: <project>/dist/ui, from sources, from dist/ and from the bundled gateway alike. */
export function defaultUiDir(): string {
  return join(projectRoot, 'dist', 'ui');
}

function sendFile(c: RouteContext, root: string, rel: string): void {
  const file = resolve(root, rel);
  if (!file.startsWith(root + sep)) throw new SecaiError(ErrorCode.UNKNOWN_OP, 'not found');
  const type = TYPES[extname(file)];
  let body: Buffer;
  try {
    // lstat: a symlink is not served, even one inside dist/ui.
    if (!type || !lstatSync(file).isFile()) throw new Error('not a file');
    body = readFileSync(file);
  } catch {
    throw new SecaiError(ErrorCode.UNKNOWN_OP, `no such UI file: ${rel.slice(0, 128)}`);
  }
  // Hashed asset names never change content; the page itself is never cached (default no-store).
  if (rel.startsWith('assets/')) c.res.setHeader('cache-control', 'public, max-age=31536000, immutable');
  c.res.writeHead(200, { 'content-type': type, 'content-length': body.length });
  c.res.end(body);
}

/** Static UI routes; none in headless mode (`secai up --headless` serves the API alone). */
export function uiRoutes(o: { dir?: string; headless?: boolean } = {}): Route[] {
  if (o.headless ?? secaiEnv().headless) return [];
  const root = resolve(o.dir ?? secaiEnv().uiDir ?? defaultUiDir());
  const index = (c: RouteContext) => sendFile(c, root, 'index.html');
  const asset = (c: RouteContext) => {
    const name = c.params.file ?? '';
    if (!ASSET_NAME.test(name)) throw new SecaiError(ErrorCode.UNKNOWN_OP, 'not found');
    sendFile(c, root, `assets/${name}`);
  };
  return [
    { method: 'GET', path: '/', access: 'public', handler: index },
    ...UI_PAGES.map((p): Route => ({ method: 'GET', path: `/${p}`, access: 'public', handler: index })),
    { method: 'GET', path: '/assets/:file', access: 'public', handler: asset },
    { method: 'GET', path: '/favicon.svg', access: 'public', handler: (c) => sendFile(c, root, 'favicon.svg') },
  ];
}
