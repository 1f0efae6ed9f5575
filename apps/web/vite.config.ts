import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

// In development the API runs on :8080 (ggnet serve); Vite proxies /api and /boot to it.
export default defineConfig({
  plugins: [react()],
  resolve: {
    alias: {
      '@ggnet/contracts': fileURLToPath(new URL('../../packages/contracts/src/index.ts', import.meta.url)),
    },
  },
  server: {
    proxy: {
      '/api': { target: 'http://127.0.0.1:8080', ws: true },
      '/boot': 'http://127.0.0.1:8080',
    },
  },
  build: { outDir: 'dist', sourcemap: true },
});
