// Test helper: Debian chromium driven by playwright-core, fresh profile, collecting console errors and CSP violations.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from './appliance.js';

export const SCREENSHOTS = join(ROOT, 'test-artifacts', 'screenshots');

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Console errors, page errors and CSP violations seen so far. */
  problems: string[];
  /** Every request the page made (to prove nothing left for another origin). */
  requests: string[];
  shot(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function openBrowser(o: { width?: number; height?: number } = {}): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'secai-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    viewport: { width: o.width ?? 1280, height: o.height ?? 900 },
  });
  const page = context.pages()[0] ?? await context.newPage();
  // The test machines are shared and often loaded: be patient with waits, never with assertions.
  page.setDefaultTimeout(60_000);
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('request', (r) => requests.push(r.url()));
  mkdirSync(SCREENSHOTS, { recursive: true });
  return {
    context, page, problems, requests,
    shot: async (name) => { await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true }); },
    close: async () => { await context.close(); rmSync(profile, { recursive: true, force: true }); },
  };
}
