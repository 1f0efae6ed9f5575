import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, REPO } from './lib/ggnet.js';
import {
  freshDebianUnavailable,
  registryEnv,
  startFreshServer,
  stepsOf,
  type FreshServer,
} from './lib/fresh-debian.js';
import { GiveUp, waitFor } from '@ggnet/testkit';
import { artifactsDir } from './lib/world.js';

const unavailable = freshDebianUnavailable();

/**
 * The README's first command on a fresh Debian 13 server (no Node.js, Debian's packages only):
 * `bash scripts/run.sh` as root installs Debian's nodejs and npm, the tools GGnet drives and a
 * compiler, builds better-sqlite3 from source with Debian's Node headers, builds GGnet and starts
 * it. It runs as a transient unit (a terminal of its own, as the admin's would be); the test reads
 * the generated admin password where the admin sees it and logs in.
 */
describe.skipIf(unavailable !== null)('fresh Debian 13: scripts/run.sh', () => {
  const artifacts = artifactsDir('fresh-debian13-run');
  const { log, timed } = stepsOf(artifacts);
  let fresh: FreshServer;
  let api: Api;
  let closeExpose: (() => Promise<void>) | null = null;

  beforeAll(async () => {
    fresh = await startFreshServer({ tag: 'r', repo: REPO, artifacts, log, timed });
    const g = await fresh.ct.expose(8080, fresh.sockets);
    closeExpose = g.close;
    api = new Api(g.url());
  }, 900_000);

  afterAll(async () => {
    try {
      const r = await fresh?.ct
        .exec('journalctl --no-pager -o cat -u ggnet-run', { quiet: true })
        .catch(() => null);
      if (r) writeFileSync(join(artifacts, 'run-sh.log'), r.stdout);
    } finally {
      await closeExpose?.();
      await fresh?.close();
    }
  }, 300_000);

  it('installs what it needs, builds, starts GGnet; the printed admin password logs in', async () => {
    const { ct } = fresh;
    expect((await ct.exec('command -v node npm', {})).stdout.trim()).toBe('');
    const env = Object.entries(registryEnv(fresh.proxyUrl)).map(([k, v]) => `--setenv=${k}=${v}`);
    await ct.exec(
      [
        'systemd-run',
        '--unit=ggnet-run',
        '--working-directory=/root/ggnet',
        '--setenv=HOME=/root',
        ...env,
        'bash',
        'scripts/run.sh',
      ].join(' '),
      { check: true },
    );
    const journal = () => ct.exec('journalctl --no-pager -o cat -u ggnet-run', { quiet: true });
    const up = await timed('run.sh until the server answers', () =>
      waitFor(
        'scripts/run.sh to start GGnet',
        async () => {
          const state = (await ct.exec('systemctl is-active ggnet-run', { quiet: true })).stdout.trim();
          if (state === 'failed' || state === 'inactive')
            throw new GiveUp(`run.sh ended (${state}): ${(await journal()).stdout.slice(-3000)}`);
          return (
            await fetch(`${api.baseUrl}/readyz`, { signal: AbortSignal.timeout(3000) }).catch(() => null)
          )?.ok;
        },
        1_500_000,
        2000,
      ),
    );
    expect(up).toBe(true);
    const out = (await journal()).stdout;
    expect(out).toContain('install-deps: installing');
    const m = /generated password: (\S+)/.exec(out);
    expect(m, out.slice(-2000)).not.toBeNull();
    await api.login(m![1]);
    const me = await api.get<{ username: string; role: string }>('/api/v1/auth/me');
    expect(me).toMatchObject({ username: 'admin', role: 'admin' });
    const page = await fetch(`${api.baseUrl}/`);
    expect(await page.text()).toMatch(/<div id="root">/);
    // Debian's Node.js, and better-sqlite3 compiled here (no prebuilt binary could be fetched)
    const v = await ct.exec("node --version; dpkg-query -W -f='${Version}' nodejs npm", { check: true });
    expect(v.stdout).toMatch(/^v20\.19\.\d+\n20\.19/);
    const built = await ct.exec(
      'ls /root/ggnet/node_modules/better-sqlite3/build/Release/better_sqlite3.node /root/ggnet/node_modules/better-sqlite3/build/Release/obj.target',
      {},
    );
    expect(built.code, built.stderr).toBe(0);
    log(`proxy refused: ${JSON.stringify(fresh.proxy.refused)}`);
    // run.sh is the foreground way: it ends with its terminal (tgtd ignores SIGTERM, so SIGKILL)
    await ct.exec('systemctl kill --signal=SIGKILL ggnet-run', { check: true });
  }, 1_800_000);
});
