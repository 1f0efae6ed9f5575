import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO } from './lib/ggnet.js';
import { selfSigned } from './lib/tls.js';

const run = async (cmd: string, args: string[], cwd = REPO) => {
  try {
    const r = await promisify(execFile)(cmd, args, { cwd, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, out: `${r.stdout}${r.stderr}` };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, out: `${x.stdout ?? ''}${x.stderr ?? ''}` };
  }
};

/**
 * Static checks of what deploy/ installs and of every shell script: the systemd units as systemd
 * reads them (systemd-analyze verify), the nginx site as nginx reads it (nginx -t), the scripts
 * with shellcheck. Each check is also shown to fail on a broken input, so it cannot pass vacuously.
 */
describe('deploy files and shell scripts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ggnet-deploy-files-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const UNITS = ['ggnet.service', 'ggnet-worker.service', 'ggnet-storage.service', 'ggnet-shutdown.service'];
  it('systemd-analyze verify accepts the shipped units', async () => {
    for (const u of UNITS) copyFileSync(join(REPO, 'deploy/systemd', u), join(dir, u));
    const r = await run('systemd-analyze', ['verify', ...UNITS.map((u) => join(dir, u))]);
    expect(r.code, r.out).toBe(0);
    expect(r.out.trim()).toBe('');
    // a unit with a mistake is reported
    writeFileSync(
      join(dir, 'broken.service'),
      readFileSync(join(dir, 'ggnet.service'), 'utf8').replace('NoNewPrivileges=yes', 'NoNewPriviledges=yes'),
    );
    const bad = await run('systemd-analyze', ['verify', join(dir, 'broken.service')]);
    expect(bad.out).toMatch(/Unknown key '?NoNewPriviledges'?/);
  });

  it('systemd-analyze security rates the units OK (exposure 2.0 or less, the storage daemon 4.0; the README has the figures)', async () => {
    const scores: Record<string, number> = {};
    for (const u of UNITS) {
      copyFileSync(join(REPO, 'deploy/systemd', u), join(dir, u));
      const r = await run('systemd-analyze', ['security', '--offline=true', '--no-pager', join(dir, u)]);
      const m = /Overall exposure level for \S+: ([\d.]+) (\w+)/.exec(r.out);
      expect(m, r.out).not.toBeNull();
      scores[u] = Number(m![1]);
      expect(m![2]).toBe('OK');
    }
    expect(scores['ggnet.service']).toBeLessThanOrEqual(2.0);
    expect(scores['ggnet-worker.service']).toBeLessThanOrEqual(1.5);
    // CAP_SYS_ADMIN (to mount its FUSE exports) and no mount namespace (they must propagate)
    expect(scores['ggnet-storage.service']).toBeLessThanOrEqual(4.0);
    expect(scores['ggnet-shutdown.service']).toBeLessThanOrEqual(1.5);
    console.log(`systemd-analyze security (offline): ${JSON.stringify(scores)}`);
  });

  it('nginx -t accepts the shipped site (only the certificate paths changed)', async () => {
    const cert = selfSigned(dir);
    const site = readFileSync(join(REPO, 'deploy/nginx/ggnet.conf'), 'utf8')
      .replace('/etc/ggnet/tls/ggnet.crt', cert.certFile)
      .replace('/etc/ggnet/tls/ggnet.key', cert.keyFile);
    /** nginx -t on a main configuration that includes one site file. */
    const nginxT = (name: string, siteText: string) => {
      writeFileSync(join(dir, `${name}.site`), siteText);
      writeFileSync(
        join(dir, `${name}.conf`),
        `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  access_log off;\n  include ${join(dir, `${name}.site`)};\n}\n`,
      );
      return run('/usr/sbin/nginx', [
        '-t',
        '-p',
        dir,
        '-e',
        join(dir, 'error.log'),
        '-c',
        join(dir, `${name}.conf`),
      ]);
    };
    const r = await nginxT('shipped', site);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('test is successful');
    const bad = await nginxT(
      'broken',
      site.replace('proxy_request_buffering off;', 'proxy_request_buffering of;'),
    );
    expect(bad.code).not.toBe(0);
  });

  it('shellcheck finds nothing in any shell script of the repository', async () => {
    const files = (await run('git', ['ls-files', '-co', '--exclude-standard', '*.sh'])).out
      .split('\n')
      .filter(Boolean);
    expect(files).toEqual(
      expect.arrayContaining([
        'deploy/install.sh',
        'deploy/ggnet-cli.sh',
        'scripts/run.sh',
        'scripts/install-deps.sh',
        'scripts/lib/node.sh',
        'scripts/test.sh',
      ]),
    );
    const r = await run('shellcheck', ['-x', ...files]);
    expect(r.code, r.out).toBe(0);
    writeFileSync(join(dir, 'bad.sh'), '#!/bin/bash\nrm -rf $1/*\n');
    const bad = await run('shellcheck', [join(dir, 'bad.sh')]);
    expect(bad.out).toMatch(/SC2086/);
  });
});
