import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DnsmasqDaemon } from '../../src/adapters/dnsmasq/dnsmasq.adapter.js';
import { secureDataDir } from '../../src/lib/data-dir.js';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';
import {
  cmdline,
  netnsUnavailable,
  udhcpc,
  VethPair,
  writeUdhcpcScript,
  type DhcpClientOptions,
} from '../helpers/netns.js';

const run = promisify(execFile);
const skip = netnsUnavailable();
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

(skip ? describe.skip : describe)(
  `dnsmasq for real, in network namespaces${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    describeEachDialect('dnsmasq', (dialect) => {
      let t: TestContext;
      let net: VethPair;
      let dir: string;
      let daemon: DnsmasqDaemon;

      beforeEach(async () => {
        net = new VethPair();
        net.up();
        dir = mkdtempSync(join(tmpdir(), 'ggnet-dnsmasq-'));
        writeUdhcpcScript(join(dir, 'udhcpc.sh'));
        daemon = new DnsmasqDaemon({
          dir: join(dir, 'dnsmasq'),
          log: pino({ level: process.env.GGNET_TEST_LOG ?? 'silent' }),
          wrap: ['ip', 'netns', 'exec', net.server],
          healthIntervalMs: 500,
        });
        t = await createTestContext(dialect, { container: { dnsmasq: daemon }, app: false });
      });
      afterEach(async () => {
        await t?.container.dhcp.stop().catch(() => undefined);
        await t?.close();
        net.down();
        rmSync(dir, { recursive: true, force: true });
      });

      const dhcpClient = (opts: DhcpClientOptions) => udhcpc(net, join(dir, 'udhcpc.sh'), opts);

      /** A DHCP server on the test's veth pair, range 10.77.0.100-120. */
      const dhcpOn = (c: TestContext) =>
        c.container.settings.update(
          {
            network: { bootAddr: net.serverAddr },
            dhcp: {
              mode: 'dhcp',
              iface: net.serverIface,
              rangeStart: '10.77.0.100',
              rangeEnd: '10.77.0.120',
            },
          },
          'test',
        );

      /** Fetches a file from dnsmasq's TFTP server as the client; returns where it was stored. */
      async function tftpGet(name: string): Promise<string> {
        const got = join(dir, `got-${name}`);
        const args = [
          'netns',
          'exec',
          net.client,
          'busybox',
          'tftp',
          '-g',
          '-r',
          name,
          '-l',
          got,
          net.serverAddr,
        ];
        await run('ip', args, { timeout: 30_000 });
        return got;
      }

      it('dhcp mode: BIOS, UEFI and iPXE clients get their boot file; TFTP serves iPXE; events land in boot_events', async () => {
        const dhcp = t.container.dhcp;
        await t.container.settings.update(
          {
            network: { bootAddr: net.serverAddr, bootHttpPort: 8080 },
            dhcp: {
              mode: 'dhcp',
              iface: net.serverIface,
              rangeStart: '10.77.0.100',
              rangeEnd: '10.77.0.120',
              leaseTimeSec: 600,
            },
          },
          'test',
        );
        await dhcp.start();
        const st = dhcp.status();
        expect(st).toMatchObject({ mode: 'dhcp', daemon: 'running', tftp: true, problem: null });
        expect(cmdline(st.pid!)).toContain('dnsmasq');
        expect(net.pids(net.server)).toContain(st.pid);

        const bios = await dhcpClient({ arch: '00000' });
        expect(bios).toMatchObject({ siaddr: '10.77.0.1', bootFile: 'undionly.kpxe' });
        expect(bios!.ip).toMatch(/^10\.77\.0\.(1[01]\d|120)$/);
        const uefi = await dhcpClient({ arch: '00007' });
        expect(uefi).toMatchObject({ bootFile: 'snponly.efi', siaddr: '10.77.0.1' });
        const ipxe = await dhcpClient({ arch: '00007', ipxe: true });
        expect(ipxe?.bootFile).toBe(
          'http://10.77.0.1:8080/boot/ipxe?mac=${netX/mac}&arch=${buildarch}&platform=${platform}',
        );

        // TFTP: the file the client gets is Debian's iPXE
        expect(sha(await tftpGet('snponly.efi'))).toBe(sha('/usr/lib/ipxe/snponly.efi'));

        // dnsmasq logs a transfer when the client's last ACK arrived, which can be after busybox exited
        const load = async () => {
          await dhcp.drain();
          return t.container.database.db
            .selectFrom('boot_events')
            .selectAll()
            .where('mac', '=', net.clientMac)
            .orderBy('id')
            .execute();
        };
        let events = await load();
        for (let i = 0; i < 50 && !events.some((e) => e.kind === 'tftp'); i++) {
          await sleep(100);
          events = await load();
        }
        const kinds = events.map((e) => e.kind);
        expect(kinds.filter((k) => k === 'dhcp_ack')).toHaveLength(3);
        expect(kinds).toContain('dhcp_discover');
        const details = events.map((e) => JSON.parse(e.detail) as Record<string, unknown>);
        expect(details.some((d) => d.arch === 'efi64' && d.ipxe === true)).toBe(true);
        expect(details.some((d) => d.arch === 'bios')).toBe(true);
        const tftp = events.filter((e) => e.kind === 'tftp').map((e) => JSON.parse(e.detail));
        expect(tftp).toContainEqual(expect.objectContaining({ ok: true, file: 'snponly.efi' }));
        expect(events.every((e) => e.session_id === null)).toBe(true);
      });

      it('a machine with a fixed IP gets its reservation; a settings change restarts dnsmasq; stop ends it', async () => {
        const dhcp = t.container.dhcp;
        await t.container.machines.create({ name: 'pc-fixed', mac: net.clientMac, ip: '10.77.0.42' });
        await dhcpOn(t);
        await dhcp.start();
        const pid1 = dhcp.status().pid!;
        expect((await dhcpClient({ arch: '00000' }))?.ip).toBe('10.77.0.42');

        await t.container.settings.update({ dhcp: { leaseTimeSec: 900 } }, 'test');
        await dhcp.reconcile();
        const pid2 = dhcp.status().pid!;
        expect(pid2).not.toBe(pid1);
        expect(cmdline(pid1)).toBeNull();
        expect(readFileSync(join(dir, 'dnsmasq', 'dnsmasq.conf'), 'utf8')).toContain(',900s');
        expect(dhcp.status().daemon).toBe('running');

        // the same settings again: no restart
        await dhcp.reconcile();
        expect(dhcp.status().pid).toBe(pid2);

        // dnsmasq killed behind GGnet's back: supervised, it comes back
        process.kill(pid2, 'SIGKILL');
        for (let i = 0; i < 100 && (dhcp.status().pid === pid2 || dhcp.status().daemon !== 'running'); i++)
          await sleep(100);
        expect(dhcp.status().daemon).toBe('running');
        const pid3 = dhcp.status().pid!;
        expect(pid3).not.toBe(pid2);
        expect((await dhcpClient({ arch: '00000' }))?.ip).toBe('10.77.0.42');

        // off with a boot address: TFTP only, no DHCP answers any more
        await t.container.settings.update({ dhcp: { mode: 'off' } }, 'test');
        await dhcp.reconcile();
        expect(dhcp.status()).toMatchObject({ mode: 'off', daemon: 'running', tftp: true });
        expect(await dhcpClient({ arch: '00000' })).toBeNull();

        const last = dhcp.status().pid!;
        await dhcp.stop();
        expect(cmdline(last)).toBeNull();
        expect(net.pids(net.server)).toEqual([]);
      });

      it('a registered machine gets an address of its own (hosts file re-read on SIGHUP, no restart)', async () => {
        // Two PCs that DISCOVER at the same moment can be offered one address (no-ping keeps no record
        // of offers); iPXE ignores the NAK the loser gets and fails. Registered machines get their own.
        const dhcp = t.container.dhcp;
        await dhcpOn(t);
        await dhcp.start();
        const pid = dhcp.status().pid!;
        const hostsFile = join(dir, 'dnsmasq', 'hosts');
        expect(readFileSync(join(dir, 'dnsmasq', 'dnsmasq.conf'), 'utf8')).toContain(
          `dhcp-hostsfile=${hostsFile}`,
        );
        await t.container.machines.create({ name: 'pc-other', mac: '52:54:00:77:00:99' });
        await t.container.machines.create({ name: 'pc-auto', mac: net.clientMac });
        await dhcp.reconcile();
        expect(dhcp.status().pid).toBe(pid);
        const hosts = readFileSync(hostsFile, 'utf8');
        const mine = new RegExp(`^${net.clientMac},(10\\.77\\.0\\.\\d+),pc-auto$`, 'm').exec(hosts)?.[1];
        const other = /^52:54:00:77:00:99,(\S+),pc-other$/m.exec(hosts)?.[1];
        expect(mine).toBeDefined();
        expect(other).toBeDefined();
        expect(mine).not.toBe(other);
        // dnsmasq handles the SIGHUP between two packets: the first answer may still be the old one
        let got: string | undefined;
        for (let i = 0; i < 5 && got !== mine; i++) got = (await dhcpClient({ arch: '00000' }))?.ip;
        expect(got).toBe(mine);
        expect(dhcp.status().pid).toBe(pid);
        expect(readFileSync(join(dir, 'dnsmasq', 'dnsmasq.log'), 'utf8')).toMatch(/read .*hosts/);
      });

      it('as its own user in the production layout (owner-only data dir): TFTP and the hosts file still work', async () => {
        // like `ggnet serve`: umask 077, a data dir under traversable parents, modes fixed at start
        const base = mkdtempSync('/var/tmp/ggnet-dnsmasq-user-');
        chmodSync(base, 0o755);
        const umask = process.umask(0o077);
        const dataDir = join(base, 'data');
        const own = new DnsmasqDaemon({
          dir: join(dataDir, 'dnsmasq'),
          log: pino({ level: process.env.GGNET_TEST_LOG ?? 'silent' }),
          wrap: ['ip', 'netns', 'exec', net.server],
          healthIntervalMs: 500,
        });
        const p = await createTestContext(dialect, {
          container: { dnsmasq: own },
          app: false,
          config: { dataDir },
        });
        try {
          secureDataDir(dataDir);
          await dhcpOn(p);
          await p.container.dhcp.start();
          const pid = p.container.dhcp.status().pid!;
          expect(p.container.dhcp.status()).toMatchObject({ daemon: 'running', problem: null });
          // dnsmasq dropped root
          const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
          const dnsmasqUid = /^dnsmasq:[^:]*:(\d+):/m.exec(readFileSync('/etc/passwd', 'utf8'))?.[1];
          expect(uid).toBe(dnsmasqUid);
          const mode = (f: string) => statSync(join(dataDir, f)).mode & 0o7777;
          expect(mode('.')).toBe(0o711);
          if (dialect === 'sqlite') expect(mode('ggnet.db')).toBe(0o600);
          expect(mode('dnsmasq')).toBe(0o711);
          expect(mode('dnsmasq/dnsmasq.conf')).toBe(0o600);
          expect(mode('tftp')).toBe(0o755);
          expect(mode('tftp/undionly.kpxe')).toBe(0o644);

          // the hosts file, re-read on SIGHUP by the unprivileged dnsmasq
          await p.container.machines.create({ name: 'pc-other', mac: '52:54:00:77:00:99' });
          await p.container.machines.create({ name: 'pc-auto', mac: net.clientMac });
          await p.container.dhcp.reconcile();
          expect(p.container.dhcp.status().pid).toBe(pid);
          expect(mode('dnsmasq/hosts')).toBe(0o644);
          const hosts = readFileSync(join(dataDir, 'dnsmasq', 'hosts'), 'utf8');
          const mine = new RegExp(`^${net.clientMac},(10\\.77\\.0\\.\\d+),pc-auto$`, 'm').exec(hosts)?.[1];
          expect(mine).toBeDefined();
          let got: string | undefined;
          for (let i = 0; i < 5 && got !== mine; i++) got = (await dhcpClient({ arch: '00000' }))?.ip;
          expect(got).toBe(mine);

          // TFTP: the unprivileged dnsmasq still reads its root
          expect(sha(await tftpGet('undionly.kpxe'))).toBe(sha('/usr/lib/ipxe/undionly.kpxe'));
        } finally {
          process.umask(umask);
          await p.container.dhcp.stop().catch(() => undefined);
          await p.close();
          rmSync(base, { recursive: true, force: true });
        }
      });

      it('a configuration dnsmasq refuses is reported, not fatal', async () => {
        const dhcp = t.container.dhcp;
        await t.container.settings.update(
          {
            network: { bootAddr: net.serverAddr },
            dhcp: { mode: 'dhcp', iface: 'nosuch0', rangeStart: '10.77.0.100', rangeEnd: '10.77.0.120' },
          },
          'test',
        );
        await dhcp.start();
        const st = dhcp.status();
        expect(st.daemon).not.toBe('running');
        expect(st.problem).toMatch(/nosuch0|did not become healthy|unknown interface/i);
        expect(net.pids(net.server)).toEqual([]);
      });
    });
  },
);
