import {
  constants,
  accessSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statfsSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { dirname, join } from 'node:path';
import { formatBytes } from '@ggnet/contracts';
import type { Config } from '../config/config.schema.js';
import type { ProcessRunner } from '../adapters/process/process-runner.adapter.js';
import { foreignTgtd, tgtLockHolder } from '../adapters/iscsi/tgt-owner.js';
import { QmpConnection } from '../adapters/qsd/qmp.js';

/**
 * The storage daemon systemd runs beside GGnet (config qsdSocket: ggnet-storage.service): does it
 * answer on its QMP socket, and which QEMU is it. Null when GGnet runs its own daemon.
 */
export async function storageDaemonCheck(config: Config): Promise<CheckResult | null> {
  if (!config.qsdSocket) return null;
  const name = 'storage daemon (ggnet-storage.service)';
  try {
    const q = await QmpConnection.open(config.qsdSocket, 3000);
    try {
      const v = await q.execute<{ qemu: { major: number; minor: number; micro: number } }>('query-version');
      return {
        name,
        status: 'ok',
        detail: `answers on ${config.qsdSocket} (QEMU ${v.qemu.major}.${v.qemu.minor}.${v.qemu.micro})`,
        required: false,
      };
    } finally {
      q.close();
    }
  } catch (err) {
    return {
      name,
      status: 'warn',
      detail: `does not answer on ${config.qsdSocket} (${(err as Error).message}); storage backend qcow2 needs it: systemctl status ggnet-storage`,
      required: false,
    };
  }
}

/**
 * One row per tgtd control port GGnet uses: free, held by GGnet's own tgtd (its pid file, this
 * network namespace), or held by a tgtd that is not GGnet's (a failure: GGnet will not use it).
 */
export function tgtControlPortChecks(config: Config): CheckResult[] {
  const iscsi = (config.settings as { iscsi?: { backend?: string; daemons?: number } } | undefined)?.iscsi;
  if (iscsi?.backend === 'lio') return [];
  const n = iscsi?.daemons && iscsi.daemons > 0 ? iscsi.daemons : Math.max(1, availableParallelism());
  return Array.from({ length: n }, (_, i) => {
    const port = config.tgtControlPort + i;
    const name = `tgtd control port ${port}`;
    let own: number | null = null;
    try {
      own = Number(readFileSync(join(config.dataDir, 'run', `tgtd.${port}.pid`), 'utf8').trim()) || null;
    } catch {
      own = null;
    }
    const foreign = foreignTgtd(port, own);
    if (foreign) return { name, status: 'fail', detail: foreign.message, required: true };
    const holder = tgtLockHolder(port);
    return {
      name,
      status: 'ok',
      detail: holder === null ? 'free (GGnet starts its tgtd here)' : `GGnet's own tgtd (pid ${holder})`,
      required: true,
    };
  });
}

export type CheckStatus = 'ok' | 'warn' | 'fail';
export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
  required: boolean;
}

const IPXE_FILES = ['/usr/lib/ipxe/undionly.kpxe', '/usr/lib/ipxe/ipxe.efi', '/usr/lib/ipxe/snponly.efi'];

function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin')
    .split(':')
    .concat(['/usr/sbin', '/sbin'])) {
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

async function version(runner: ProcessRunner, cmd: string, args: string[]): Promise<string> {
  try {
    const r = await runner.run(cmd, args, { timeoutMs: 5000, okExitCodes: [0, 1] });
    return (
      (r.stdout || r.stderr)
        .split('\n')
        .find((l) => l.trim())
        ?.trim()
        .slice(0, 60) ?? ''
    );
  } catch {
    return '';
  }
}

function tcpFree(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    s.listen({ port, host: '0.0.0.0', exclusive: true }, () => s.close(() => resolve(null)));
  });
}

function udpFree(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', (e: NodeJS.ErrnoException) => {
      s.close();
      resolve(e.code ?? 'error');
    });
    s.bind({ port, address: '0.0.0.0', exclusive: true }, () => s.close(() => resolve(null)));
  });
}

