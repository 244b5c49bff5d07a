// The UI's static routes serve only built files: no traversal, no listing, no symlinks, no hidden or unknown files.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UI_PAGES, uiRoutes } from '../../actors/gateway/routes/ui.js';
import { rawGet, serveRoutes } from '../helpers/route-server.js';

const base = mkdtempSync(join(tmpdir(), 'secai-ui-'));
const root = join(base, 'ui');
mkdirSync(join(root, 'assets'), { recursive: true });
writeFileSync(join(root, 'index.html'), '<!doctype html><title>index</title>');
writeFileSync(join(root, 'assets', 'app-1.js'), 'console.log(1)');
writeFileSync(join(root, 'assets', 'app-1.css'), 'body{}');
writeFileSync(join(root, 'assets', '.hidden.js'), 'hidden');
writeFileSync(join(root, 'assets', 'app-1.js.map'), '{}');
writeFileSync(join(base, 'secret.txt'), 'TOP-SECRET');
writeFileSync(join(base, 'secret.js'), 'TOP-SECRET');
symlinkSync(join(base, 'secret.js'), join(root, 'assets', 'link.js'));
mkdirSync(join(root, 'assets', 'dir.js'));

const srv = await serveRoutes(uiRoutes({ dir: root, headless: false }));
t.teardown(async () => { await srv.close(); rmSync(base, { recursive: true, force: true }); });

t.test('ui static — index, pages and assets with their content types', async (t) => {
  const idx = await rawGet(srv.url, '/');
  t.equal(idx.status, 200);
  t.match(idx.type, /^text\/html/);
  for (const p of UI_PAGES) t.equal((await rawGet(srv.url, `/${p}`)).body, idx.body, `/${p} falls back to index.html`);
  const js = await rawGet(srv.url, '/assets/app-1.js');
  t.equal(js.status, 200);
  t.match(js.type, /^text\/javascript/);
  t.match((await rawGet(srv.url, '/assets/app-1.css')).type, /^text\/css/);
});

t.test('ui static — traversal, listing, hidden, symlinked and unknown files are 404', async (t) => {
  const attempts = [
    '/assets/..%2f..%2fsecret.txt', '/assets/..%2fsecret.js', '/assets/%2e%2e%2f%2e%2e%2fsecret.js',
    '/assets/../../secret.js', '/assets/..%5c..%5csecret.js', '/assets/%2fetc%2fpasswd', '/assets/', '/assets',
    '/assets/.hidden.js', '/assets/link.js', '/assets/dir.js', '/assets/app-1.js.map', '/assets/app-1.js%00.css',
    '/secret.txt', '/../secret.txt', '/machines/x', '/assets/%E0%A4%A',
  ];
  for (const path of attempts) {
    const r = await rawGet(srv.url, path);
    t.equal(r.status, 404, `${path} is refused`);
    t.notMatch(r.body, /TOP-SECRET/, `${path} leaks nothing`);
    t.notMatch(r.type, /text\/html/, `${path} is not the SPA fallback`);
  }
});

t.test('ui static — literal dot segments are resolved before routing (WHATWG URL), so they stay inside the app', async (t) => {
  const idx = await rawGet(srv.url, '/');
  for (const path of ['/assets/..', '/index.html/..', '/assets/../..']) {
    const r = await rawGet(srv.url, path);
    t.equal(r.status, 200, `${path} is /`);
    t.equal(r.body, idx.body, `${path} serves only index.html`);
  }
});

t.test('ui static — only GET', async (t) => {
  const res = await fetch(`${srv.url}/assets/app-1.js`, { method: 'POST' });
  t.equal(res.status, 405);
});

t.test('ui static — headless mode serves no UI routes', async (t) => {
  t.same(uiRoutes({ dir: root, headless: true }), []);
});
