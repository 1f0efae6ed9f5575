import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DnsmasqDaemon } from '../../src/adapters/dnsmasq/dnsmasq.adapter.js';
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
        const got = join(dir, 'got.efi');
        await run(
          'ip',
          [
            'netns',
            'exec',
            net.client,
            'busybox',
            'tftp',
            '-g',
            '-r',
            'snponly.efi',
            '-l',
            got,
            net.serverAddr,
          ],
          {
            timeout: 30_000,
          },
        );
        expect(sha(got)).toBe(sha('/usr/lib/ipxe/snponly.efi'));

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
        await t.container.settings.update(
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
        await t.container.settings.update(
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
