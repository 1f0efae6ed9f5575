/* global fetch, console, process, window, document, localStorage, performance, PerformanceObserver, setTimeout, clearTimeout */
// Web console budget: gzip size of the entry chunk, and how fast the dashboard becomes usable with
// 500 machines in Debian's Chromium, side by side with a baseline (the same server with 0 machines).
//
//   npm run build && node bench/web-budget.mjs [--runs 5] [--machines 500]
//
// Figures printed: entry chunk gzip vs all JS gzip (what a build without code splitting would load
// first); per page: first contentful paint, data visible (the numbers are on screen), time to
// interactive (data visible and no long task for 500 ms), medians over fresh browser contexts.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const REPO = resolve(fileURLToPath(new URL('..', import.meta.url)));
const DIST = join(REPO, 'apps/web/dist');
const { values: args } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, machines: { type: 'string', default: '500' } },
});
const RUNS = Number(args.runs);
const MACHINES = Number(args.machines);
const PASSWORD = 'bench-admin-password';

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const gz = (buf) => gzipSync(buf, { level: 9 }).length;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function bundleFigures() {
  if (!existsSync(join(DIST, 'index.html')))
    throw new Error('apps/web/dist is missing: run npm run build first');
  const html = readFileSync(join(DIST, 'index.html'), 'utf8');
  const entry = /<script type="module"[^>]*src="\/([^"]+)"/.exec(html)?.[1];
  if (!entry) throw new Error('no entry script in dist/index.html');
  const preloads = [...html.matchAll(/<link rel="modulepreload"[^>]*href="\/([^"]+)"/g)].map((m) => m[1]);
  const css = [...html.matchAll(/<link rel="stylesheet"[^>]*href="\/([^"]+)"/g)].map((m) => m[1]);
  const assets = readdirSync(join(DIST, 'assets'));
  const js = assets.filter((f) => f.endsWith('.js'));
  const entryGz = gz(readFileSync(join(DIST, entry)));
  const preloadGz = preloads.reduce((a, f) => a + gz(readFileSync(join(DIST, f))), 0);
  const cssGz = css.reduce((a, f) => a + gz(readFileSync(join(DIST, f))), 0);
  const allJsGz = js.reduce((a, f) => a + gz(readFileSync(join(DIST, 'assets', f))), 0);
  const allJsRaw = js.reduce((a, f) => a + statSync(join(DIST, 'assets', f)).size, 0);
  return { entry, entryGz, preloadGz, cssGz, allJsGz, allJsRaw, chunks: js.length };
}

async function startServer() {
  const dataDir = mkdtempSync(join(tmpdir(), 'ggnet-bench-web-'));
  const child = spawn(process.execPath, [join(REPO, 'apps/server/bin/ggnet.js'), 'serve'], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      GGNET_DATA_DIR: dataDir,
      GGNET_HOST: '127.0.0.1',
      GGNET_PORT: '0',
      GGNET_ADMIN_PASSWORD: PASSWORD,
      GGNET_LOG_LEVEL: 'info',
      GGNET_DHCP_MODE: 'off',
      GGNET_LOGIN_LIMIT_PER_IP: '1000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const url = await new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`server did not start:\n${out}`)), 30_000);
    const on = (b) => {
      out += b.toString();
      const m = /"url":"(http:[^"]+)".*GGnet is up/.exec(out);
      if (m) {
        clearTimeout(t);
        res(m[1]);
      }
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.on('exit', (c) => rej(new Error(`server exited ${c}:\n${out}`)));
  });
  return {
    url,
    async stop() {
      if (child.exitCode === null) {
        const done = new Promise((r) => child.once('exit', r));
        process.kill(/** @type {number} */ (child.pid), 'SIGTERM');
        await done;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function login(url) {
  const res = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: PASSWORD }),
  });
  if (!res.ok) throw new Error(`login: ${res.status}`);
  return res.json();
}

