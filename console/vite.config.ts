import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Served by the `console` function under /console/ on the API's own origin
// (functions/console). `cspNonce` makes Vite put a placeholder nonce on the tags it
// writes into index.html and a <meta property="csp-nonce">; the function replaces
// it per request, and Emotion reads it for the <style> elements it inserts.
export default defineConfig({
  base: '/console/',
  plugins: [react()],
  html: { cspNonce: 'BX_CSP_NONCE' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
  },
});
