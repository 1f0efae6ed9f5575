import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, launchChromium, screenshot, uiLogin } from './helpers/browser';
import { ADMIN_PASSWORD, apiCall, apiToken, startGgnet, type GgnetServer } from './helpers/ggnet-server';

// The admin console in Debian's Chromium against the real server (built API + UI, SQLite in a temp dir).
const d = chromiumAvailable() ? describe : describe.skip;

d('web console in Chromium', () => {
  let server: GgnetServer;
  let browser: Browser;
  let adminToken: string;
  const contexts: BrowserContext[] = [];
  /** Everything the Content-Security-Policy refused, on any page of any test (must stay empty). */
  const cspViolations: string[] = [];

  const newPage = async (opts: { width?: number; height?: number; dark?: boolean } = {}): Promise<Page> => {
    const ctx = await browser.newContext({
      viewport: { width: opts.width ?? 1280, height: opts.height ?? 800 },
      colorScheme: opts.dark ? 'dark' : 'light',
    });
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    // a refused script, style, image, fetch or WebSocket shows as a console error in Chromium...
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(`${page.url()}: ${m.text()}`);
    });
    // ...and as a securitypolicyviolation event in the page
    await page.exposeFunction('__cspViolation', (v: string) => cspViolations.push(`${page.url()}: ${v}`));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        const w = window as unknown as { __cspViolation: (v: string) => void };
        void w.__cspViolation(
          `${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}:${e.columnNumber}`,
        );
      });
    });
    return page;
  };

  beforeAll(async () => {
    server = await startGgnet({ GGNET_LOGIN_LIMIT_PER_IP: '200' });
    browser = await launchChromium();
    adminToken = await apiToken(server.url, 'admin', ADMIN_PASSWORD);
    await apiCall(server.url, adminToken, 'POST', '/users', {
      username: 'olga',
      password: 'operator-pass-1',
      role: 'operator',
    });
    await apiCall(server.url, adminToken, 'POST', '/users', {
      username: 'vic',
      password: 'viewer-pass-1',
      role: 'viewer',
    });
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await server?.stop();
  });

  it('login: wrong password, then the rate-limit message, then a good login', async () => {
    const page = await newPage();
    await page.goto(`${server.url}/machines`);
    // not logged in: sent to the login page, which remembers where to go afterwards
    await page.waitForURL(/\/login\?redirect=/);
    await screenshot(page, 'login');
    await page.getByLabel('Username').fill('olga');
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect
      .poll(() => page.getByTestId('login-error').textContent())
      .toContain('Wrong username or password');

    // failures per user name are limited (5 per minute by default): the 6th answer is 429 + Retry-After
    await page.getByLabel('Username').fill('ghost');
    for (let i = 0; i < 6; i++) {
      await page.getByLabel('Password').fill(`wrong-${i}`);
      await page.getByRole('button', { name: /Log in|Wait/ }).click();
      await page.waitForTimeout(150);
      if ((await page.getByTestId('login-error').textContent())?.includes('Too many')) break;
    }
    await expect
      .poll(() => page.getByTestId('login-error').textContent())
      .toContain('Too many login attempts');
    expect(await page.getByTestId('login-error').textContent()).toMatch(/Try again in \d+ s/);
    expect(await page.getByRole('button', { name: /Wait \d+ s/ }).isDisabled()).toBe(true);
    await screenshot(page, 'login-rate-limited');

    // another user is not affected; after login the page it came for opens
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(/\/machines/);
    await page.getByTestId('user-menu').waitFor();
    expect(await page.getByTestId('user-menu').textContent()).toContain('admin');
  });

  it('machines: create with validation errors, edit, delete', async () => {
    const page = await newPage();
    await uiLogin(page, server.url, 'olga', 'operator-pass-1');
    await page.goto(`${server.url}/machines`);
    await page.getByTestId('empty-state').waitFor();
    await page.getByRole('button', { name: 'Add machine' }).click();
    const form = page.getByTestId('machine-form');
    await form.getByLabel('Name').fill('PC 01!');
    await form.getByLabel('MAC address').fill('52:54:00:zz:00:01');
    await form.getByLabel('Fixed IP address').fill('10.0.0.300');
    await form.getByRole('button', { name: 'Add machine' }).click();
    await expect.poll(() => form.textContent()).toContain('use 1-63 letters, digits or hyphens');
    expect(await form.textContent()).toContain('not a unicast MAC address');
    expect(await form.textContent()).toContain('not an IPv4 address');
    await screenshot(page, 'machines-form-errors');

    await form.getByLabel('Name').fill('pc-01');
    await form.getByLabel('MAC address').fill('5254.00AA.BB01'); // Cisco form, normalised
    expect(await form.textContent()).toContain('will be saved as 52:54:00:aa:bb:01');
    await form.getByLabel('Fixed IP address').fill(''); // leaving the MAC field writes the normal form
    expect(await form.getByLabel('MAC address').inputValue()).toBe('52:54:00:aa:bb:01');
    await form.getByRole('button', { name: 'Add machine' }).click();
    await form.waitFor({ state: 'detached' });
    const row = page.locator('tr[data-machine="pc-01"]');
    await row.waitFor();
    expect(await row.textContent()).toContain('52:54:00:aa:bb:01');

    // the server's own check: a second machine with the same MAC (written differently) is refused
    await page.getByRole('button', { name: 'Add machine' }).click();
    await form.getByLabel('Name').fill('pc-02');
    await form.getByLabel('MAC address').fill('52-54-00-AA-BB-01');
    await form.getByRole('button', { name: 'Add machine' }).click();
    await expect.poll(() => form.textContent()).toContain('already exists');
    await page.keyboard.press('Escape');
    await form.waitFor({ state: 'detached' });

    // edit: an invalid IP is caught, a valid one saved
    await row.getByRole('button', { name: 'Actions for pc-01' }).click();
    await page.getByRole('menuitem', { name: 'Edit' }).click();
    await form.getByLabel('Fixed IP address').fill('300.1.1.1');
    await form.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => form.textContent()).toContain('not an IPv4 address');
    await form.getByLabel('Fixed IP address').fill('192.168.50.21');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.waitFor({ state: 'detached' });
    await expect.poll(() => row.textContent()).toContain('192.168.50.21');
    await screenshot(page, 'machines');

    // the details drawer of the machine
    await row.getByRole('button', { name: 'Details of pc-01' }).click();
    const drawer = page.getByRole('dialog');
    await expect.poll(() => drawer.textContent()).toContain('192.168.50.21 (fixed)');
    expect(await drawer.textContent()).toContain('never booted');
    expect(await drawer.textContent()).toContain('iqn.');
    await page.waitForTimeout(500); // the drawer slides in
    await screenshot(page, 'machine-details');
    await page.keyboard.press('Escape');
    await drawer.waitFor({ state: 'detached' });

    // delete
    await row.getByRole('button', { name: 'Actions for pc-01' }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await row.waitFor({ state: 'detached' });
    await page.getByTestId('empty-state').waitFor();
    const list = await apiCall<{ total: number }>(server.url, adminToken, 'GET', '/machines');
    expect(list.total).toBe(0);
  });

  it('live: a machine added elsewhere appears without a reload', async () => {
    const page = await newPage();
    await uiLogin(page, server.url, 'admin', ADMIN_PASSWORD);
    await page.goto(`${server.url}/machines`);
    await page.locator('[data-live="live"]').waitFor();
    await apiCall(server.url, adminToken, 'POST', '/machines', { name: 'pc-live', mac: '52:54:00:11:22:33' });
    await page.locator('tr[data-machine="pc-live"]').waitFor({ timeout: 10_000 });
    // and a change to it (disable) shows at once too
    const m = await apiCall<{ items: Array<{ id: string }> }>(
      server.url,
      adminToken,
      'GET',
      '/machines?q=pc-live',
    );
    await apiCall(server.url, adminToken, 'PATCH', `/machines/${m.items[0]!.id}`, { enabled: false });
    await expect
      .poll(() => page.locator('tr[data-machine="pc-live"] [data-status]').getAttribute('data-status'), {
        timeout: 10_000,
      })
      .toBe('disabled');
  });

  it('machines: CSV import is all or nothing, bulk actions apply to the selection', async () => {
    const page = await newPage();
    await uiLogin(page, server.url, 'olga', 'operator-pass-1');
    await page.goto(`${server.url}/machines`);
    await page.getByRole('button', { name: 'Import CSV' }).click();
    const dialog = page.getByRole('dialog');
    const bad =
      'name,mac,ip\nrow-1,52:54:00:00:10:01,\nrow-2,not-a-mac,\nrow-3,52:54:00:00:10:01,10.0.0.999\n';
    await dialog.getByLabel('CSV').fill(bad);
    await dialog.getByRole('button', { name: 'Import' }).click();
    const errors = dialog.getByTestId('import-errors');
    await errors.waitFor();
    expect(await errors.textContent()).toContain('line 3');
    expect(await errors.textContent()).toContain('Nothing was imported');
    expect((await apiCall<{ total: number }>(server.url, adminToken, 'GET', '/machines?q=row-')).total).toBe(
      0,
    );
    await screenshot(page, 'machines-import-errors');
    const good = 'name,mac\nrow-1,52:54:00:00:10:01\nrow-2,52-54-00-00-10-02\nrow-3,5254.0000.1003\n';
    await dialog.getByLabel('CSV').fill(good);
    await dialog.getByRole('button', { name: 'Check' }).click();
    await dialog.getByTestId('import-check-ok').waitFor();
    expect(await dialog.getByTestId('import-check-ok').textContent()).toContain(
      '3 machines would be created',
    );
    await dialog.getByRole('button', { name: 'Import' }).click();
    await dialog.waitFor({ state: 'detached' });
    for (const n of ['row-1', 'row-2', 'row-3']) await page.locator(`tr[data-machine="${n}"]`).waitFor();

    // bulk: disable two of them
    await page.getByRole('checkbox', { name: 'Select row-1' }).check();
    await page.getByRole('checkbox', { name: 'Select row-2' }).check();
    await page.getByTestId('bulk-bar').getByRole('button', { name: 'Disable' }).click();
    for (const n of ['row-1', 'row-2']) {
      await expect
        .poll(() => page.locator(`tr[data-machine="${n}"] [data-status]`).getAttribute('data-status'))
        .toBe('disabled');
    }
    expect(await page.locator('tr[data-machine="row-3"] [data-status]').getAttribute('data-status')).toBe(
      'offline',
    );
    // filter by status, then delete everything the filter shows
    await page.getByRole('textbox', { name: 'Status filter' }).click();
    await page.getByRole('option', { name: 'disabled' }).click();
    await page.waitForURL(/status=disabled/);
    await page.getByLabel('Search machines').fill('row-');
    await page.waitForURL(/q=row-/);
    await expect.poll(() => page.locator('tr[data-machine]').count()).toBe(2);
    await page.getByRole('checkbox', { name: 'Select all' }).check();
    await page.getByTestId('bulk-bar').getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => page.locator('tr[data-machine]').count()).toBe(0);
    expect((await apiCall<{ total: number }>(server.url, adminToken, 'GET', '/machines?q=row-')).total).toBe(
      1,
    );
  });

  it('session: the refresh token is an httpOnly cookie; a refused access token is refreshed silently; a reused refresh cookie ends the login', async () => {
    const page = await newPage();
    await uiLogin(page, server.url, 'admin', ADMIN_PASSWORD);
    // nothing secret in localStorage; the refresh token is an httpOnly SameSite=Strict cookie that
    // only goes to /api/v1/auth and that the page's scripts cannot read
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }));
    expect(stored).toContain('admin');
    expect(stored).not.toMatch(/accessToken|refreshToken|eyJ/);
    const cookie = (await page.context().cookies()).find((c) => c.name === 'ggnet_refresh');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/api/v1/auth', secure: false });
    expect(await page.evaluate(() => document.cookie)).not.toContain('ggnet_refresh');

    // the server stops accepting the browser's access token (as when it expires or is revoked): the
    // UI refreshes with the cookie and goes on
    let forged = 0;
    await page.route('**/api/v1/users?**', async (route) => {
      if (forged++ > 0) return route.continue();
      await route.continue({
        headers: { ...route.request().headers(), authorization: 'Bearer expired.token.value' },
      });
    });
    await page.goto(`${server.url}/users`);
    await page.locator('tr[data-user="olga"]').waitFor();
    expect(forged).toBeGreaterThan(1);
    await page.unroute('**/api/v1/users?**');
    // a reload keeps the login: the new page has no access token yet and gets one with the cookie
    await page.reload();
    await page.locator('tr[data-user="olga"]').waitFor();

    // someone used this browser's refresh cookie elsewhere: the server revokes the login, the UI says so
    const stolen = (await page.context().cookies()).find((c) => c.name === 'ggnet_refresh')!.value;
    const r = await fetch(`${server.url}/api/v1/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-ggnet-csrf': '1', cookie: `ggnet_refresh=${stolen}` },
      body: '{}',
    });
    expect(r.status).toBe(200);
    await page.goto(`${server.url}/machines`);
    await page.waitForURL(/\/login/);
    await page.getByTestId('session-ended').waitFor();
    expect(await page.getByTestId('session-ended').textContent()).toContain('used elsewhere');
  });

  it('a user disabled while logged in is logged out of the console at once', async () => {
    const u = await apiCall<{ id: string }>(server.url, adminToken, 'POST', '/users', {
      username: 'dora',
      password: 'dora-password-1',
      role: 'viewer',
    });
    const page = await newPage();
    await uiLogin(page, server.url, 'dora', 'dora-password-1');
    await page.goto(`${server.url}/machines`);
    await page.locator('[data-live="live"]').waitFor();
    await apiCall(server.url, adminToken, 'PATCH', `/users/${u.id}`, { disabled: true });
    // the events socket is closed by the server; its refresh is refused: back to the login page
    await page.waitForURL(/\/login/, { timeout: 15_000 });
    await page.getByTestId('session-ended').waitFor();
  });

  it('a viewer sees no buttons it cannot use', async () => {
    await apiCall(server.url, adminToken, 'POST', '/machines', { name: 'pc-view', mac: '52:54:00:11:22:44' });
    const page = await newPage();
    await uiLogin(page, server.url, 'vic', 'viewer-pass-1');
    await page.goto(`${server.url}/machines`);
    await page.locator('tr[data-machine="pc-view"]').waitFor();
    expect(await page.getByRole('button', { name: 'Add machine' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Import CSV' }).count()).toBe(0);
    expect(await page.getByRole('checkbox').count()).toBe(0);
    expect(await page.getByRole('button', { name: /^Actions for/ }).count()).toBe(0);
    // admin pages are neither in the menu nor reachable
    const nav = page.locator('nav');
    expect(await nav.getByText('Users').count()).toBe(0);
    expect(await nav.getByText('Settings').count()).toBe(0);
    await page.goto(`${server.url}/settings`);
    await page.waitForURL((u) => u.pathname === '/');
    await page.goto(`${server.url}/images`);
    // (two empty lists there: images and install media)
    await page.getByText('An operator has not uploaded any image yet.').waitFor();
    expect(await page.getByTestId('upload-dropzone').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'New blank image' }).count()).toBe(0);
    await page.goto(`${server.url}/targets`);
    await page.getByTestId('empty-state').waitFor();
    expect(await page.getByRole('button', { name: 'New target' }).count()).toBe(0);
    await page.goto(`${server.url}/sessions`);
    await page.getByTestId('empty-state').waitFor();
    await screenshot(page, 'viewer-sessions');
    await page.goto(`${server.url}/machines`);
    await page.locator('tr[data-machine="pc-view"]').waitFor();
    await screenshot(page, 'viewer-machines');
  });

  it('settings: per-field server errors and locked keys', async () => {
    const page = await newPage();
    await uiLogin(page, server.url, 'admin', ADMIN_PASSWORD);
    await page.goto(`${server.url}/settings`);
    // GGNET_DHCP_MODE pins dhcp.mode: shown as locked
    await page.getByText('dhcp.mode is locked by the environment').waitFor();
    await page.getByTestId('dhcp-snippet').waitFor();
    await page.getByRole('tab', { name: 'iSCSI' }).click();
    // the test server pins its portal to loopback (GGNET_ISCSI_PORTAL): locked too
    await page.getByTestId('locked-iscsi.portal').waitFor();
    expect(await page.getByLabel('Portal').isDisabled()).toBe(true);
    await page.getByLabel('IQN domain').fill('not a domain');
    await page.getByTestId('save-settings').click();
    await page.getByTestId('settings-error').waitFor();
    await expect.poll(() => page.locator('main').textContent()).toContain('must be a DNS domain');
    await page.getByLabel('IQN domain').fill('lab.example');
    await page.getByTestId('save-settings').click();
    await page.getByText('Settings saved').waitFor();
    const s = await apiCall<{ settings: { iscsi: { iqnDomain: string } } }>(
      server.url,
      adminToken,
      'GET',
      '/settings',
    );
    expect(s.settings.iscsi.iqnDomain).toBe('lab.example');
  });

  it('auto-registration: an unknown PC that boots shows up pending, live, and is approved', async (ctx) => {
    const probe = await fetch(`${server.url}/boot/ipxe`);
    if (probe.status === 404)
      ctx.skip('the boot endpoint GET /boot/ipxe is not on this branch yet (network boot issue)');
    const page = await newPage();
    await uiLogin(page, server.url, 'olga', 'operator-pass-1');
    await page.goto(`${server.url}/machines`);
    await page.locator('[data-live="live"]').waitFor();
    // the PC's iPXE asks for its script: GGnet registers it as pending (settings machines.autoRegister)
    const script = await (await fetch(`${server.url}/boot/ipxe?mac=52:54:00:0a:0b:0c`)).text();
    expect(script).toContain('waiting for approval');
    const banner = page.getByTestId('pending-banner');
    await banner.waitFor({ timeout: 10_000 });
    await banner.getByRole('button', { name: 'Show pending' }).click();
    await page.waitForURL(/status=pending/);
    const row = page.locator('tr', { hasText: '52:54:00:0a:0b:0c' });
    await row.waitFor();
    expect(await row.locator('[data-status]').getAttribute('data-status')).toBe('pending');
    await screenshot(page, 'machines-pending');
    await row.getByRole('button', { name: /^Approve / }).click();
    await row.waitFor({ state: 'detached', timeout: 10_000 }); // no longer pending: leaves the filtered list
    const m = await apiCall<{ items: Array<{ pending: boolean }> }>(
      server.url,
      adminToken,
      'GET',
      '/machines?q=52:54:00:0a:0b:0c',
    );
    expect(m.items[0]?.pending).toBe(false);
  });

  it('boot: the session appears live without a reload, with its boot timeline', async (ctx) => {
    const probe = await fetch(`${server.url}/boot/ipxe`);
    if (probe.status === 404)
      ctx.skip('the boot endpoint GET /boot/ipxe is not on this branch yet (network boot issue)');
    const content = await fetch(`${server.url}/api/v1/images/none/content`, { method: 'PUT', body: '' });
    if (content.status === 404 && (await content.text()).includes('no route'))
      ctx.skip('image uploads are not on this branch yet (image issue): a boot needs a ready image');
    // a ready image: a small VHDX uploaded in one request, converted by the server
    const dir = mkdtempSync(join(tmpdir(), 'ggnet-e2e-boot-'));
    try {
      const file = join(dir, 'boot-disk.vhdx');
      execFileSync('qemu-img', ['create', '-f', 'vhdx', file, '64M']);
      const img = await apiCall<{ id: string }>(server.url, adminToken, 'POST', '/images', {
        name: 'boot-disk',
        osType: 'linux',
      });
      const put = await fetch(`${server.url}/api/v1/images/${img.id}/content?filename=boot-disk.vhdx`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/octet-stream' },
        body: readFileSync(file),
      });
      expect(put.status).toBe(200);
      await expect
        .poll(
          async () =>
            (await apiCall<{ state: string }>(server.url, adminToken, 'GET', `/images/${img.id}`)).state,
          {
            timeout: 120_000,
          },
        )
        .toBe('ready');
      await apiCall(server.url, adminToken, 'POST', '/machines', {
        name: 'pc-boot',
        mac: '52:54:00:00:01:01',
        bootImageId: img.id,
      });
      const page = await newPage();
      await uiLogin(page, server.url, 'admin', ADMIN_PASSWORD);
      await page.goto(`${server.url}/sessions`);
      await page.locator('[data-live="live"]').waitFor();
      const script = await (await fetch(`${server.url}/boot/ipxe?mac=52:54:00:00:01:01`)).text();
      expect(script).toContain('sanboot');
      const row = page.locator('tr[data-session="pc-boot"]');
      await row.waitFor({ timeout: 15_000 });
      await row.getByRole('button', { name: 'Show boot timeline' }).click();
      await page.getByTestId('boot-timeline').waitFor();
      await screenshot(page, 'sessions-live');
      // the machine is booting on the machines page too
      await page.goto(`${server.url}/machines`);
      await expect
        .poll(() => page.locator('tr[data-machine="pc-boot"] [data-status]').getAttribute('data-status'))
        .toMatch(/booting|online/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('images: upload a small VHDX and watch it convert to ready', async (ctx) => {
    const probe = await fetch(`${server.url}/api/v1/uploads`, { method: 'OPTIONS' });
    if (probe.status === 404)
      ctx.skip('tus uploads (POST /api/v1/uploads) are not on this branch yet (image issue)');
    const dir = mkdtempSync(join(tmpdir(), 'ggnet-e2e-vhdx-'));
    try {
      const file = join(dir, 'tiny-disk.vhdx');
      execFileSync('qemu-img', ['create', '-f', 'vhdx', file, '64M']);
      const page = await newPage();
      await uiLogin(page, server.url, 'olga', 'operator-pass-1');
      await page.goto(`${server.url}/images`);
      await page.locator('input[type=file]').setInputFiles(file);
      await page.getByTestId('upload-row').waitFor();
      await page.locator('tr[data-image="tiny-disk"] [data-status="ready"]').waitFor({ timeout: 120_000 });
      await expect.poll(() => page.getByTestId('upload-row').textContent()).toContain('ready to boot');
      // its versions: the converted upload is version 1, with its size on disk
      await page.locator('tr[data-image="tiny-disk"]').click();
      const versions = page.getByTestId('versions-table');
      await versions.waitFor();
      await expect.poll(() => versions.locator('tr[data-version="1"]').textContent()).toContain('ready');
      await page.waitForTimeout(500); // the drawer slides in
      await screenshot(page, 'image-versions');
      await page.keyboard.press('Escape');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('images: an upload interrupted by a page reload resumes where it stopped', async (ctx) => {
    const probe = await fetch(`${server.url}/api/v1/uploads`, { method: 'OPTIONS' });
    if (probe.status === 404)
      ctx.skip('tus uploads (POST /api/v1/uploads) are not on this branch yet (image issue)');
    const dir = mkdtempSync(join(tmpdir(), 'ggnet-e2e-resume-'));
    try {
      // 16 MiB of random data as a VHDX: big enough to reload in the middle at a throttled 1 MiB/s
      const raw = join(dir, 'noise.raw');
      const file = join(dir, 'resume-disk.vhdx');
      execFileSync('dd', ['if=/dev/urandom', `of=${raw}`, 'bs=1M', 'count=16', 'status=none']);
      execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', raw, file]);
      const page = await newPage();
      await uiLogin(page, server.url, 'olga', 'operator-pass-1');
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', {
        offline: false,
        latency: 0,
        downloadThroughput: -1,
        uploadThroughput: 1024 * 1024,
      });
      await page.goto(`${server.url}/images`);
      await page.locator('input[type=file]').setInputFiles(file);
      await expect
        .poll(async () => parseFloat((await page.getByTestId('upload-percent').textContent()) ?? '0'), {
          timeout: 60_000,
        })
        .toBeGreaterThan(20);
      await page.reload();
      // after the reload the console knows the unfinished upload and how much the server has
      const interrupted = page.getByTestId('interrupted-uploads');
      await interrupted.waitFor();
      expect(await interrupted.textContent()).toContain('resume-disk.vhdx');
      await screenshot(page, 'images-interrupted-upload');
      await cdp.send('Network.emulateNetworkConditions', {
        offline: false,
        latency: 0,
        downloadThroughput: -1,
        uploadThroughput: -1,
      });
      await page.locator('input[type=file]').setInputFiles(file);
      const row = page.getByTestId('upload-row');
      await row.waitFor();
      expect(await row.textContent()).toContain('resumed');
      await page.locator('tr[data-image="resume-disk"] [data-status="ready"]').waitFor({ timeout: 180_000 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('screenshots of every page (1280 px, tablet, dark)', async () => {
    await apiCall(server.url, adminToken, 'POST', '/images', {
      name: 'Windows 11 LAN',
      osType: 'windows',
      description: 'gaming image',
    });
    const pages = ['/', '/machines', '/images', '/sessions', '/targets', '/users', '/audit', '/settings'];
    const names = [
      'dashboard',
      'machines-list',
      'images',
      'sessions',
      'targets',
      'users',
      'audit',
      'settings',
    ];
    const desktop = await newPage();
    await uiLogin(desktop, server.url, 'admin', ADMIN_PASSWORD);
    for (const [i, p] of pages.entries()) {
      await desktop.goto(`${server.url}${p}`);
      await desktop.locator('[data-live="live"]').waitFor();
      await desktop.waitForLoadState('networkidle');
      expect(await desktop.locator('[data-testid=table-skeleton]').count()).toBe(0);
      await screenshot(desktop, `${names[i]}-1280`);
    }
    const tablet = await newPage({ width: 820, height: 1180 });
    await uiLogin(tablet, server.url, 'admin', ADMIN_PASSWORD);
    for (const p of ['/', '/machines']) {
      await tablet.goto(`${server.url}${p}`);
      await tablet.waitForLoadState('networkidle');
      await screenshot(tablet, `${p === '/' ? 'dashboard' : 'machines'}-tablet`);
      // nothing wider than the screen: the layout fits a tablet
      const overflow = await tablet.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
    }
    const dark = await newPage({ dark: true });
    await uiLogin(dark, server.url, 'admin', ADMIN_PASSWORD);
    await dark.goto(`${server.url}/`);
    await dark.waitForLoadState('networkidle');
    expect(
      await dark.evaluate(() => document.documentElement.getAttribute('data-mantine-color-scheme')),
    ).toBe('dark');
    await screenshot(dark, 'dashboard-dark');
  });

  it('no page broke the Content-Security-Policy (console, API docs)', async () => {
    const page = await newPage();
    await uiLogin(page, server.url, 'admin', ADMIN_PASSWORD);
    const home = await page.goto(`${server.url}/`);
    expect(home?.headers()['content-security-policy']).toMatch(/script-src 'self'(;|$)/);
    expect(home?.headers()['x-frame-options']).toBe('DENY');
    // the policy is enforced: a script injected into the page (as an XSS would) does not run
    await page.locator('[data-live="live"]').waitFor();
    const ran = await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__injected = true';
      document.body.appendChild(s);
      return (window as unknown as { __injected?: boolean }).__injected === true;
    });
    expect(ran).toBe(false);
    // reported twice: as a console error and as a securitypolicyviolation event
    await expect.poll(() => cspViolations.filter((v) => /script-src/.test(v)).length).toBe(2);
    cspViolations.length = 0;
    for (const p of ['/', '/machines', '/images', '/sessions', '/targets', '/users', '/audit', '/settings']) {
      await page.goto(`${server.url}${p}`);
      await page.locator('[data-live="live"]').waitFor();
      await page.waitForLoadState('networkidle');
    }
    const res = await page.goto(`${server.url}/api/docs`);
    expect(res?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    await page.getByText('GGnet API').first().waitFor();
    await page.waitForLoadState('networkidle');
    expect(cspViolations).toEqual([]);
  });
});