async function seedMachines(url, token, n) {
  if (!n) return;
  const lines = ['name,mac,description'];
  for (let i = 0; i < n; i++) {
    const mac = `52:54:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
    lines.push(`pc-${String(i + 1).padStart(3, '0')},${mac},bench machine ${i + 1}`);
  }
  const res = await fetch(`${url}/api/v1/machines/import`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ csv: lines.join('\n'), dryRun: false }),
  });
  if (!res.ok) throw new Error(`import: ${res.status} ${await res.text()}`);
}

/** One cold load (fresh context, empty cache) of a page; returns the timings measured in the page. */
async function measure(browser, url, path, readySelector, readyText) {
  const pair = await login(url);
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await ctx.addInitScript((p) => {
    localStorage.setItem('ggnet.auth', JSON.stringify({ ...p, expiresAt: Date.now() + p.expiresIn * 1000 }));
    const w = /** @type {any} */ (window);
    w.__longtasks = [];
    new PerformanceObserver((l) =>
      w.__longtasks.push(...l.getEntries().map((e) => e.startTime + e.duration)),
    ).observe({
      type: 'longtask',
      buffered: true,
    });
  }, pair);
  const page = await ctx.newPage();
  await page.goto(`${url}${path}`);
  await page.waitForFunction(
    ([sel, text]) => {
      const el = document.querySelector(sel);
      if (!el || (text && el.textContent?.trim() !== text)) return false;
      const w = /** @type {any} */ (window);
      w.__dataAt ??= performance.now();
      return true;
    },
    [readySelector, readyText],
    { polling: 'raf', timeout: 30_000 },
  );
  // interactive: data on screen and 500 ms without a long task
  await page.waitForTimeout(600);
  const t = await page.evaluate(() => {
    const w = /** @type {any} */ (window);
    const fcp = performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null;
    const lastLong = Math.max(0, ...w.__longtasks);
    return { fcp, data: w.__dataAt, tti: Math.max(w.__dataAt, lastLong) };
  });
  await ctx.close();
  return t;
}

async function pageFigures(browser, url, path, sel, text) {
  const rs = [];
  await measure(browser, url, path, sel, text); // warm-up (server caches, Chromium start)
  for (let i = 0; i < RUNS; i++) rs.push(await measure(browser, url, path, sel, text));
  return {
    fcp: median(rs.map((r) => r.fcp)),
    data: median(rs.map((r) => r.data)),
    tti: median(rs.map((r) => r.tti)),
  };
}

const b = bundleFigures();
console.log('web console budget\n');
console.log(`entry chunk ${b.entry}: ${kib(b.entryGz)} gzip`);
console.log(`  + modulepreloaded chunks: ${kib(b.preloadGz)} gzip, CSS: ${kib(b.cssGz)} gzip`);
console.log(
  `all JS (${b.chunks} chunks, what one unsplit bundle would load first): ${kib(b.allJsGz)} gzip (${kib(b.allJsRaw)} raw)`,
);
console.log(`entry / all JS: ${((b.entryGz / b.allJsGz) * 100).toFixed(0)} %\n`);

const browser = await chromium.launch({
  executablePath: process.env.GGNET_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
  ],
});
const empty = await startServer();
const full = await startServer();
try {
  await seedMachines(full.url, (await login(full.url)).accessToken, MACHINES);
  const rows = [];
  for (const [label, path, sel, want] of [
    ['dashboard', '/', '[data-testid=count-offline] [data-testid=count-value]', (n) => String(n)],
    ['machines', '/machines', 'tr[data-machine]', () => null],
  ]) {
    const base = await pageFigures(
      browser,
      empty.url,
      path,
      path === '/' ? sel : '[data-testid=empty-state]',
      want(0),
    );
    const big = await pageFigures(browser, full.url, path, sel, want(MACHINES));
    rows.push({ label, base, big });
  }
  const f = (x) => (x === null ? '—' : `${x.toFixed(0)} ms`);
  console.log(
    `cold load in Chromium, median of ${RUNS} fresh contexts (baseline: 0 machines | ${MACHINES} machines | ratio)`,
  );
  for (const r of rows) {
    for (const k of /** @type {const} */ (['fcp', 'data', 'tti'])) {
      const name = { fcp: 'first contentful paint', data: 'data visible', tti: 'time to interactive' }[k];
      console.log(
        `  ${r.label.padEnd(10)} ${name.padEnd(24)} ${f(r.base[k]).padStart(8)} | ${f(r.big[k]).padStart(8)} | ${(r.big[k] / r.base[k]).toFixed(2)}x`,
      );
    }
  }
} finally {
  await browser.close();
  await empty.stop();
  await full.stop();
}
