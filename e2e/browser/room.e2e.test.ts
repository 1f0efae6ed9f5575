import { createSocket, type Socket } from 'node:dgram';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Group, Image, ImageVersion, Machine, Page as ListPage, Session } from '@ggnet/contracts';
import { chromiumAvailable, launchChromium, screenshot, uiLogin } from './helpers/browser';
import { ADMIN_PASSWORD, apiCall, apiToken, startGgnet, type GgnetServer } from './helpers/ggnet-server';

const d = chromiumAvailable() ? describe : describe.skip;

/** The magic packet of a MAC: 6 x 0xff, then the MAC 16 times. */
const magic = (mac: string) => 'ff'.repeat(6) + mac.replace(/:/g, '').repeat(16);

/**
 * Running the room in the console (issue 14), in Debian's Chromium against the real server (real
 * tgtd on loopback, SQLite): groups made in the form, a version released to a ring and promoted,
 * Wake-on-LAN of a group from its row (the magic packets caught by a UDP listener on loopback, the
 * only network this test talks to), and the alerts panel showing an alert raised by the server.
 */
d('running the room in Chromium', () => {
  let server: GgnetServer;
  let browser: Browser;
  let token: string;
  let wolPort: number;
  let listener: Socket;
  const packets: Buffer[] = [];
  const contexts: BrowserContext[] = [];

  const api = <T>(method: string, path: string, body?: unknown) =>
    apiCall<T>(server.url, token, method, path, body);
  const newPage = async (): Promise<Page> => {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await uiLogin(page, server.url, 'admin', ADMIN_PASSWORD);
    return page;
  };

  beforeAll(async () => {
    // magic packets go to 127.0.0.1 on a port of our own (settings power.wolBroadcast / wolPort)
    listener = createSocket('udp4');
    listener.on('message', (b) => packets.push(b));
    await new Promise<void>((r) => listener.bind(0, '127.0.0.1', () => r()));
    wolPort = listener.address().port;
    server = await startGgnet();
    browser = await launchChromium();
    token = await apiToken(server.url, 'admin', ADMIN_PASSWORD);
    await api('PUT', '/settings', {
      power: { wolBroadcast: '127.0.0.1', wolPort, packetsPerSecond: 50 },
    });
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await server?.stop();
    listener?.close();
  });

  /** A blank image (v1, published) and a v2 made by a maintenance session applied without publishing. */
  async function imageWithTwoVersions(): Promise<{ img: Image; v1: ImageVersion; v2: ImageVersion }> {
    const img = await api<Image>('POST', '/images', { name: 'win-room', sizeBytes: 64 * 1024 * 1024 });
    const maint = await api<Machine>('POST', '/machines', {
      name: 'pc-maint',
      mac: '52:54:00:14:00:99',
      bootImageId: img.id,
      bootMode: 'maintenance',
    });
    const script = await (await fetch(`${server.url}/boot/ipxe?mac=${maint.mac}`)).text();
    expect(script).toContain('sanboot');
    const sessions = await api<ListPage<Session>>('GET', `/sessions?machineId=${maint.id}`);
    const s = sessions.items[0]!;
    await api('POST', `/sessions/${s.id}/apply`, { comment: 'room update', force: true });
    await expect
      .poll(
        async () =>
          (await api<ListPage<ImageVersion>>('GET', `/images/${img.id}/versions`)).items.filter(
            (v) => v.state === 'ready',
          ).length,
        { timeout: 60_000 },
      )
      .toBe(2);
    await api('POST', `/sessions/${s.id}/stop`).catch(() => undefined);
    await api('DELETE', `/machines/${maint.id}`).catch(() => undefined);
    const versions = (await api<ListPage<ImageVersion>>('GET', `/images/${img.id}/versions`)).items;
    const v1 = versions.find((v) => v.number === 1)!;
    const v2 = versions.find((v) => v.number === 2)!;
    expect(v1.published).toBe(true);
    expect(v2.published).toBe(false);
    return { img, v1, v2 };
  }

  it('groups: made in the form, machines inherit, v2 released to a ring then promoted, a group woken', async () => {
    const { img, v1, v2 } = await imageWithTwoVersions();
    const page = await newPage();
    await page.goto(`${server.url}/groups`);
    await page.locator('[data-live="live"]').waitFor();

    // two rooms, made in the form; the VIP room boots win-room in normal mode
    for (const name of ['vip-room', 'main-hall']) {
      await page.getByRole('button', { name: 'New group' }).click();
      const form = page.getByTestId('group-form');
      await form.getByRole('textbox', { name: /^Name/ }).fill(name);
      await form.getByRole('button', { name: 'Create group' }).click();
      await form.waitFor({ state: 'detached' });
      await page.getByTestId('groups-table').locator(`tr[data-group="${name}"]`).waitFor();
    }
    const groups = (await api<ListPage<Group>>('GET', '/groups')).items;
    const vip = groups.find((g) => g.name === 'vip-room')!;
    const hall = groups.find((g) => g.name === 'main-hall')!;
    await api('PATCH', `/groups/${vip.id}`, { bootImageId: img.id });
    await api('PATCH', `/groups/${hall.id}`, { bootImageId: img.id });

    // PCs in each room; a machine sets nothing of its own, so it boots what its group says
    const vipPcs = ['52:54:00:14:00:01', '52:54:00:14:00:02'];
    const hallPcs = ['52:54:00:14:00:11'];
    const made: Machine[] = [];
    for (const [i, mac] of vipPcs.entries())
      made.push(await api<Machine>('POST', '/machines', { name: `vip-${i + 1}`, mac, groupId: vip.id }));
    for (const [i, mac] of hallPcs.entries())
      made.push(await api<Machine>('POST', '/machines', { name: `hall-${i + 1}`, mac, groupId: hall.id }));
    const [vip1, , hall1] = made as [Machine, Machine, Machine];
    expect(vip1.bootImageId).toBeNull();
    expect(vip1.effective.bootImageId).toMatchObject({ value: img.id, source: 'group' });
    await expect
      .poll(() => page.getByTestId('groups-table').locator('tr[data-group="vip-room"]').textContent())
      .toContain('win-room');

    // release v2 to the VIP room (the ring) in the releases panel
    const panel = page.getByTestId('releases-panel');
    await panel.getByLabel('Release version').click();
    await page.getByRole('option', { name: 'v2' }).click();
    await panel.locator('.mantine-MultiSelect-input').click();
    await page.getByRole('option', { name: 'vip-room' }).click();
    await page.keyboard.press('Escape');
    await panel.getByRole('button', { name: 'Release to ring' }).click();
    const vipRow = panel.locator('tr[data-group="vip-room"]');
    await expect.poll(() => vipRow.getAttribute('data-source')).toBe('ring');
    expect(await vipRow.textContent()).toContain('v2');
    expect(await panel.locator('tr[data-group="main-hall"]').getAttribute('data-source')).toBe('published');
    await screenshot(page, 'groups-ring-release');
    // the ring machine's boot script points at v2's target, the hall's at v1's
    const bootOf = async (m: Machine) => {
      const script = await (await fetch(`${server.url}/boot/ipxe?mac=${m.mac}`)).text();
      expect(script).toContain('sanboot');
      return (await api<ListPage<Session>>('GET', `/sessions?machineId=${m.id}&live=true`)).items[0]!;
    };
    expect((await bootOf(vip1)).versionId).toBe(v2.id);
    expect((await bootOf(hall1)).versionId).toBe(v1.id);

    // promote: v2 is published to everyone, the ring is over
    await panel.getByRole('button', { name: 'Promote to everyone' }).click();
    await expect.poll(() => vipRow.getAttribute('data-source')).toBe('published');
    const after = (await api<ListPage<ImageVersion>>('GET', `/images/${img.id}/versions`)).items;
    expect(after.find((v) => v.id === v2.id)!.published).toBe(true);
    await screenshot(page, 'groups-promoted');

    // wake the VIP room from its row: one magic packet per member, nothing for the hall
    packets.length = 0;
    await page.getByRole('button', { name: 'Wake vip-room' }).click();
    await expect.poll(() => packets.length, { timeout: 10_000 }).toBe(vipPcs.length);
    expect(packets.map((p) => p.toString('hex')).sort()).toEqual(vipPcs.map(magic).sort());
    await expect
      .poll(async () =>
        (
          await api<ListPage<{ action: string; targetId: string }>>('GET', '/audit?action=group.wake')
        ).items.map((a) => a.targetId),
      )
      .toEqual([vip.id]);
  });

  it('power: a group schedule is made in the form and listed with its group', async () => {
    const page = await newPage();
    await page.goto(`${server.url}/power`);
    await page.getByRole('button', { name: 'New schedule' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('textbox', { name: /^Name/ }).fill('VIP opening');
    await dialog.getByText('A group').click();
    await dialog.getByRole('textbox', { name: 'Group' }).click();
    await page.getByRole('option', { name: 'vip-room' }).click();
    await dialog.getByRole('button', { name: 'Create' }).click();
    const row = page.locator('tr[data-schedule="VIP opening"]');
    await row.waitFor();
    await expect.poll(() => row.textContent()).toContain('group vip-room');
    await screenshot(page, 'power-group-schedule');
  });

  it('client agent: the drawer shows the online agent and its facts; Shut down (confirmed) reaches its command poll', async () => {
    // one live session per address: end the room's boots (all from 127.0.0.1) first
    for (const s of (await api<ListPage<Session>>('GET', '/sessions?live=true&limit=100')).items)
      await api('POST', `/sessions/${s.id}/stop`, {});
    const img = await api<Image>('POST', '/images', { name: 'agent-img', sizeBytes: 64 * 1024 * 1024 });
    const m = await api<Machine>('POST', '/machines', {
      name: 'pc-agent',
      mac: '52:54:00:14:00:42',
      bootImageId: img.id,
    });
    expect(await (await fetch(`${server.url}/boot/ipxe?mac=${m.mac}`)).text()).toContain('sanboot');
    // this test plays the PC's agent over the documented protocol (the shipped one runs in e2e/agent)
    const claim = await fetch(`${server.url}/boot/agent/claim`, { method: 'POST' });
    expect(claim.status).toBe(200);
    const { token } = (await claim.json()) as { token: string };
    const agent = (path: string, init: RequestInit = {}) =>
      fetch(`${server.url}/boot/agent${path}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      });
    expect(
      (
        await agent('/report', {
          method: 'POST',
          body: JSON.stringify({ hostname: 'pc-agent-os', users: ['alice'] }),
        })
      ).status,
    ).toBe(200);

    const page = await newPage();
    await page.goto(`${server.url}/machines`);
    await page.getByRole('button', { name: 'Details of pc-agent' }).click();
    const panel = page.getByTestId('agent-panel');
    await expect.poll(() => panel.getByTestId('agent-state').textContent()).toMatch(/online/i);
    expect(await panel.getByTestId('agent-facts').textContent()).toContain('pc-agent-os');
    await panel.getByRole('button', { name: 'Shut down' }).click();
    await panel.getByRole('button', { name: 'Yes, shut down' }).click();
    await expect.poll(() => panel.getByTestId('agent-commands').textContent()).toContain('shutdown');
    await panel.getByRole('button', { name: 'Shut down' }).waitFor();
    await screenshot(page, 'machine-agent-shutdown');
    const poll = await agent('/commands?wait=5');
    expect(poll.status).toBe(200);
    const { commands } = (await poll.json()) as { commands: Array<{ id: string; type: string }> };
    expect(commands.map((c) => c.type)).toEqual(['shutdown']);
    expect(
      (await agent(`/commands/${commands[0]!.id}/ack`, { method: 'POST', body: '{"status":"done"}' })).status,
    ).toBe(200);
  });

  it('alerts: an alert the server raises shows up in the panel live and is acknowledged', async () => {
    const page = await newPage();
    await page.goto(`${server.url}/alerts`);
    await page.locator('[data-live="live"]').waitFor();
    await page.getByTestId('alerts-panel').waitFor();
    // any filesystem is more than 1 % used: the next space sample raises array.usage
    await api('PUT', '/settings', { alerts: { arrayUsedPercent: 1, intervalSec: 5 } });
    const row = page.getByTestId('alerts-table').locator('tr[data-alert]').first();
    await row.waitFor({ timeout: 30_000 });
    expect(await row.textContent()).toMatch(/critical|warning/);
    await screenshot(page, 'alerts-panel');
    await row.getByRole('button', { name: 'Acknowledge' }).click();
    await expect.poll(() => row.getByTestId('acknowledged').textContent()).toContain('admin');
  });
});
