#!/usr/bin/env node
// Thin launcher so that `npx ggnet` works from the repo root once `npm run build` has run.
import('../dist/cli.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli.js')) {
    console.error('ggnet: not built yet; run `npm ci && npm run build` in the repository root first');
    process.exit(1);
  }
  throw err;
});
