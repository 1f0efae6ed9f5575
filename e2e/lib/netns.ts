import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { ip, netnsPids, removeNetns, removeStaleNetns } from '@ggnet/testkit';

const PREFIX = 'gge';

/** Why VM boot tests cannot run here, or null. */
export function bootTestsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, tap devices, loop devices)';
  for (const [cmd, arg] of [
    ['ip', '-V'],
    ['qemu-system-x86_64', '--version'],
    ['dnsmasq', '--version'],
  ] as const) {
    try {
      execFileSync(cmd, [arg], { stdio: 'ignore' });
    } catch {
      return `${cmd} is not installed (bash scripts/install-deps.sh test)`;
    }
  }
  return null;
}

/**
 * The boot segment of one test: network namespace `gge-<pid>-<id>` with bridge br0 (10.99.0.1/24,
 * fd99::1/64), one tap per VM, optionally a second namespace on the same bridge for a plain DHCP
 * server. No route leaves it; GGnet, dnsmasq, tgtd and QEMU all run inside.
 */
export class BootNet {
  readonly ns: string;
  readonly dhcpNs: string;
  readonly bridge = 'br0';
  readonly addr = '10.99.0.1';
  readonly dhcpAddr = '10.99.0.2';
  private taps = 0;

  constructor() {
    const id = randomBytes(2).toString('hex');
    this.ns = `${PREFIX}-${process.pid}-${id}`;
    this.dhcpNs = `${this.ns}-d`;
  }

  /** Removes namespaces earlier runs of these tests left behind (their creating process is gone). */
  static purgeStale(): void {
    removeStaleNetns(PREFIX);
  }

  up(): void {
    BootNet.purgeStale();
    ip('netns', 'add', this.ns);
    ip('-n', this.ns, 'link', 'set', 'lo', 'up');
    ip('-n', this.ns, 'link', 'add', this.bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
    ip('-n', this.ns, 'addr', 'add', `${this.addr}/24`, 'dev', this.bridge);
    // an IPv6 prefix on the segment lets dnsmasq answer iPXE's router solicitations (GGnet's RA)
    ip('-n', this.ns, 'addr', 'add', 'fd99::1/64', 'dev', this.bridge, 'nodad');
    ip('-n', this.ns, 'link', 'set', this.bridge, 'up');
  }

  /** A new tap on the bridge for one VM. */
  addTap(): string {
    const tap = `tap${this.taps++}`;
    ip('-n', this.ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap');
    ip('-n', this.ns, 'link', 'set', tap, 'master', this.bridge);
    ip('-n', this.ns, 'link', 'set', tap, 'up');
    return tap;
  }

  /**
   * MAC learning on a tap off: frames for a MAC that the bridge would send to one port only (the last
   * it saw that MAC on) go to every such port. Two VMs with the same MAC then both get their frames,
   * as on a hub; on a switch they would take turns (and port security would stop them).
   */
  learning(tap: string, on: boolean): void {
    // what the bridge has learnt so far goes too, or it keeps sending to the port it knows
    ip(
      '-n',
      this.ns,
      'link',
      'set',
      'dev',
      tap,
      'type',
      'bridge_slave',
      'learning',
      on ? 'on' : 'off',
      'fdb_flush',
    );
  }

  /** A second namespace on the segment (10.99.0.2) for the site's own DHCP server (proxyDHCP tests). */
  addDhcpPeer(): void {
    ip('netns', 'add', this.dhcpNs);
    ip('-n', this.dhcpNs, 'link', 'set', 'lo', 'up');
    ip('-n', this.ns, 'link', 'add', 'dh0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.dhcpNs);
    ip('-n', this.ns, 'link', 'set', 'dh0', 'master', this.bridge);
    ip('-n', this.ns, 'link', 'set', 'dh0', 'up');
    ip('-n', this.dhcpNs, 'addr', 'add', `${this.dhcpAddr}/24`, 'dev', 'eth0');
    ip('-n', this.dhcpNs, 'link', 'set', 'eth0', 'up');
  }

  /** Arguments that run a command inside the namespace: ['netns', 'exec', ns, ...]. */
  exec(args: string[], ns = this.ns): [string, string[]] {
    return ['ip', ['netns', 'exec', ns, ...args]];
  }

  pids(ns = this.ns): number[] {
    return netnsPids(ns);
  }

  /** Kills (by PID) what still runs in our namespaces and deletes them. */
  down(): void {
    removeNetns(this.dhcpNs);
    removeNetns(this.ns);
  }
}
