import { normalizeMac } from '@ggnet/contracts';

/** One DHCP or TFTP step of a client, as read from dnsmasq's log. */
export interface DnsmasqEvent {
  kind: 'dhcp_discover' | 'dhcp_offer' | 'dhcp_request' | 'dhcp_ack' | 'tftp' | 'error';
  at: Date;
  mac: string | null;
  ip: string | null;
  /**
   * True when the packet came from firmware or iPXE (vendor class PXEClient, user class iPXE, a PXE
   * proxy exchange, or TFTP): it belongs to the boot that is about to happen. False for an
   * operating system's own DHCP.
   */
  firmware: boolean;
  detail: Record<string, unknown>;
}

const LINE_RE = /^dnsmasq(?:-(dhcp|tftp))?\[\d+\]: (.*)$/;
const XID_RE = /^(\d+) (.*)$/;
const MAIN_RE =
  /^(DHCPDISCOVER|DHCPOFFER|DHCPREQUEST|DHCPACK|DHCPNAK|DHCPDECLINE|DHCPRELEASE|DHCPINFORM|PXE)\(([^)]*)\)\s+(.*)$/;
const IP_RE = /^\d{1,3}(\.\d{1,3}){3}$/;
const MAC_TOKEN_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

const KIND: Record<string, DnsmasqEvent['kind'] | null> = {
  DHCPDISCOVER: 'dhcp_discover',
  DHCPOFFER: 'dhcp_offer',
  DHCPREQUEST: 'dhcp_request',
  DHCPACK: 'dhcp_ack',
  DHCPNAK: 'error',
  DHCPDECLINE: 'error',
  DHCPINFORM: null,
  DHCPRELEASE: null,
};

interface Pending {
  xid: string;
  event: DnsmasqEvent;
}

/** Firmware architecture from the PXE vendor class (`PXEClient:Arch:00007:...`). */
export function archFromVendorClass(vc: string | undefined): string | null {
  const m = /^PXEClient:Arch:(\d{5})/.exec(vc ?? '');
  if (!m) return null;
  const n = Number(m[1]);
  return n === 0
    ? 'bios'
    : n === 7 || n === 9
      ? 'efi64'
      : n === 6
        ? 'efi32'
        : n === 11
          ? 'arm64-efi'
          : `arch-${n}`;
}

/**
 * Turns dnsmasq's log lines (with `log-dhcp`) into DHCP/TFTP events. dnsmasq is single-threaded, so
 * the lines of one packet are contiguous: class lines come before the packet line, tags and boot file
 * after it. A packet's event is completed when the next packet or another transaction starts, or on
 * flush(). TFTP lines only name an IP; the MAC comes from the DHCP answers seen before.
 */
export class DnsmasqLogParser {
  /**
   * @param resolveMac MAC of an IP not seen in a DHCP answer (proxyDHCP: the site's server gave the
   *   address), e.g. from the neighbour table of the boot interface.
   */
  constructor(private readonly resolveMac: (ip: string) => string | null = () => null) {}

  private pending: Pending | null = null;
  private classes = new Map<string, { vendorClass?: string; userClass?: string; at: number }>();
  private ipToMac = new Map<string, { mac: string; at: number }>();

