import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import {
  ADMIN_PASSWORD,
  createTestContext,
  describeEachDialect,
  type TestContext,
} from '../helpers/test-context.js';
import {
  MiB,
  cuttingProxy,
  listen,
  makeRawDisk,
  sha256,
  startWorker,
  tempDir,
  toFormat,
  until,
} from '../helpers/images.js';
import type { JobWorker } from '../../src/modules/jobs/job-worker.js';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/ggnet.js');
const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');

let work: { dir: string; remove: () => Promise<void> };
let vhdx: string;
let vhdxSha: string;
beforeAll(async () => {
  if (!existsSync(DIST))
    throw new Error('apps/server is not built: run `npm run build` first (scripts/test.sh does)');
  work = await tempDir();
  const raw = join(work.dir, 'disk.raw');
  await makeRawDisk(raw, 64 * MiB, 1);
  vhdx = join(work.dir, 'win.vhdx');
  await toFormat(raw, 'vhdx', vhdx);
  vhdxSha = await sha256(vhdx);
});
afterAll(async () => work.remove());

interface Run {
  code: number | null;
  out: string;
  err: string;
  kill: () => void;
  done: Promise<void>;
}

function ggnet(args: string[], env: Record<string, string | undefined>): Run {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const r: Run = {
    code: null,
    out: '',
    err: '',
    kill: () => child.kill('SIGKILL'),
    done: new Promise((ok) => child.once('close', (code) => ((r.code = code), ok()))),
  };
  child.stdout.on('data', (b: Buffer) => (r.out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (r.err += b.toString()));
  return r;
}

describeEachDialect('ggnet image upload / import (the real CLI)', (dialect) => {
  let t: TestContext;
  let url: string;
  let worker: JobWorker | null = null;
  let state: { dir: string; remove: () => Promise<void> };
  beforeEach(async () => {
    t = await createTestContext(dialect);
    await t.container.settings.update({ storage: { reserveBytes: 0 } }, null);
    url = await listen(t);
    state = await tempDir('ggnet-cli-state-');
    worker = startWorker(t);
  });
  afterEach(async () => {
    await worker?.stop();
    await t.close();
    await state.remove();
  });

  const clientEnv = () => ({
    GGNET_USER: 'admin',
    GGNET_PASSWORD: ADMIN_PASSWORD,
    XDG_STATE_HOME: state.dir,
    GGNET_SERVER: undefined,
    GGNET_TOKEN: undefined,
  });

  it('uploads through dropped connections, resumes after being killed, and waits for the conversion', async () => {
    const size = (await stat(vhdx)).size;
    // the link drops once at 15 %, then hangs at 50 % (the CLI gets killed there)
    const proxy = await cuttingProxy(url, [Math.floor(size * 0.15)], undefined, Math.floor(size * 0.5));
    try {
      const first = ggnet(['image', 'upload', vhdx, '--name', 'Win 11', '--server', proxy.url], clientEnv());
      await until(async () => (proxy.stalled() ? true : undefined), 30_000, 'the upload to reach 50 %');
      first.kill();
      await first.done;
      expect(proxy.cuts()).toBe(1);
      const images = await t.container.images.list({ limit: 5, offset: 0 });
      expect(images.items).toMatchObject([{ name: 'Win 11', state: 'uploading' }]);
      proxy.unstall();

      const second = ggnet(['image', 'upload', vhdx, '--name', 'Win 11', '--server', proxy.url], clientEnv());
      await second.done;
      expect(second.err).toContain('resuming an interrupted upload of win.vhdx');
      expect(second.code, second.err).toBe(0);
      expect(second.out).toMatch(/image "Win 11" is ready/);
      const img = await t.container.images.get(images.items[0]!.id);
      expect(img).toMatchObject({ state: 'ready', sourceSha256: vhdxSha, sourceFilename: 'win.vhdx' });
    } finally {
      await proxy.close();
    }
  });

  it('reports refusals clearly: same name (409), wrong checksum, no credentials', async () => {
    const a = ggnet(['image', 'upload', vhdx, '--name', 'dup', '--server', url], clientEnv());
    await a.done;
    expect(a.code, a.err).toBe(0);
    const b = ggnet(['image', 'upload', vhdx, '--name', 'dup', '--server', url, '--no-wait'], clientEnv());
    await b.done;
    expect(b.code).toBe(1);
    expect(b.err).toMatch(/upload refused: an image named "dup" already exists/);
    expect(b.err).toMatch(/hint: choose another name/);
    const c = ggnet(
      ['image', 'upload', vhdx, '--name', 'sum', '--server', url, '--sha256', 'ab'.repeat(32)],
      clientEnv(),
    );
    await c.done;
    expect(c.code).toBe(1);
    expect(c.err).toMatch(/checksum mismatch/);
    const d = ggnet(['image', 'upload', vhdx, '--server', url], { ...clientEnv(), GGNET_USER: undefined });
    await d.done;
    expect(d.code).toBe(1);
    expect(d.err).toMatch(/no credentials/);
  });

  it('ggnet image import PATH: imports from the import directory and refuses anything outside it', async () => {
    const importDir = join(t.dataDir, 'import');
    const file = join(importDir, 'golden.vhdx');
    await mkdir(importDir, { recursive: true });
    await copyFile(vhdx, file);
    const env = {
      GGNET_DATA_DIR: t.dataDir,
      GGNET_DATABASE_URL: t.config.databaseUrl,
      GGNET_JWT_SECRET: t.config.jwtSecret,
      GGNET_LOG_LEVEL: 'warn',
    };
    const bad = ggnet(['image', 'import', '/etc/passwd'], env);
    await bad.done;
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/is not inside the import directory/);
    const ok = ggnet(['image', 'import', file, '--name', 'golden'], env);
    await ok.done;
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toMatch(/image "golden" is ready/);
    const page = await t.container.images.list({ limit: 5, offset: 0 });
    expect(page.items).toMatchObject([{ name: 'golden', state: 'ready', sourceSha256: vhdxSha }]);
  });
});
