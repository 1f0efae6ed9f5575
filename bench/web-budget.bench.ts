/**
 * Web console budget: gzip size of the entry chunk, and how fast the dashboard becomes usable with
 * 500 machines in Debian's Chromium, side by side with a baseline (the same server with 0 machines).
 *
 *   npm run build && npm run bench:web          (BENCH_RUNS=5 BENCH_MACHINES=500 by default)
 *
 * Figures: the entry chunk gzip, plus the chunks index.html preloads with it, against all JS gzip
 * (what one bundle without code splitting would load first); per page: first contentful paint,
 * data visible (the numbers are on screen), time to interactive (data visible and no long task for
 * 500 ms after it); medians over fresh browser contexts (cold cache).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser } from 'playwright-core';
import { CSRF_HEADER, type TokenPair } from '@ggnet/contracts';
import { launchChromium } from '../e2e/browser/helpers/browser.js';
import { ADMIN_PASSWORD, REPO, startGgnet } from '../e2e/browser/helpers/ggnet-server.js';

const DIST = join(REPO, 'apps/web/dist');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const MACHINES = Number(process.env.BENCH_MACHINES ?? 500);

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const gz = (file: string) => gzipSync(readFileSync(file), { level: 9 }).length;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function bundleFigures() {
  if (!existsSync(join(DIST, 'index.html')))
    throw new Error('apps/web/dist is missing: run npm run build first');
  const html = readFileSync(join(DIST, 'index.html'), 'utf8');
  const entry = /<script type="module"[^>]*src="\/([^"]+)"/.exec(html)?.[1];
  if (!entry) throw new Error('no entry script in dist/index.html');
  const preloads = [...html.matchAll(/<link rel="modulepreload"[^>]*href="\/([^"]+)"/g)].map((m) => m[1]!);
  const css = [...html.matchAll(/<link rel="stylesheet"[^>]*href="\/([^"]+)"/g)].map((m) => m[1]!);
  const js = readdirSync(join(DIST, 'assets')).filter((f) => f.endsWith('.js'));
  return {
    entry,
    entryGz: gz(join(DIST, entry)),
    preloadGz: preloads.reduce((a, f) => a + gz(join(DIST, f)), 0),
    preloadCount: preloads.length,
    cssGz: css.reduce((a, f) => a + gz(join(DIST, f)), 0),
    allJsGz: js.reduce((a, f) => a + gz(join(DIST, 'assets', f)), 0),
    allJsRaw: js.reduce((a, f) => a + statSync(join(DIST, 'assets', f)).size, 0),
    chunks: js.length,
  };
}

async function login(url: string): Promise<TokenPair> {
  const res = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
  });
  if (!res.ok) throw new Error(`login: ${res.status}`);
  return (await res.json()) as TokenPair;
}

async function seedMachines(url: string, n: number) {
  if (!n) return;
  const hex = (v: number) => (v & 255).toString(16).padStart(2, '0');
  const lines = ['name,mac,description'];
  for (let i = 0; i < n; i++)
    lines.push(
      `pc-${String(i + 1).padStart(3, '0')},52:54:00:${hex(i >> 16)}:${hex(i >> 8)}:${hex(i)},bench ${i + 1}`,
    );
  const res = await fetch(`${url}/api/v1/machines/import`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${(await login(url)).accessToken}`,
    },
    body: JSON.stringify({ csv: lines.join('\n'), dryRun: false }),
  });
  if (!res.ok) throw new Error(`import: ${res.status} ${await res.text()}`);
}

interface Timing {
  fcp: number;
  data: number;
  tti: number;
}

/** One cold load (fresh context, empty cache) of a page, logged in; timings measured in the page. */
async function measure(
  browser: Browser,
  url: string,
  path: string,
  selector: string,
  text: string | null,
): Promise<Timing> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // a console that logged in before: the refresh cookie in the browser, the user in localStorage, no
  // token in the page (it refreshes on load, as after a reload)
  const res = await ctx.request.post(`${url}/api/v1/auth/login`, {
    data: { username: 'admin', password: ADMIN_PASSWORD, refreshIn: 'cookie' },
    headers: { [CSRF_HEADER]: '1' },
  });
  if (!res.ok()) throw new Error(`login: ${res.status()}`);
  const { user } = (await res.json()) as TokenPair;
  await ctx.addInitScript((u: TokenPair['user']) => {
    localStorage.setItem('ggnet.auth', JSON.stringify({ user: u }));
    const w = window as unknown as { __longtasks: number[] };
    w.__longtasks = [];
    new PerformanceObserver((l) =>
      w.__longtasks.push(...l.getEntries().map((e) => e.startTime + e.duration)),
    ).observe({
      type: 'longtask',
      buffered: true,
    });
  }, user);
  const page = await ctx.newPage();
  await page.goto(`${url}${path}`);
  await page.waitForFunction(
    ([sel, want]) => {
      const el = document.querySelector(sel);
      if (!el || (want !== null && el.textContent?.trim() !== want)) return false;
      const w = window as unknown as { __dataAt?: number };
      w.__dataAt ??= performance.now();
      return true;
    },
    [selector, text] as const,
    { polling: 'raf', timeout: 30_000 },
  );
  await page.waitForTimeout(600); // interactive = data on screen and no long task for 500 ms
  const t = await page.evaluate(() => {
    const w = window as unknown as { __longtasks: number[]; __dataAt: number };
    const fcp = performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN;
    return { fcp, data: w.__dataAt, tti: Math.max(w.__dataAt, ...w.__longtasks) };
  });
  await ctx.close();
  return t;
}