/** True when `cp --reflink=always` works inside dir (XFS with reflink=1, btrfs). */
export async function reflinkSupported(runner: ProcessRunner, dir: string): Promise<boolean> {
  let tmp: string | null = null;
  try {
    tmp = mkdtempSync(join(dir, '.reflink-probe-'));
    writeFileSync(join(tmp, 'a'), Buffer.alloc(65536, 1));
    await runner.run('cp', ['--reflink=always', join(tmp, 'a'), join(tmp, 'b')], { timeoutMs: 5000 });
    return true;
  } catch {
    return false;
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

export async function runDoctor(
  config: Config,
  runner: ProcessRunner,
  reserveBytes: number,
): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const tool = async (name: string, cmd: string, required: boolean, args: string[], hint: string) => {
    const path = which(cmd);
    out.push(
      path
        ? { name, status: 'ok', detail: `${path} ${await version(runner, path, args)}`.trim(), required }
        : { name, status: required ? 'fail' : 'warn', detail: `not found (${hint})`, required },
    );
  };
  await tool('qemu-img', 'qemu-img', true, ['--version'], 'apt install qemu-utils');
  await tool('tgtd', 'tgtd', true, ['--help'], 'apt install tgt');
  await tool(
    'qemu-system-x86_64',
    'qemu-system-x86_64',
    false,
    ['--version'],
    'only for console VMs (Edit in a VM): apt install qemu-system-x86 qemu-block-extra',
  );
  await tool(
    'qemu-storage-daemon',
    'qemu-storage-daemon',
    false,
    ['--version'],
    'only for storage.backend=qcow2: apt install qemu-system-x86',
  );
  const storageDaemon = await storageDaemonCheck(config);
  if (storageDaemon) out.push(storageDaemon);
  await tool('tgtadm', 'tgtadm', true, ['--help'], 'apt install tgt');
  await tool(
    'targetcli',
    'targetcli',
    false,
    ['version'],
    'only for iscsi.backend=lio: apt install targetcli-fb',
  );
  await tool('dnsmasq', 'dnsmasq', true, ['--version'], 'apt install dnsmasq');
  await tool(
    'filefrag',
    'filefrag',
    false,
    ['-V'],
    'apt install e2fsprogs: bytes owned by each reflink writeback are read with it',
  );

  const missing = IPXE_FILES.filter((f) => !existsSync(f));
  out.push({
    name: 'iPXE binaries',
    status: missing.length ? 'fail' : 'ok',
    detail: missing.length
      ? `missing ${missing.join(', ')} (apt install ipxe)`
      : IPXE_FILES.map((f) => f.split('/').pop()).join(', '),
    required: true,
  });

  out.push(
    existsSync('/dev/kvm')
      ? { name: '/dev/kvm', status: 'ok', detail: 'present (only used by test VMs)', required: false }
      : {
          name: '/dev/kvm',
          status: 'warn',
          detail: 'absent (only test VMs use it; they fall back to TCG)',
          required: false,
        },
  );

  // on a first run the data dir does not exist yet: measure the filesystem it will be created on
  let probeDir = config.dataDir;
  while (!existsSync(probeDir) && dirname(probeDir) !== probeDir) probeDir = dirname(probeDir);
  const where =
    probeDir === config.dataDir
      ? config.dataDir
      : `${config.dataDir} (not created yet; measured on ${probeDir})`;
  try {
    const s = statfsSync(probeDir);
    const free = s.bavail * s.bsize;
    const ok = free > reserveBytes;
    out.push({
      name: 'free space (data dir)',
      status: ok ? 'ok' : 'fail',
      detail: `${formatBytes(free)} free of ${formatBytes(s.blocks * s.bsize)} in ${where}; reserve ${formatBytes(reserveBytes)}`,
      required: true,
    });
    const reflink = await reflinkSupported(runner, probeDir);
    out.push({
      name: 'reflink (data dir)',
      status: reflink ? 'ok' : 'warn',
      detail: reflink
        ? 'supported: per-boot disks are instant copy-on-write clones'
        : 'not supported: storage.backend "copy" makes a full copy of the image at every boot (use XFS with reflink=1 or btrfs)',
      required: false,
    });
  } catch (err) {
    out.push({
      name: 'data dir',
      status: 'fail',
      detail: `${config.dataDir}: ${(err as Error).message}`,
      required: true,
    });
  }

  out.push(...tgtControlPortChecks(config));

  for (const [proto, port, what] of [
    ['tcp', config.port, 'GGnet HTTP'],
    ['udp', 67, 'DHCP'],
    ['udp', 69, 'TFTP'],
    ['tcp', 3260, 'iSCSI'],
  ] as const) {
    const err = proto === 'tcp' ? await tcpFree(port) : await udpFree(port);
    out.push({
      name: `port ${port}/${proto}`,
      status: err ? 'warn' : 'ok',
      detail: err
        ? `${what}: ${err === 'EADDRINUSE' ? 'in use (GGnet itself, or another service)' : err}`
        : `${what}: free`,
      required: false,
    });
  }
  return out;
}

export function formatTable(rows: CheckResult[]): string {
  const w = Math.max(...rows.map((r) => r.name.length), 5);
  const mark = { ok: 'OK  ', warn: 'WARN', fail: 'FAIL' };
  return [
    `${'CHECK'.padEnd(w)}  STATUS  DETAIL`,
    ...rows.map((r) => `${r.name.padEnd(w)}  ${mark[r.status]}    ${r.detail}`),
  ].join('\n');
}
