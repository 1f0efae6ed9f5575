import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Procs, waitFor } from '@ggnet/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';
import { HostPeer, netnsUnavailable } from '../helpers/netns.js';

const skip = netnsUnavailable();

/**
 * A UDP listener on port 9 inside the test's namespace: one JSON line per datagram (its bytes in hex,
 * the sender's address, a monotonic time in ms), so the test sees exactly what reached the wire.
 */
const LISTENER = `
const dgram = require('node:dgram');
const s = dgram.createSocket({ type: 'udp4' });
s.on('message', (m, r) => {
  process.stdout.write(JSON.stringify({ hex: m.toString('hex'), from: r.address, t: Number(process.hrtime.bigint() / 1000n) / 1000 }) + '\\n');
});
s.bind(9, '0.0.0.0', () => process.stdout.write('READY\\n'));
`;

const magic = (mac: string) => 'ff'.repeat(6) + mac.replace(/:/g, '').repeat(16);

(skip ? describe.skip : describe)(
  `Wake-on-LAN on the wire (a listener in a network namespace)${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    describeEachDialect('magic packets', (dialect) => {
      let t: TestContext;
      let peer: HostPeer;
      let procs: Procs;
      let dir: string;

      beforeEach(async () => {
        dir = mkdtempSync(join(tmpdir(), 'ggnet-wol-'));
        procs = new Procs();
        peer = new HostPeer();
        peer.up();
        // the real sender (UdpWakeOnLan): the boot interface is this host's end of the pair
        t = await createTestContext(dialect);
        await t.container.settings.update(
          { dhcp: { iface: peer.hostIface }, power: { packetsPerSecond: 10 } },
          null,
        );
      });
      afterEach(async () => {
        await procs.stopAll();
        await t.close();
        peer.down();
        rmSync(dir, { recursive: true, force: true });
      });

      it('sends the exact magic packet of each selected MAC to the boot network broadcast, paced', async () => {
        const log = join(dir, 'listener.log');
        procs.start('listener', 'ip', peer.exec(process.execPath, ['-e', LISTENER]), { logFile: log });
        await waitFor('the listener', () => readFileSync(log, 'utf8').includes('READY'), 15_000);

        const machines = [];
        for (let i = 1; i <= 6; i++) {
          machines.push(
            await t.container.machines.create({
              name: `wol-${i}`,
              mac: `52:54:00:77:00:${String(i).padStart(2, '0')}`,
            }),
          );
        }
        const left = machines[5]!;
        const selection = machines.slice(0, 5);
        const res = await t.app.inject({
          method: 'POST',
          url: '/api/v1/machines/wake',
          headers: await t.auth('operator'),
          payload: { machineIds: selection.map((m) => m.id) },
        });
        expect(res.statusCode).toBe(202);
        const [a, b, c] = peer.hostAddr.split('.').map(Number) as [number, number, number];
        const d = Number(peer.hostAddr.split('.')[3]);
        expect(res.json()).toMatchObject({
          queued: 5,
          broadcast: `${a}.${b}.${c}.${(d & ~3) + 3}`,
          port: 9,
          sourceAddress: peer.hostAddr,
        });
        await t.container.wake.queue.drain();
        const received = await waitFor(
          'five magic packets',
          () => {
            const lines = readFileSync(log, 'utf8')
              .split('\n')
              .filter((l) => l.startsWith('{'))
              .map((l) => JSON.parse(l) as { hex: string; from: string; t: number });
            return lines.length >= 5 ? lines : null;
          },
          15_000,
        );
        // exactly the selection, in order, from the boot interface's address; nothing for the 6th machine
        expect(received.map((r) => r.hex)).toEqual(selection.map((m) => magic(m.mac)));
        expect(received.every((r) => r.from === peer.hostAddr)).toBe(true);
        expect(received.some((r) => r.hex === magic(left.mac))).toBe(false);
        // paced at 10 packets per second: never closer than the interval (a lower bound; a busy machine
        // only makes the gaps longer)
        const gaps = received.slice(1).map((r, i) => r.t - received[i]!.t);
        for (const g of gaps) expect(g).toBeGreaterThanOrEqual(90);
        // each packet is in the machine's timeline
        const ev = await t.app.inject({
          method: 'GET',
          url: `/api/v1/boot/events?machineId=${selection[0]!.id}&kind=wake_sent`,
          headers: await t.auth('viewer'),
        });
        expect(ev.json().items).toHaveLength(1);
      });
    });
  },
);