const medians = (rs: Timing[]): Timing => ({
  fcp: median(rs.map((r) => r.fcp)),
  data: median(rs.map((r) => r.data)),
  tti: median(rs.map((r) => r.tti)),
});

/**
 * Baseline and subject interleaved run by run (alternating which goes first), so that load from
 * elsewhere on the machine falls on both sides alike.
 */
async function sideBySide(
  browser: Browser,
  base: [string, string, string, string | null],
  subject: [string, string, string, string | null],
) {
  await measure(browser, ...base); // warm-up: server caches, Chromium start
  await measure(browser, ...subject);
  const rb: Timing[] = [];
  const rs: Timing[] = [];
  for (let i = 0; i < RUNS; i++) {
    if (i % 2) {
      rs.push(await measure(browser, ...subject));
      rb.push(await measure(browser, ...base));
    } else {
      rb.push(await measure(browser, ...base));
      rs.push(await measure(browser, ...subject));
    }
  }
  return { base: medians(rb), big: medians(rs) };
}

const b = bundleFigures();
console.log('web console budget\n');
console.log(`entry chunk ${b.entry}: ${kib(b.entryGz)} gzip`);
console.log(
  `  + ${b.preloadCount} chunks preloaded with it: ${kib(b.preloadGz)} gzip; CSS ${kib(b.cssGz)} gzip`,
);
console.log(`  = first-load JS ${kib(b.entryGz + b.preloadGz)} gzip`);
console.log(
  `all JS (${b.chunks} chunks; what one unsplit bundle would load first): ${kib(b.allJsGz)} gzip, ${kib(b.allJsRaw)} raw`,
);
console.log(`first-load JS / all JS: ${(((b.entryGz + b.preloadGz) / b.allJsGz) * 100).toFixed(0)} %\n`);

const browser = await launchChromium();
const env = { GGNET_LOGIN_LIMIT_PER_IP: '10000' };
const empty = await startGgnet(env);
const full = await startGgnet(env);
try {
  await seedMachines(full.url, MACHINES);
  const cases: Array<[string, string, (n: number) => [string, string | null]]> = [
    ['dashboard', '/', (n) => ['[data-testid=count-offline] [data-testid=count-value]', String(n)]],
    ['machines', '/machines', (n) => (n ? ['tr[data-machine]', null] : ['[data-testid=empty-state]', null])],
  ];
  const f = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)} ms` : '—');
  console.log(
    `cold load in Chromium, median of ${RUNS} fresh contexts: baseline 0 machines | ${MACHINES} machines | ratio`,
  );
  for (const [label, path, sel] of cases) {
    const { base, big } = await sideBySide(
      browser,
      [empty.url, path, ...sel(0)],
      [full.url, path, ...sel(MACHINES)],
    );
    for (const k of ['fcp', 'data', 'tti'] as const) {
      const name = { fcp: 'first contentful paint', data: 'data visible', tti: 'time to interactive' }[k];
      console.log(
        `  ${label.padEnd(10)} ${name.padEnd(24)} ${f(base[k]).padStart(8)} | ${f(big[k]).padStart(8)} | ${(big[k] / base[k]).toFixed(2)}x`,
      );
    }
  }
} finally {
  await browser.close();
  await empty.stop();
  await full.stop();
}