  /** Feeds one line; returns the events it completed. */
  feed(line: string, at: Date): DnsmasqEvent[] {
    const out: DnsmasqEvent[] = [];
    const m = LINE_RE.exec(line.trimEnd());
    if (!m) return out;
    const [, facility, rest] = m as unknown as [string, string | undefined, string];
    if (facility === 'tftp') {
      this.finish(out);
      const ev = this.tftp(rest, at);
      if (ev) out.push(ev);
      return out;
    }
    if (facility !== 'dhcp') return out;
    const x = XID_RE.exec(rest);
    const xid = x ? x[1]! : '';
    const body = x ? x[2]! : rest;
    if (this.pending && this.pending.xid !== xid) this.finish(out);

    const main = MAIN_RE.exec(body);
    if (main) {
      this.finish(out);
      const ev = this.packet(main[1]!, main[2]!, main[3]!, xid, at);
      if (ev) this.pending = { xid, event: ev };
      return out;
    }
    const cls = /^(vendor|user) class: (.*)$/.exec(body);
    if (cls && xid) {
      const c = this.classes.get(xid) ?? { at: at.getTime() };
      if (cls[1] === 'vendor') c.vendorClass = cls[2]!.trim();
      else c.userClass = cls[2]!.trim();
      this.classes.set(xid, c);
      if (this.pending?.xid === xid) this.applyClasses(this.pending.event, c);
      return out;
    }
    if (this.pending && this.pending.xid === xid) {
      const d = this.pending.event.detail;
      const tags = /^tags: (.*)$/.exec(body);
      if (tags) {
        d.tags = tags[1]!
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean);
        if ((d.tags as string[]).includes('ipxe')) {
          d.ipxe = true;
          this.pending.event.firmware = true;
        }
      }
      // the boot file goes in the BOOTP file field, or in option 67 when the client asked for it
      const bf =
        /^bootfile name: (.*)$/.exec(body) ??
        /^sent size:\s*\d+ option:\s*67 bootfile-name\s+(.*)$/.exec(body);
      if (bf) d.bootfile = bf[1]!.trim();
      const ns = /^next server: (.*)$/.exec(body);
      if (ns) d.nextServer = ns[1]!.trim();
    }
    return out;
  }

  /** Completes the packet still waiting for its trailing lines. */
  flush(): DnsmasqEvent[] {
    const out: DnsmasqEvent[] = [];
    this.finish(out);
    return out;
  }

  private finish(out: DnsmasqEvent[]) {
    if (this.pending) out.push(this.pending.event);
    this.pending = null;
  }

  private applyClasses(ev: DnsmasqEvent, c: { vendorClass?: string; userClass?: string }) {
    if (c.vendorClass) {
      ev.detail.vendorClass = c.vendorClass;
      const arch = archFromVendorClass(c.vendorClass);
      if (arch) {
        ev.detail.arch = arch;
        ev.firmware = true;
      }
    }
    if (c.userClass) {
      ev.detail.userClass = c.userClass;
      if (c.userClass === 'iPXE') {
        ev.detail.ipxe = true;
        ev.firmware = true;
      }
    }
  }

  private packet(type: string, iface: string, args: string, xid: string, at: Date): DnsmasqEvent | null {
    const tokens = args.trim().split(/\s+/).filter(Boolean);
    const ip = tokens.find((t) => IP_RE.test(t)) ?? null;
    const macToken = tokens.find((t) => MAC_TOKEN_RE.test(t));
    const mac = macToken ? normalizeMac(macToken) : null;
    const detail: Record<string, unknown> = { iface };
    if (xid) detail.xid = xid;
    let kind: DnsmasqEvent['kind'] | null;
    let firmware = false;
    if (type === 'PXE') {
      // proxyDHCP: "PXE(br0) <mac> proxy" answers the DISCOVER; "PXE(br0) <ip> <mac> <file>" the boot-server request
      kind = ip ? 'dhcp_ack' : 'dhcp_offer';
      detail.proxy = true;
      firmware = true;
      const file = tokens.filter((t) => t !== ip && t !== macToken && t !== 'proxy').join(' ');
      if (file) detail.bootfile = file;
    } else {
      kind = KIND[type] ?? null;
      const extra = tokens.filter((t) => t !== ip && t !== macToken).join(' ');
      if (type === 'DHCPACK' && extra) detail.hostname = extra;
      else if (extra) detail.message = extra;
      if (kind === 'error') detail.dhcp = type;
    }
    if (!kind) return null;
    if (mac && ip && (type === 'DHCPOFFER' || type === 'DHCPACK' || type === 'PXE')) {
      this.ipToMac.set(ip, { mac, at: at.getTime() });
    }
    const ev: DnsmasqEvent = { kind, at, mac, ip, firmware, detail };
    const c = xid ? this.classes.get(xid) : undefined;
    if (c) this.applyClasses(ev, c);
    this.prune(at.getTime());
    return ev;
  }

  private tftp(rest: string, at: Date): DnsmasqEvent | null {
    let m = /^sent (\S+) to (\S+)$/.exec(rest);
    let ok = true;
    let file: string | undefined;
    let ip: string | undefined;
    let error: string | undefined;
    if (m) {
      file = m[1];
      ip = m[2];
    } else if ((m = /^file (\S+) not found(?: for (\S+))?$/.exec(rest))) {
      ok = false;
      file = m[1];
      ip = m[2];
      error = 'not found';
    } else if ((m = /^failed sending (\S+) to (\S+)$/.exec(rest))) {
      ok = false;
      file = m[1];
      ip = m[2];
      error = 'failed sending';
    } else if ((m = /^error (\d+) (.*) received from (\S+)$/.exec(rest))) {
      // EDK2 asks for the size, then aborts (error 8) and downloads again: not a failure of the boot
      ok = false;
      ip = m[3];
      error = `client error ${m[1]}: ${m[2]}`;
    } else return null;
    if (!ip || !IP_RE.test(ip)) return null;
    const known =
      this.ipToMac.get(ip) ??
      (() => {
        const mac = this.resolveMac(ip);
        return mac ? { mac } : undefined;
      })();
    const base = file ? file.split('/').pop()! : undefined;
    return {
      kind: 'tftp',
      at,
      mac: known?.mac ?? null,
      ip,
      firmware: true,
      detail: { ok, ...(base ? { file: base } : {}), ...(error ? { error } : {}) },
    };
  }

  private prune(now: number) {
    if (this.classes.size > 1000) {
      for (const [k, v] of this.classes) if (now - v.at > 60_000) this.classes.delete(k);
    }
    if (this.ipToMac.size > 5000) {
      for (const [k, v] of this.ipToMac) if (now - v.at > 3600_000) this.ipToMac.delete(k);
    }
  }
}
