import type { AgentCommand, Image, Machine, Session } from '@ggnet/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_HOSTNAME, buildBootDisk, MARK } from './lib/bootdisk.js';
import { bootTestsUnavailable } from './lib/netns.js';
import { waitFor } from '@ggnet/testkit';
import { World } from './lib/world.js';

const skip = bootTestsUnavailable();

// Issue 14 point 4: the Linux guest PXE -> iPXE -> iSCSI boots the uploaded image and runs GGnet's
// shipped agent (apps/server/assets/agent/ggnet-agent.sh, with busybox wget: the guest has no curl).
// It claims its session's token, reports its hostname, shows a message on its serial console and
// powers the VM off on a shutdown sent through the API; the session then ends with reason shutdown.
(skip ? describe.skip : describe)(
  `client agent: a booted VM runs the shipped agent${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let w: World;
    let image: Image;

    beforeAll(async () => {
      w = new World({
        name: 'agent',
        env: {
          GGNET_DHCP_MODE: 'dhcp',
          GGNET_DHCP_RANGE: '10.99.0.100,10.99.0.199',
          GGNET_AUTO_REGISTER: 'off',
          GGNET_STORAGE_RESERVE: String(256 * 1024 * 1024),
        },
      });
      const disk = await buildBootDisk((l) => w.log(l));
      await w.start();
      ({ image } = await w.uploadImage('e2e-linux', disk.vhdx));
    });
    afterAll(async () => w?.close());

    it('claims, reports its hostname, shows a message, and obeys a shutdown from the API', async () => {
      const mac = '52:54:00:a9:00:01';
      const m = await w.api.post<Machine>('/api/v1/machines', {
        name: 'agent-1',
        mac,
        bootImageId: image.id,
      });
      // no agent yet: a command says so
      const early = await fetch(`${w.api.baseUrl}/api/v1/machines/${m.id}/agent/commands`, {
        method: 'POST',
        headers: { authorization: `Bearer ${w.api.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'shutdown' }),
      });
      expect(early.status).toBe(409);
      expect(await early.json()).toMatchObject({ code: 'agent_offline' });

      // the guest holds its disk for 10 minutes unless the agent powers it off first
      const vm = w.vm('agent-1', 'bios', mac, { hold: 600, agent: true });
      const t0 = Date.now();
      vm.start();
      await vm.waitFor(
        new RegExp(MARK.agent),
        300_000,
        new RegExp(`${MARK.iscsiFailed}|No bootable device|Kernel panic`),
      );
      const online = await waitFor(
        'the agent to report its hostname',
        async () => {
          const x = await w.api.get<Machine>(`/api/v1/machines/${m.id}`);
          return x.agent?.state === 'online' && x.agent.facts?.hostname ? x : null;
        },
        120_000,
        500,
      );
      w.record('power-on to agent report ms', Date.now() - t0);
      expect(online.agent!.facts).toMatchObject({ hostname: AGENT_HOSTNAME, agentVersion: '1' });
      expect(online.agent!.facts!.osVersion).toMatch(/^Linux 6\./);
      expect(online.agent!.facts!.memTotalBytes).toBeGreaterThan(100 * 1024 * 1024);
      expect(online.agent!.sessionId).toBe(online.sessionId);
      expect(vm.serial()).toMatch(/ggnet-agent: claimed the token of session [0-9a-f-]{36}/);
      // OS up in the timeline comes from the agent (this guest does not call POST /boot/ready)
      const timeline = await w.timeline(online.sessionId!);
      const ups = timeline.filter((e) => e.kind === 'os_up');
      expect(ups).toHaveLength(1);
      expect(ups[0]!.detail).toMatchObject({ source: 'agent', hostname: AGENT_HOSTNAME });

      // a message: shown on the guest's console (its serial port)
      const text = `GGnet e2e: closing in 5 minutes (${Date.now()})`;
      const msg = await w.api.post<AgentCommand>(`/api/v1/machines/${m.id}/agent/commands`, {
        type: 'message',
        text,
      });
      expect(msg.state).toBe('queued');
      const t1 = Date.now();
      await vm.waitFor(new RegExp(`\\*\\*\\* Message from GGnet: ${text.replace(/[()]/g, '\\$&')}`), 60_000);
      w.record('message to console ms', Date.now() - t1);
      await waitFor(
        'the message to be acknowledged',
        async () =>
          (await w.api.get<{ items: AgentCommand[] }>(`/api/v1/machines/${m.id}/agent/commands`)).items.find(
            (c) => c.id === msg.id && c.state === 'done',
          ),
        30_000,
        500,
      );

      // shutdown: the VM powers off (QEMU exits) long before its hold ends
      const sd = await w.api.post<AgentCommand>(`/api/v1/machines/${m.id}/agent/commands`, {
        type: 'shutdown',
      });
      const t2 = Date.now();
      await vm.waitExit(120_000);
      w.record('shutdown command to power-off ms', Date.now() - t2);
      const serial = vm.serial();
      expect(serial).toContain('ggnet-agent: shutdown: poweroff -f');
      expect(serial).not.toContain(MARK.end);
      const ended = await waitFor(
        'the session to end with reason shutdown',
        async () => {
          const s = await w.session(online.sessionId!);
          return s.state === 'ended' ? s : null;
        },
        180_000,
        1000,
      );
      w.record('power-off to session end ms', Date.now() - t2);
      expect(ended).toMatchObject<Partial<Session>>({ endReason: 'shutdown' });
      const cmds = await w.api.get<{ items: AgentCommand[] }>(`/api/v1/machines/${m.id}/agent/commands`);
      expect(cmds.items.find((c) => c.id === sd.id)).toMatchObject({ state: 'done', result: 'powering off' });
      const after = await w.api.get<Machine>(`/api/v1/machines/${m.id}`);
      expect(after.agent?.state).toBe('offline');
    });
  },
);
