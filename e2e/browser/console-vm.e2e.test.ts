import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsoleVm, Image, ImageVersion, Session } from '@ggnet/contracts';
import { alive, killPid, waitFor } from '@ggnet/testkit';
import { readGuestFile, type BootDisk } from '../lib/bootdisk.js';
import { buildConsoleDisk, CONSOLE_FILE, CONSOLE_MARK, CONSOLE_WORD } from '../lib/console-disk.js';
import { chromiumAvailable, launchChromium, screenshot, uiLogin } from './helpers/browser';
import { ADMIN_PASSWORD, apiCall, apiToken, startGgnet, type GgnetServer } from './helpers/ggnet-server';

/**
 * The console VM (issue 15 point 3) end to end: the real `ggnet serve` with its own tgtd, the real
 * QEMU (TCG: /dev/kvm cannot run guest firmware here) on the image's maintenance disk over iSCSI,
 * noVNC in Debian's Chromium on the authenticated VNC WebSocket. The guest (the e2e tiny Linux with
 * a console /init) shows its boot text on the VGA screen, waits for a typed word, writes a file and
 * powers off; the session is applied as a new version and the file is read back from it.
 */
const d = chromiumAvailable() && existsSync('/usr/bin/qemu-system-x86_64') ? describe : describe.skip;

