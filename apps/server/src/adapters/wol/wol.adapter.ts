import { createSocket, type Socket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { normalizeMac } from '@ggnet/contracts';

/**
 * Wake-on-LAN: the magic packet (6 x 0xFF, then the MAC 16 times; 102 bytes) as a UDP datagram to
 * the boot network's broadcast address, sent from the boot interface's own address so that it
 * leaves through that interface.
 *
 * Node has no SO_BINDTODEVICE, so the socket is bound to the interface's IPv4 address: Linux sends
 * a directed broadcast (10.0.0.255) out of the interface of that subnet, and a limited broadcast
 * (255.255.255.255) out of the interface that owns the bound source address. The raw Ethernet form
 * (ethertype 0x0842) needs an AF_PACKET socket, which Node cannot open without a native addon: it
 * is not sent (the UDP form is what every NIC that does WoL accepts: the NIC looks for the pattern
 * anywhere in the frame).
 */
export const MAGIC_PACKET_BYTES = 102;

/** The magic packet for a MAC (any form normalizeMac accepts); throws on an invalid MAC. */
export function magicPacket(mac: string): Buffer {
  const norm = normalizeMac(mac);
  if (!norm) throw new Error(`not a unicast MAC address: ${JSON.stringify(mac)}`);
  const macBytes = Buffer.from(norm.replace(/:/g, ''), 'hex');
  const out = Buffer.alloc(MAGIC_PACKET_BYTES, 0xff);
  for (let i = 0; i < 16; i++) macBytes.copy(out, 6 + i * 6);
  return out;
}

export interface InterfaceAddress {
  address: string;
  netmask: string;
}

/** Where the packets go and from which local address. */
export interface WakeDestination {
  broadcast: string;
  port: number;
  /** Local IPv4 address to send from (the boot interface's), or null for the kernel's choice. */
  sourceAddress: string | null;
}

/** An open sender: one socket for a batch of packets. */
export interface WakeSender {
  send(mac: string): Promise<void>;
  close(): Promise<void>;
}

export interface WakeOnLan {
  /** The first IPv4 address (and netmask) of a network interface, or null when it has none. */
  interfaceAddress(iface: string): InterfaceAddress | null;
  open(dest: WakeDestination): Promise<WakeSender>;
}

const ipToInt = (ip: string) => ip.split('.').reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
const intToIp = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

/** The directed broadcast address of a subnet: 10.0.0.17 / 255.255.255.0 -> 10.0.0.255. */
export function broadcastOf(address: string, netmask: string): string {
  return intToIp((ipToInt(address) | (~ipToInt(netmask) >>> 0)) >>> 0);
}

/** The real sender: UDP over node:dgram with SO_BROADCAST, bound to the boot interface's address. */
export class UdpWakeOnLan implements WakeOnLan {
  interfaceAddress(iface: string): InterfaceAddress | null {
    const v4 = (networkInterfaces()[iface] ?? []).find((a) => a.family === 'IPv4');
    return v4 ? { address: v4.address, netmask: v4.netmask } : null;
  }

  async open(dest: WakeDestination): Promise<WakeSender> {
    const socket: Socket = createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      // port 0: any source port; the address pins the interface
      socket.bind({ address: dest.sourceAddress ?? undefined, port: 0 }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.setBroadcast(true);
    // a stray ICMP error later must not crash the process
    socket.on('error', () => undefined);
    return {
      send: (mac) =>
        new Promise<void>((resolve, reject) => {
          const pkt = magicPacket(mac);
          socket.send(pkt, 0, pkt.length, dest.port, dest.broadcast, (err) =>
            err ? reject(err) : resolve(),
          );
        }),
      close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
    };
  }
}
