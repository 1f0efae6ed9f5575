import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backup, Page as ListPage } from '@ggnet/contracts';
import { chromiumAvailable, launchChromium, screenshot, uiLogin } from './helpers/browser';
import { ADMIN_PASSWORD, apiCall, apiToken, startGgnet, type GgnetServer } from './helpers/ggnet-server';

const d = chromiumAvailable() ? describe : describe.skip;

/**
 * Backups in the console (Settings → Backups) against a real server: "Back up now" queues the job,
 * the server's worker makes the file, the list shows it done with its size, and it downloads.
 */
d('backups in the console', () => {
  let server: GgnetServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await startGgnet();
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
  });

  it('Back up now: the backup appears done with its size and time, and downloads', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const page = await ctx.newPage();
    await uiLogin(page, server.url, 'admin', ADMIN_PASSWORD);
    await page.goto(`${server.url}/settings`);
    await page.getByRole('tab', { name: 'Backups' }).click();
    await page.getByTestId('backups-panel').waitFor();
    await expect.poll(() => page.getByTestId('backup-status').textContent()).toContain('Daily at 03:00');
    await page.getByTestId('backup-now').click();
    const token = await apiToken(server.url, 'admin', ADMIN_PASSWORD);
    await expect
      .poll(
        async () =>
          (await apiCall<ListPage<Backup>>(server.url, token, 'GET', '/backups')).items.some(
            (x) => x.trigger === 'manual' && x.state === 'done',
          ),
        { timeout: 60_000 },
      )
      .toBe(true);
    const b = (await apiCall<ListPage<Backup>>(server.url, token, 'GET', '/backups')).items[0]!;
    const row = page.locator(`tr[data-backup="${b.id}"]`);
    await expect.poll(() => row.textContent(), { timeout: 30_000 }).toContain('done');
    expect(await row.textContent()).toContain('by hand');
    expect(await row.textContent()).toMatch(/\d+(\.\d)? KiB/);
    await screenshot(page, 'settings-backups');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      row.getByRole('button', { name: /Download/ }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(b.file);
    await ctx.close();
  });
});