/** The guest's VGA text screen (80x25 at 0xb8000), read with QMP pmemsave. */
async function screenText(qmpPath: string, out: string): Promise<string> {
  const sock = connect(qmpPath);
  let buf = '';
  const lines: string[] = [];
  sock.on('data', (b) => {
    buf += b.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  const answer = async (n: number) => {
    for (let t = 0; t < 100 && lines.filter((l) => !l.includes('"event"')).length < n; t++) await sleep(20);
  };
  try {
    await answer(1);
    sock.write('{"execute":"qmp_capabilities"}\n');
    await answer(2);
    sock.write(
      JSON.stringify({ execute: 'pmemsave', arguments: { val: 0xb8000, size: 4000, filename: out } }) + '\n',
    );
    await answer(3);
  } finally {
    sock.destroy();
  }
  if (!existsSync(out)) return '';
  const b = readFileSync(out);
  rmSync(out, { force: true });
  let text = '';
  for (let i = 0; i < b.length; i += 2) text += String.fromCharCode(b[i]!);
  return text
    .match(/.{1,80}/g)!
    .map((l) => l.trimEnd())
    .join('\n');
}

d('console VM in Chromium', () => {
  let server: GgnetServer;
  let browser: Browser;
  let admin: string;
  let disk: BootDisk;
  let image: Image;
  let vmPid: number | null = null;

  beforeAll(async () => {
    disk = await buildConsoleDisk((l) => console.log(l));
    const port = 20000 + Math.floor(Math.random() * 20000);
    server = await startGgnet({ GGNET_PORT: String(port), GGNET_LOGIN_LIMIT_PER_IP: '200' });
    browser = await launchChromium();
    admin = await apiToken(server.url, 'admin', ADMIN_PASSWORD);
    for (const [username, role] of [
      ['olga', 'operator'],
      ['vic', 'viewer'],
    ])
      await apiCall(server.url, admin, 'POST', '/users', {
        username,
        password: `${username}-pass-123`,
        role,
      });
    await apiCall(server.url, admin, 'PUT', '/settings', {
      console: { accel: 'tcg', memoryMiB: 256, cpus: 1 },
      storage: { reserveBytes: 0 },
    });
    image = await apiCall<Image>(server.url, admin, 'POST', '/images', {
      name: 'console-guest',
      osType: 'linux',
    });
    const res = await fetch(`${server.url}/api/v1/images/${image.id}/content?filename=disk.raw`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/octet-stream' },
      body: readFileSync(disk.raw),
    });
    expect(res.status, await res.text()).toBeLessThan(300);
    image = await waitFor(
      'the image to be ready',
      async () => {
        const i = await apiCall<Image>(server.url, admin, 'GET', `/images/${image.id}`);
        return i.state === 'ready' && i.publishedVersionId ? i : null;
      },
      120_000,
      500,
    );
  }, 300_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    if (vmPid && alive(vmPid)) await killPid(vmPid);
    await server?.stop();
  });

  const vm = () => apiCall<ConsoleVm>(server.url, admin, 'GET', `/images/${image.id}/console`);
  const qmp = () => join(server.dataDir, 'run', 'console', `${image.id}.qmp`);

  it('shows the guest in noVNC, takes typed keys, survives a GGnet restart; the work is applied as a version', async () => {
    const page: Page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await uiLogin(page, server.url, 'olga', 'olga-pass-123');
    // from the image's page: "Edit in a VM", then start it
    await page.goto(`${server.url}/images`);
    await page.locator('tr[data-image="console-guest"]').click();
    await page.getByRole('link', { name: 'Edit in a VM' }).click();
    await page.waitForURL(/\/images\/.*\/console$/);
    await page.getByRole('button', { name: 'Start VM' }).click();
    await expect
      .poll(() => page.getByTestId('vnc-status').textContent(), { timeout: 30_000 })
      .toBe('connected');
    const started = await vm();
    expect(started).toMatchObject({ state: 'running', accel: 'tcg', memoryMiB: 256, cpus: 1 });
    vmPid = started.pid;

    // the guest's boot text is on its screen, and the noVNC canvas shows that screen
    const scratch = join(server.dataDir, 'vga.bin');
    const text = await waitFor(
      'the guest to wait for the word',
      async () => {
        const t = await screenText(qmp(), scratch);
        return t.includes(CONSOLE_MARK.ready) ? t : null;
      },
      120_000,
      1000,
    );
    expect(text).toContain(CONSOLE_MARK.boot);
    const canvas = page.getByTestId('vnc-screen').locator('canvas');
    const shot = await canvas.screenshot();
    await screenshot(page, 'console-vm');
    expect(shot.length).toBeGreaterThan(1000);
    // the canvas's pixels: the guest's text in light grey on black, not an empty screen
    const lit = await canvas.evaluate((c: HTMLCanvasElement) => {
      const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i]! + px[i + 1]! + px[i + 2]! > 300) n++;
      return { n, w: c.width, h: c.height };
    });
    expect(lit.w).toBeGreaterThanOrEqual(640);
    expect(lit.n).toBeGreaterThan(500);
    // a second console VM of the same image is refused; a viewer cannot open the screen
    const second = await fetch(`${server.url}/api/v1/images/${image.id}/console`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(second.status).toBe(409);
    expect(second.headers.get('content-type')).toContain('application/problem+json');
    expect(((await second.json()) as { code: string }).code).toBe('console_running');
    const viewer = await apiToken(server.url, 'vic', 'vic-pass-123');
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/api/v1/images/${image.id}/console/vnc`);
    const got: string[] = [];
    ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token: viewer })));
    ws.on('message', (m: Buffer, binary: boolean) => got.push(binary ? 'BINARY' : m.toString()));
    const code = await new Promise<number>((r) => ws.on('close', (c) => r(c)));
    expect(code).toBe(4403);
    expect(got).toHaveLength(1);
    expect(got[0]).toContain('forbidden');

    // GGnet restarted while the VM runs: the VM keeps running, the console reconnects
    expect(await page.getByTestId('vnc-status').getAttribute('data-connects')).toBe('1');
    await server.restart();
    expect(alive(vmPid!)).toBe(true);
    expect(await vm()).toMatchObject({ state: 'running', pid: vmPid });
    await expect
      .poll(() => page.getByTestId('vnc-status').getAttribute('data-connects'), { timeout: 60_000 })
      .toBe('2');
    expect(await page.getByTestId('vnc-status').textContent()).toBe('connected');

    // keys typed in the browser reach the guest: it writes the file and powers off
    await canvas.click();
    await page.keyboard.type(CONSOLE_WORD, { delay: 80 });
    await page.keyboard.press('Enter');
    await waitFor('the guest to power off', async () => (await vm()).state === 'stopped', 90_000, 1000);
    expect(alive(vmPid!)).toBe(false);

    // the same apply as a PC's maintenance session: a new version with the file in it
    const sessionId = (await vm()).sessionId!;
    const session = await apiCall<Session>(server.url, admin, 'GET', `/sessions/${sessionId}`);
    expect(session).toMatchObject({ mode: 'maintenance', imageId: image.id });
    const version = await waitFor(
      'apply (the initiator logs out when QEMU exits)',
      () =>
        apiCall<ImageVersion>(server.url, admin, 'POST', `/sessions/${sessionId}/apply`, {
          comment: 'typed in the console VM',
        }).catch((e: Error) => (/session_connected/.test(e.message) ? null : Promise.reject(e))),
      30_000,
      1000,
    );
    const raw = join(server.dataDir, 'images', image.id, 'versions', `${version.id}.raw`);
    expect(await readGuestFile(raw, disk.p1, CONSOLE_FILE)).toBe(`typed=${CONSOLE_WORD}\n`);
  }, 600_000);
});
