import { execFile } from 'node:child_process';
import { ip, netnsPids, removeNetns } from '@ggnet/testkit';
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';

export { ip, netnsUnavailable } from '@ggnet/testkit';

/**
 * Two network namespaces joined by a veth pair: `server` (gg0, 10.77.0.1/24 and fd77::1/64) and
 * `client` (eth0, no address). Nothing is routed anywhere; names are unique per test run.
 */
export class VethPair {
  readonly server: string;
  readonly client: string;
  readonly serverIface = 'gg0';
  readonly clientIface = 'eth0';
  readonly serverAddr = '10.77.0.1';

  constructor(readonly clientMac = '52:54:00:77:00:01') {
    const id = randomBytes(3).toString('hex');
    this.server = `ggt-${id}-s`;
    this.client = `ggt-${id}-c`;
  }

  up(): void {
    ip('netns', 'add', this.server);
    ip('netns', 'add', this.client);
    ip('-n', this.server, 'link', 'set', 'lo', 'up');
    ip('-n', this.client, 'link', 'set', 'lo', 'up');
    ip(
      '-n',
      this.server,
      'link',
      'add',
      this.serverIface,
      'type',
      'veth',
      'peer',
      'name',
      this.clientIface,
      'netns',
      this.client,
    );
    ip('-n', this.client, 'link', 'set', this.clientIface, 'address', this.clientMac);
    ip('-n', this.server, 'addr', 'add', `${this.serverAddr}/24`, 'dev', this.serverIface);
    ip('-n', this.server, 'addr', 'add', 'fd77::1/64', 'dev', this.serverIface, 'nodad');
    ip('-n', this.server, 'link', 'set', this.serverIface, 'up');
    ip('-n', this.client, 'link', 'set', this.clientIface, 'up');
  }

  /** Kills (by PID) whatever still runs in our namespaces, then deletes them. */
  down(): void {
    for (const ns of [this.client, this.server]) removeNetns(ns);
  }

  /** Process IDs running in a namespace (to check that nothing was left behind). */
  pids(ns: string): number[] {
    return netnsPids(ns);
  }
}

/** Command line of a process, or null when it is gone. */
export function cmdline(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return null;
  }
}

/**
 * A network namespace joined to this host's own namespace by a veth pair, on a /30 of 10.200-249.x.y
 * that nothing here uses: `hostAddr` on this host, `peerAddr` inside the namespace. A daemon of this
 * host listening on hostAddr is reached from two addresses: this host (source hostAddr) and the
 * namespace (source peerAddr), as from two PCs. Traffic stays on the pair.
 */
export class HostPeer {
  readonly ns: string;
  readonly hostIface: string;
  readonly peerIface = 'eth0';
  readonly hostAddr: string;
  readonly peerAddr: string;

  constructor() {
    const id = randomBytes(3).toString('hex');
    this.ns = `ggt-${id}-p`;
    this.hostIface = `ggh${id}`;
    const used = ip('-4', '-o', 'addr', 'show') + ip('-4', 'route', 'show', 'table', 'all');
    for (;;) {
      const [a, b, c] = [
        200 + Math.floor(Math.random() * 50),
        Math.floor(Math.random() * 256),
        Math.floor(Math.random() * 64) * 4,
      ];
      if (used.includes(`10.${a}.${b}.`)) continue;
      this.hostAddr = `10.${a}.${b}.${c + 1}`;
      this.peerAddr = `10.${a}.${b}.${c + 2}`;
      break;
    }
  }

  up(): void {
    ip('netns', 'add', this.ns);
    ip('-n', this.ns, 'link', 'set', 'lo', 'up');
    ip('link', 'add', this.hostIface, 'type', 'veth', 'peer', 'name', this.peerIface, 'netns', this.ns);
    ip('addr', 'add', `${this.hostAddr}/30`, 'dev', this.hostIface);
    ip('link', 'set', this.hostIface, 'up');
    ip('-n', this.ns, 'addr', 'add', `${this.peerAddr}/30`, 'dev', this.peerIface);
    ip('-n', this.ns, 'link', 'set', this.peerIface, 'up');
  }

  /** A command run inside the namespace (argument array for `ip`). */
  exec(cmd: string, args: string[]): string[] {
    return ['netns', 'exec', this.ns, cmd, ...args];
  }

  /** Kills (by PID) whatever still runs in the namespace, then deletes it and the pair. */
  down(): void {
    removeNetns(this.ns);
    try {
      ip('link', 'del', this.hostIface);
    } catch {
      /* already gone (deleting the namespace deletes the pair) */
    }
  }
}

// busybox udhcpc plays the PXE firmware / iPXE: it sends the same vendor class, client
// architecture (option 93) and user class (option 77) and prints what the server answered.
const UDHCPC_SCRIPT = `#!/bin/sh
if [ "$1" = bound ]; then
  ip addr add "$ip/$mask" dev "$interface"
  echo "BOUND ip=$ip siaddr=$siaddr boot_file=$boot_file"
fi
`;

/** Writes udhcpc's event script (it configures the address and prints what the server answered). */
export function writeUdhcpcScript(file: string): void {
  writeFileSync(file, UDHCPC_SCRIPT);
  chmodSync(file, 0o755);
}

export interface DhcpClientOptions {
  /** Client architecture (option 93, e.g. '00007'): also sets the PXE vendor class. */
  arch?: string;
  /** User class iPXE (option 77). */
  ipxe?: boolean;
  vendor?: string;
}

/** One DHCP exchange from the client namespace of a VethPair; null when no address was bound. */
export async function udhcpc(
  net: VethPair,
  script: string,
  opts: DhcpClientOptions = {},
): Promise<{ ip: string; siaddr: string; bootFile: string } | null> {
  const run = promisify(execFile);
  await run('ip', ['-n', net.client, 'addr', 'flush', 'dev', net.clientIface]);
  const args = ['netns', 'exec', net.client, 'busybox', 'udhcpc', '-f', '-q', '-n', '-t', '4', '-T', '1'];
  args.push('-i', net.clientIface, '-s', script);
  if (opts.vendor ?? opts.arch) args.push('-V', opts.vendor ?? `PXEClient:Arch:${opts.arch}:UNDI:002001`);
  if (opts.arch) args.push('-x', `0x5d:${opts.arch.slice(1)}`);
  if (opts.ipxe) args.push('-x', `0x4d:${Buffer.from('iPXE').toString('hex')}`);
  const r = await run('ip', args, { timeout: 20_000 }).catch((e: { stdout?: string; stderr?: string }) => e);
  const m = /BOUND ip=(\S*) siaddr=(\S*) boot_file=(.*)/.exec(r.stdout ?? '');
  return m ? { ip: m[1]!, siaddr: m[2]!, bootFile: m[3]!.trim() } : null;
}
