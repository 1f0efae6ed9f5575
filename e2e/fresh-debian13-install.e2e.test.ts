import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Image, Machine, Page, SessionStartResult, Settings } from '@ggnet/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, REPO } from './lib/ggnet.js';
import {
  freshDebianUnavailable,
  registryEnv,
  runtimePackages,
  startFreshServer,
  stepsOf,
  type BootedContainer,
  type FreshServer,
} from './lib/fresh-debian.js';
import { GiveUp, waitFor } from '@ggnet/testkit';
import { QemuIo, iscsiImageOpts } from './lib/qemu-io.js';
import { tls, wsUpgradeStatus } from './lib/tls.js';
import { artifactsDir } from './lib/world.js';

const unavailable = freshDebianUnavailable();
const BOOT_ADDR = '10.98.0.1';

/**
 * deploy/install.sh on a fresh Debian 13 server, as an admin runs it: a root built with mmdebstrap
 * (Debian's packages only, no Node.js), booted with systemd as PID 1 (systemd-nspawn --boot) in a
 * network namespace of this test, the checkout copied in. Then everything the service must do under
 * the real systemd: the unit, the journal's admin password, a restart under a client's I/O, a
 * reboot, an upgrade from a newer commit (with nginx and TLS), --uninstall.
 */
describe.skipIf(unavailable !== null)('fresh Debian 13: deploy/install.sh under systemd', () => {
  const artifacts = artifactsDir('fresh-debian13-install');
  const { log, timed } = stepsOf(artifacts);
  let fresh: FreshServer;
  let ct: BootedContainer;
  let root = '';
  let sockets = '';
  let netnsName = '';
  let api: Api;
  let password = '';
  let firstPasswordLine = '';
  const closers: Array<() => Promise<void>> = [];
  const ggnetRoot = () => join(root, 'root', 'ggnet');

  const installSh = (args = '') =>
    ct.exec(`cd /root/ggnet && bash deploy/install.sh ${args} </dev/null`, {
      env: registryEnv(fresh.proxyUrl),
      timeoutMs: 1_500_000,
    });

  const ready = () =>
    waitFor(
      'GGnet to answer /readyz in the container',
      async () => (await fetch(`${api.baseUrl}/readyz`, { signal: AbortSignal.timeout(3000) })).ok,
      120_000,
      500,
    );

  beforeAll(async () => {
    // the Debian packages install.sh installs are in the cached root (keyed by their list,
    // scripts/install-deps.sh --list runtime); the run.sh test installs them for real
    fresh = await startFreshServer({
      tag: 'i',
      repo: REPO,
      artifacts,
      packages: runtimePackages(REPO),
      log,
      timed,
      // storage backend qcow2: ggnet-storage.service mounts FUSE exports
      fuse: true,
      // the boot network of this server: an interface of its own (GGnet's DHCP serves it); a
      // veth pair, as no kernel module can be loaded here; the other end stays in the namespace
      netSetup: (ns) => {
        for (const a of [
          ['link', 'add', 'boot0', 'type', 'veth', 'peer', 'name', 'boot1'],
          ['addr', 'add', `${BOOT_ADDR}/24`, 'dev', 'boot0'],
          ['link', 'set', 'boot0', 'up'],
          ['link', 'set', 'boot1', 'up'],
        ])
          execFileSync('ip', ['-n', ns, ...a]);
      },
    });
    ct = fresh.ct;
    root = fresh.root;
    sockets = fresh.sockets;
    netnsName = fresh.netns.name;
    const g = await ct.expose(8080, sockets);
    closers.push(g.close);
    api = new Api(g.url());
  }, 1_800_000);

  afterAll(async () => {
    try {
      const r = await ct?.exec('journalctl --no-pager -u ggnet', { quiet: true }).catch(() => null);
      if (r) writeFileSync(join(artifacts, 'journal-ggnet.log'), r.stdout);
    } finally {
      for (const c of closers.reverse()) await c().catch(() => undefined);
      await fresh?.close();
    }
  }, 300_000);

  it('installs: unit active and enabled, nothing as root, admin password once in the journal, login, console', async () => {
    // Debian's tgt.service came with the tgt package and took port 3260
    const tgt = await ct.exec('systemctl is-active tgt.service', {});
    expect(tgt.stdout.trim()).toBe('active');
    const r = await timed('install', () => installSh());
    writeFileSync(join(artifacts, 'install-1.log'), r.stdout + r.stderr);
    expect(r.code, r.stdout.slice(-3000) + r.stderr.slice(-3000)).toBe(0);
    expect(r.stdout).toContain("disabled Debian's tgt.service");
    expect(r.stdout).toContain('GGnet is running');
    // Debian's own Node.js and npm, better-sqlite3 built from source with Debian's headers
    const v = await ct.exec("node --version; npm --version; dpkg-query -W -f='${Version}' nodejs", {
      check: true,
    });
    expect(v.stdout).toMatch(/^v20\.19\.\d+\n9\.\d+\.\d+\n20\.19/);
    expect(
      existsSync(join(ggnetRoot(), 'node_modules/better-sqlite3/build/Release/better_sqlite3.node')),
    ).toBe(true);
    expect(
      existsSync(join(root, 'opt/ggnet/node_modules/better-sqlite3/build/Release/better_sqlite3.node')),
    ).toBe(true);
    // production dependencies only in /opt/ggnet
    expect(existsSync(join(root, 'opt/ggnet/node_modules/vitest'))).toBe(false);
    expect(existsSync(join(root, 'opt/ggnet/node_modules/fastify'))).toBe(true);

    const state = await ct.exec('systemctl is-active ggnet; systemctl is-enabled ggnet', {});
    expect(state.stdout.split('\n').slice(0, 2)).toEqual(['active', 'enabled']);
    // nothing runs as root: GGnet and its tgtd are the ggnet user's
    const owners = await ct.exec(
      'stat -c %U /proc/$(systemctl show -p MainPID --value ggnet); stat -c %U /proc/$(cat /var/lib/ggnet/run/tgtd.7300.pid); stat -c "%U %a" /var/lib/ggnet',
      { check: true },
    );
    expect(owners.stdout.trim().split('\n')).toEqual(['ggnet', 'ggnet', 'ggnet 700']);

    const journal = await ct.exec('journalctl -u ggnet --no-pager -o cat', { check: true });
    const lines = journal.stdout.split('\n').filter((l) => l.includes('generated password: '));
    // the log line says where the password went, without it
    expect(journal.stdout).toContain('printed once on stdout (not in this log)');
    expect(lines).toHaveLength(1);
    password = /generated password: (\S+)/.exec(lines[0]!)![1]!;
    firstPasswordLine = lines[0]!;
    log(`admin password line: ${firstPasswordLine.replace(password, '<password>')}`);
    expect(lines[0]).toContain('ggnet user passwd admin');

    await ready();
    expect((await fetch(`${api.baseUrl}/healthz`)).status).toBe(200);
    await api.login(password);
    const page = await fetch(`${api.baseUrl}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<div id="root">/);

    // `ggnet` on the command line runs as the service's user with its configuration
    const users = await ct.exec('ggnet user list', { check: true });
    expect(users.stdout).toMatch(/^admin\s+admin\s+enabled/m);
    // the separate worker unit starts too (with no capabilities at all) and shares the database
    await ct.exec('systemctl start ggnet-worker', { check: true });
    await waitFor(
      'ggnet-worker.service to say it is up',
      async () => {
        const w = await ct.exec(
          'systemctl is-active ggnet-worker; journalctl -u ggnet-worker -o cat --no-pager',
          {
            quiet: true,
          },
        );
        if (/^failed$/m.test(w.stdout)) throw new GiveUp(`ggnet-worker failed: ${w.stdout}`);
        return w.stdout.includes('GGnet worker is up');
      },
      120_000,
      1000,
    );
    await ct.exec('systemctl stop ggnet-worker', { check: true });
    const sec = await ct.exec('systemd-analyze security --no-pager ggnet.service ggnet-worker.service', {});
    writeFileSync(join(artifacts, 'systemd-analyze-security.txt'), sec.stdout + sec.stderr);
    const score = /Overall exposure level for ggnet\.service: ([\d.]+)/.exec(sec.stdout);
    log(`systemd-analyze security ggnet.service: ${score?.[1]}`);
  }, 1_800_000);

  let login: SessionStartResult;
  /** A real initiator (qemu-io) in the test's namespace, logged in to the session's boot disk. */
  const initiator = (l: SessionStartResult = login) =>
    new QemuIo(
      iscsiImageOpts({
        // the port of the daemon that serves this target (one tgtd per core since iscsi.daemons)
        portal: `${BOOT_ADDR}:${l.portalPort}`,
        targetIqn: l.targetIqn,
        lun: 1,
        initiatorIqn: l.initiatorIqn,
        user: l.chap.username,
        password: l.chap.password,
      }),
      ['ip', 'netns', 'exec', netnsName],
    );
  /** Reads until the target serves the client again (after a restart); a wrong pattern fails at once. */
  const readBack = async (q: QemuIo, cmd: string, what: string) =>
    waitFor(
      what,
      async () => {
        try {
          await q.cmd(cmd, /read \d+\/\d+/, 10_000);
          return true;
        } catch (e) {
          if (/Pattern verification failed/.test((e as Error).message)) throw e;
          return false;
        }
      },
      90_000,
      1000,
    );
  /** The second machine's session, on storage backend qcow2 (ggnet-storage.service). */
  let login2: SessionStartResult | undefined;
  const storagePid = async () =>
    (await ct.exec('systemctl show -p MainPID --value ggnet-storage', { check: true })).stdout.trim();
  let imageId = '';
  let before: { machines: Machine[]; images: Image[]; settings: Settings };

  it('systemctl restart ggnet while an initiator reads and writes its disk: no I/O error, tgtd adopted', async () => {
    expect(password).not.toBe('');
    // a fresh install detects the qcow2 backend: the storage unit answers and runs QEMU 10 (Debian 13)
    expect(await api.get<{ backend: string; detected: boolean }>('/api/v1/storage')).toMatchObject({
      backend: 'qcow2',
      detected: true,
    });
    // DHCP on the boot network: dnsmasq runs under the unit's capabilities (NET_ADMIN, NET_RAW, port 67).
    // This test's disk is a full copy (what this container's filesystem detected before qcow2);
    // the next test runs qcow2.
    await api.put('/api/v1/settings', {
      network: { bootAddr: BOOT_ADDR },
      dhcp: { mode: 'dhcp', iface: 'boot0', rangeStart: '10.98.0.100', rangeEnd: '10.98.0.199' },
      storage: { reserveBytes: 0, backend: 'copy' },
    });
    await waitFor(
      'dnsmasq to run',
      async () => (await api.get<{ daemon: string }>('/api/v1/dhcp/status')).daemon === 'running',
      30_000,
      500,
    );
    // a small disk image, converted by GGnet in the container
    const image = await api.post<Image>('/api/v1/images', { name: 'fresh-img', osType: 'linux' });
    imageId = image.id;
    const data = Buffer.concat([randomBytes(1024 * 1024), Buffer.alloc(15 * 1024 * 1024)]);
    const put = await fetch(`${api.baseUrl}/api/v1/images/${image.id}/content?filename=disk.img`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/octet-stream' },
      body: data,
    });
    expect(put.status, await put.text()).toBeLessThan(300);
    await waitFor(
      'the image to be converted',
      async () => {
        const i = await api.get<Image>(`/api/v1/images/${image.id}`);
        if (i.state === 'failed') throw new Error(`conversion failed: ${i.error}`);
        return i.state === 'ready' && i.publishedVersionId;
      },
      180_000,
      500,
    );
    const m = await api.post<Machine>('/api/v1/machines', {
      name: 'pc-fresh',
      mac: '52:54:00:12:34:56',
      bootImageId: image.id,
    });
    login = await api.post<SessionStartResult>('/api/v1/sessions', { machineId: m.id });
    const q = initiator();
    closers.push(() => q.close());
    const tgtdBefore = readFileSync(join(root, 'var/lib/ggnet/run/tgtd.7300.pid'), 'utf8').trim();
    const mainBefore = (await ct.exec('systemctl show -p MainPID --value ggnet', {})).stdout.trim();
    let cycles = 0;
    let stop = false;
    const io = (async () => {
      for (let n = 0; !stop; n++) {
        const p = (n % 250) + 1;
        await q.cmd(`write -P ${p} 4M 64k`, /wrote 65536\/65536/);
        await q.cmd(`read -P ${p} 4M 64k`, /read 65536\/65536/);
        cycles++;
        await sleep(20);
      }
    })();
    const waitCycles = async (more: number) => {
      const target = cycles + more;
      await waitFor(`${more} more I/O cycles`, () => cycles >= target, 60_000, 50);
    };
    try {
      await waitCycles(5);
      const r = await ct.exec('systemctl restart ggnet', { check: true });
      expect(r.code).toBe(0);
      const mainAfter = (await ct.exec('systemctl show -p MainPID --value ggnet', {})).stdout.trim();
      expect(mainAfter).not.toBe(mainBefore);
      await ready();
      await waitCycles(10);
    } finally {
      stop = true;
      await io;
    }
    expect(readFileSync(join(root, 'var/lib/ggnet/run/tgtd.7300.pid'), 'utf8').trim()).toBe(tgtdBefore);
    const journal = await ct.exec('journalctl -u ggnet --no-pager -o cat', {});
    expect(journal.stdout).toContain('adopted running daemon');
    // a marker the client wrote, to be read back after the reboot
    await q.cmd('write -P 0x5a 1M 64k', /wrote 65536\/65536/);
    await q.close();
  }, 600_000);

  it('storage backend qcow2 under the shipped units: ggnet-storage.service mounts the export, tgtd in ggnet.service serves it, both restarts keep the disk', async () => {
    expect(imageId).not.toBe('');
    // the storage daemon: its own unit, as ggnet, with CAP_SYS_ADMIN only (to mount FUSE)
    const st = await ct.exec(
      'systemctl is-active ggnet-storage; systemctl is-enabled ggnet-storage; pid=$(systemctl show -p MainPID --value ggnet-storage); stat -c %U /proc/$pid; cat /proc/$pid/comm; grep ^CapEff /proc/$pid/status',
      {},
    );
    expect(st.stdout.trim().split('\n')).toEqual([
      'active',
      'enabled',
      'ggnet',
      'qemu-storage-da',
      'CapEff:\t0000000000200000',
    ]);
    await api.put('/api/v1/settings', { storage: { backend: 'qcow2' } });
    const m2 = await api.post<Machine>('/api/v1/machines', {
      name: 'pc-fresh-qcow2',
      mac: '52:54:00:12:34:58',
      bootImageId: imageId,
    });
    login2 = await api.post<SessionStartResult>('/api/v1/sessions', { machineId: m2.id });
    const l2 = login2;
    // the FUSE export is mounted in the host's namespace (by the storage unit) and is the LUN's file
    const mounts = await ct.exec('findmnt -rn -t fuse -o TARGET,OPTIONS', { check: true });
    expect(mounts.stdout).toMatch(/^\/var\/lib\/ggnet\/exports\/[0-9a-f-]{36}\.img \S*user_id=\d+/m);
    const q = initiator(l2);
    closers.push(() => q.close());
    // the image's zeros come through the overlay from the master; a 4 MiB write in one request
    // reads back whole (QEMU 10's export: tgtd opens it O_DIRECT)
    await q.cmd('read -P 0 2M 64k', /read 65536\/65536/);
    await q.cmd('write -P 0x3c 8M 4M', /wrote 4194304\/4194304/);
    await q.cmd('read -P 0x3c 8M 4M', /read 4194304\/4194304/);
    const storageBefore = await storagePid();
    // a restart of GGnet leaves the storage daemon (and the client's disk) alone
    await ct.exec('systemctl restart ggnet', { check: true });
    await ready();
    await api.login(password);
    expect(await storagePid()).toBe(storageBefore);
    await q.cmd('read -P 0x3c 8M 4M', /read 4194304\/4194304/);
    await q.cmd('write -P 0x3d 12M 64k', /wrote 65536\/65536/);
    // the storage daemon restarted by systemd (a crash): its exports are gone; the unit unmounts the
    // dead ones, GGnet sees the new pid, exports the disk again and re-adds its LUN
    await ct.exec('systemctl restart ggnet-storage', { check: true });
    expect(await storagePid()).not.toBe(storageBefore);
    await readBack(
      q,
      'read -P 0x3d 12M 64k',
      'the qcow2 disk to be served again after the storage daemon restarted',
    );
    await q.cmd('read -P 0x3c 8M 4M', /read 4194304\/4194304/);
    const journal = await ct.exec('journalctl -u ggnet --no-pager -o cat', {});
    expect(journal.stdout).toContain('the daemon was restarted by its unit');
    // a marker to read back after the reboot
    await q.cmd('write -P 0x5b 1M 64k', /wrote 65536\/65536/);
    await q.close();
  }, 600_000);

  it('a reboot of the server brings GGnet back, with the session reconciled (same disk, new tgtd)', async () => {
    expect(login).toBeDefined();
    await api.login(password);
    const tgtdBefore = readFileSync(join(root, 'var/lib/ggnet/run/tgtd.7300.pid'), 'utf8').trim();
    await timed('reboot', () => ct.reboot());
    // the shutdown did not wait for a tgtd that ignores SIGTERM (ggnet-shutdown.service ended it)
    // eslint-disable-next-line no-control-regex
    const shutdownLog = readFileSync(join(artifacts, 'console-1.log'), 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
    expect(shutdownLog).toContain('Stopping ggnet.service');
    expect(shutdownLog).not.toMatch(/Sending SIGKILL to PID \d+ \(tgtd\)/);
    const state = await ct.exec('systemctl is-active ggnet; systemctl is-enabled ggnet', {});
    expect(state.stdout.split('\n').slice(0, 2)).toEqual(['active', 'enabled']);
    await ready();
    await api.login(password);
    const s = await api.get<{ state: string }>(`/api/v1/sessions/${login.sessionId}`);
    expect(['ready', 'active']).toContain(s.state);
    await waitFor(
      'tgtd to be started again',
      () => {
        const p = join(root, 'var/lib/ggnet/run/tgtd.7300.pid');
        return existsSync(p) && readFileSync(p, 'utf8').trim() !== tgtdBefore;
      },
      60_000,
      500,
    );
    // the target is back (the reconciler made it again) with the writeback the client wrote to
    const q = initiator();
    try {
      await readBack(q, 'read -P 0x5a 1M 64k', 'the session target to accept the client again');
    } finally {
      await q.close();
    }
    // the qcow2 session too: ggnet-storage.service started at boot, GGnet exported the disk again
    expect(login2).toBeDefined();
    const q2 = initiator(login2);
    try {
      await readBack(q2, 'read -P 0x5b 1M 64k', 'the qcow2 disk to be served after the reboot');
    } finally {
      await q2.close();
    }
    before = {
      machines: (await api.get<Page<Machine>>('/api/v1/machines?limit=100')).items,
      images: (await api.get<Page<Image>>('/api/v1/images?limit=100')).items,
      settings: (await api.get<{ settings: Settings }>('/api/v1/settings')).settings,
    };
  }, 600_000);

  it("ggnet backup and restore as root with the installed command: the file stays root's, the data the service's", async () => {
    expect(before).toBeDefined();
    const b = await ct.exec(
      'ggnet backup /root/ggnet-backup.tar.gz && stat -c "%U %a" /root/ggnet-backup.tar.gz',
      {
        timeoutMs: 120_000,
      },
    );
    expect(b.code, b.stdout + b.stderr).toBe(0);
    expect(b.stdout.trim().split('\n').at(-1)).toBe('root 600');
    const list = await ct.exec('tar -tzf /root/ggnet-backup.tar.gz | sort', { check: true });
    expect(list.stdout.trim().split('\n')).toEqual([
      'config/ggnet.env',
      'config/ggnet.toml',
      'database/ggnet.db',
      'manifest.json',
      'secrets/jwt-secret',
      'settings.json',
    ]);
    // a change after the backup, undone by the restore
    await api.post('/api/v1/machines', { name: 'pc-after-backup', mac: '52:54:00:12:34:57' });
    const r = await ct.exec(
      'systemctl stop ggnet && ggnet restore /root/ggnet-backup.tar.gz && stat -c %U /var/lib/ggnet/ggnet.db && systemctl start ggnet',
      { timeoutMs: 120_000 },
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('restored the backup of');
    expect(r.stdout).toMatch(/^ggnet$/m);
    await ready();
    await api.login(password);
    const machines = (await api.get<Page<Machine>>('/api/v1/machines?limit=100')).items;
    expect(machines.map((m) => m.name)).toEqual(before.machines.map((m) => m.name));
    // the session's disk is on this server: its session lives on, its target is still served
    const s = await api.get<{ state: string }>(`/api/v1/sessions/${login.sessionId}`);
    expect(['ready', 'active']).toContain(s.state);
  }, 300_000);

  it('install.sh again from a newer commit, with nginx: keeps data, runs the new migration, TLS in front', async () => {
    expect(before).toBeDefined();
    // the newer commit: one more migration
    const mig = join(ggnetRoot(), 'apps/server/src/db/migrations');
    writeFileSync(
      join(mig, '9999-e2e-upgrade-probe.ts'),
      [
        "import type { Kysely } from 'kysely';",
        "import type { MigrationContext } from './index.js';",
        'export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {',
        "  await db.schema.createTable('e2e_upgrade_probe').addColumn('id', 'text', (c) => c.primaryKey()).execute();",
        '}',
        '',
      ].join('\n'),
    );
    const index = readFileSync(join(mig, 'index.ts'), 'utf8')
      .replace(
        'import type { Kysely,',
        "import * as m9999 from './9999-e2e-upgrade-probe.js';\nimport type { Kysely,",
      )
      .replace(
        /(const MIGRATIONS: Record<string, MigrationModule> = \{\n(?:.*\n)*?)(\};)/,
        "$1  '9999-e2e-upgrade-probe': m9999,\n$2",
      );
    expect(index).toContain("'9999-e2e-upgrade-probe': m9999");
    writeFileSync(join(mig, 'index.ts'), index);

    const r = await timed('upgrade', () => installSh('--nginx'));
    writeFileSync(join(artifacts, 'install-2.log'), r.stdout + r.stderr);
    expect(r.code, r.stdout.slice(-3000) + r.stderr.slice(-3000)).toBe(0);
    const migrate = await ct.exec('ggnet migrate', { check: true });
    expect(migrate.stdout).toContain('up to date (current: 9999-e2e-upgrade-probe)');
    const journal = await ct.exec('journalctl -u ggnet --no-pager -o cat', {});
    expect(journal.stdout).toContain('9999-e2e-upgrade-probe');
    // only the first start printed a password (the journal may have forgotten the boots before)
    for (const l of journal.stdout.split('\n').filter((x) => x.includes('generated password: ')))
      expect(l).toBe(firstPasswordLine);

    // nginx: console and API over TLS with the generated certificate, /boot/ on plain HTTP
    const ca = readFileSync(join(root, 'etc/ggnet/tls/ggnet.crt'), 'utf8');
    const tlsPort = await ct.expose(443, sockets);
    const plain = await ct.expose(80, sockets);
    closers.push(tlsPort.close, plain.close);
    const https = tlsPort.url('https');
    await waitFor(
      'nginx over TLS',
      async () => (await tls(`${https}/healthz`, ca)).status === 200,
      60_000,
      500,
    );
    const page = await tls(`${https}/`, ca);
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/<div id="root">/);
    const lr = await tls(`${https}/api/v1/auth/login`, ca, {
      method: 'POST',
      body: { username: 'admin', password },
    });
    expect(lr.status).toBe(200);
    const token = (JSON.parse(lr.body) as { accessToken: string }).accessToken;
    const auth = { authorization: `Bearer ${token}` };
    const machines = JSON.parse(
      (await tls(`${https}/api/v1/machines?limit=100`, ca, { headers: auth })).body,
    ) as Page<Machine>;
    const images = JSON.parse(
      (await tls(`${https}/api/v1/images?limit=100`, ca, { headers: auth })).body,
    ) as Page<Image>;
    const settings = (
      JSON.parse((await tls(`${https}/api/v1/settings`, ca, { headers: auth })).body) as {
        settings: Settings;
      }
    ).settings;
    expect(machines.items.map((m) => [m.id, m.name, m.mac])).toEqual(
      before.machines.map((m) => [m.id, m.name, m.mac]),
    );
    expect(images.items.map((i) => [i.id, i.name, i.state, i.publishedVersionId])).toEqual(
      before.images.map((i) => [i.id, i.name, i.state, i.publishedVersionId]),
    );
    expect(settings).toEqual(before.settings);
    // the events WebSocket through TLS
    expect(await wsUpgradeStatus(https, ca, token)).toBe(101);
    // port 80: the console and API go to HTTPS, /boot/ stays plain for PXE clients
    const redirect = await fetch(`${plain.url()}/api/v1/machines`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toMatch(/^https:\/\//);
    const script = await fetch(`${plain.url()}/boot/ipxe?mac=52:54:00:00:00:99&arch=x86_64&platform=pcbios`);
    expect(script.status).toBe(200);
    expect(await script.text()).toMatch(/^#!ipxe/);
    // GGnet itself answers on loopback only now, and tells PXE clients to use nginx's port 80
    const conf = readFileSync(join(root, 'var/lib/ggnet/dnsmasq/dnsmasq.conf'), 'utf8');
    expect(conf).toContain(`http://${BOOT_ADDR}:80/boot/ipxe`);
    const nginxT = await ct.exec('nginx -t', {});
    expect(nginxT.code, nginxT.stderr).toBe(0);
  }, 1_800_000);

  it('--uninstall removes the service and the code, keeps /var/lib/ggnet and /etc/ggnet; --purge removes them after confirmation', async () => {
    const r = await ct.exec('bash /root/ggnet/deploy/install.sh --uninstall', { timeoutMs: 120_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const u of ['ggnet.service', 'ggnet-storage.service'])
      expect((await ct.exec(`systemctl cat ${u}`, {})).code).not.toBe(0);
    // the storage daemon went with it, and its exports
    expect((await ct.exec('findmnt -rn -t fuse -o TARGET', {})).stdout.trim()).toBe('');
    expect(existsSync(join(root, 'opt/ggnet'))).toBe(false);
    expect(existsSync(join(root, 'usr/local/bin/ggnet'))).toBe(false);
    expect(existsSync(join(root, 'etc/nginx/sites-enabled/ggnet.conf'))).toBe(false);
    expect(existsSync(join(root, 'var/lib/ggnet/ggnet.db'))).toBe(true);
    expect(existsSync(join(root, `var/lib/ggnet/images/${imageId}`))).toBe(true);
    expect(existsSync(join(root, 'etc/ggnet/ggnet.toml'))).toBe(true);
    // tgtd went with the service
    const tgtd = await ct.exec('kill -0 $(cat /var/lib/ggnet/run/tgtd.7300.pid)', {});
    expect(tgtd.code).not.toBe(0);
    // --purge: refused without a confirmation (no terminal here), then with --yes it deletes the data
    const refused = await ct.exec('bash /root/ggnet/deploy/install.sh --purge </dev/null', {});
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('confirm on a terminal or add --yes');
    expect(existsSync(join(root, 'var/lib/ggnet/ggnet.db'))).toBe(true);
    const purged = await ct.exec('bash /root/ggnet/deploy/install.sh --purge --yes', {});
    expect(purged.code, purged.stdout + purged.stderr).toBe(0);
    expect(existsSync(join(root, 'var/lib/ggnet'))).toBe(false);
    expect(existsSync(join(root, 'etc/ggnet'))).toBe(false);
    expect((await ct.exec('getent passwd ggnet', {})).code).not.toBe(0);
  }, 300_000);
});
