// Builds the web UI into dist/ui for the gateway: no inline scripts or styles (strict CSP), nothing from the network.
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  publicDir: resolve(import.meta.dirname, 'public'),
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: resolve(import.meta.dirname, '..', 'dist', 'ui'),
    emptyOutDir: true,
    // The polyfill is an inline script, which the CSP (script-src 'self') refuses.
    modulePreload: { polyfill: false },
    // No data: URIs for fonts or scripts: every asset is a file served by the gateway.
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    sourcemap: false,
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
  },
});
