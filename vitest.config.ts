import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const contracts = fileURLToPath(new URL('./packages/contracts/src/index.ts', import.meta.url));
const alias = { '@ggnet/contracts': contracts };

// Test tiers (see README "Tests" and docs/ARCHITECTURE.md):
//   small        next to the code (*.test.ts) + apps/server/test/small: logic and services on the
//                fakes (iSCSI driver, dnsmasq, process runner), SQLite in memory; no root, no
//                daemons, seconds. What a developer runs on every save.
//   integration  apps/server/test/integration: the app on SQLite + PostgreSQL, HTTP (inject and a
//                real loopback socket), user-level tools (qemu-img, pg_dump, the CLI); no root
//   system       apps/server/test/system: real tgtd, dnsmasq, loop devices, network namespaces (root)
//   web          apps/web: components and hooks (jsdom)
//   e2e          e2e/: VMs that PXE-boot from GGnet, the UI in Chromium (root, network namespaces)
export default defineConfig({
  resolve: { alias },
  test: {
    reporters: process.env.CI ? ['default'] : ['default'],
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'small',
          include: [
            'apps/server/src/**/*.test.ts',
            'apps/server/test/small/**/*.test.ts',
            'packages/contracts/src/**/*.test.ts',
            'scripts/**/*.test.ts',
          ],
          environment: 'node',
          // files share a worker's module cache (half the time of this tier is importing): every small
          // test builds its own objects (smallContext(), fakes) and leaves no module state behind
          isolate: false,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          include: ['apps/server/test/integration/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'system',
          include: ['apps/server/test/system/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'web',
          root: 'apps/web',
          include: ['src/**/*.test.{ts,tsx}'],
          environment: 'jsdom',
          // whole pages with user-event typing: seconds each when other tests share the cores
          testTimeout: 20_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'e2e',
          include: ['e2e/**/*.e2e.test.ts'],
          environment: 'node',
          // VMs and browsers: one file at a time, generous timeouts
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
