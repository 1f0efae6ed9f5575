import { createReadStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as tus from 'tus-js-client';
import { formatBytes } from '@ggnet/contracts';
import type { Config } from '../config/config.schema.js';
import type { Container } from '../container.js';
import { sha256File } from '../adapters/storage/image-files.js';

/** `ggnet image ...`: upload (tus client, resumable), import (file in the import dir). */

export class CliError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

const out = (s: string) => process.stderr.write(s);
const text = (v: unknown, fallback: string) =>
  typeof v === 'string' || typeof v === 'number' ? String(v) : fallback;

/** A progress line that redraws itself on a terminal and prints every 10 % otherwise. */
function progressPrinter(label: string) {
  let lastPct = -10;
  return (done: number, total: number, extra = '') => {
    const pct = total ? (done / total) * 100 : 0;
    if (process.stderr.isTTY)
      out(`\r${label} ${pct.toFixed(1)}% (${formatBytes(done)} of ${formatBytes(total)})${extra}   `);
    else if (pct - lastPct >= 10 || pct >= 100) {
      lastPct = pct;
      out(`${label} ${pct.toFixed(0)}% (${formatBytes(done)} of ${formatBytes(total)})${extra}\n`);
    }
  };
}

interface Session {
  server: string;
  token(): Promise<string>;
}

/** Logs in with GGNET_USER/GGNET_PASSWORD (or flags) and refreshes the token before it expires; or uses a given token. */
async function session(
  server: string,
  v: { user?: string; password?: string; token?: string },
): Promise<Session> {
  const fixed = v.token ?? process.env.GGNET_TOKEN;
  if (fixed) return { server, token: async () => fixed };
  const username = v.user ?? process.env.GGNET_USER;
  const password = v.password ?? process.env.GGNET_PASSWORD;
  if (!username || !password) {
    throw new CliError(
      'no credentials',
      'set GGNET_USER and GGNET_PASSWORD (or --user/--password), or GGNET_TOKEN (or --token)',
    );
  }
  const call = async (path: string, body: unknown) => {
    let res: Response;
    try {
      res = await fetch(`${server}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    } catch (err) {
      throw new CliError(
        `cannot reach ${server}: ${(err as Error).message}`,
        'check --server / GGNET_SERVER',
      );
    }
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok)
      throw new CliError(`login failed: ${text(json.detail, `HTTP ${res.status}`)}`, text(json.hint, ''));
    return json as { accessToken: string; refreshToken: string; expiresIn: number };
  };
  let pair = await call('/api/v1/auth/login', { username, password });
  let expires = Date.now() + pair.expiresIn * 1000;
  return {
    server,
    token: async () => {
      if (Date.now() > expires - 60_000) {
        pair = await call('/api/v1/auth/refresh', { refreshToken: pair.refreshToken }).catch(() =>
          call('/api/v1/auth/login', { username, password }),
        );
        expires = Date.now() + pair.expiresIn * 1000;
      }
      return pair.accessToken;
    },
  };
}

async function api<T>(s: Session, path: string): Promise<T> {
  const res = await fetch(`${s.server}${path}`, { headers: { authorization: `Bearer ${await s.token()}` } });
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) throw new CliError(text(json.detail, `HTTP ${res.status}`), text(json.hint, ''));
  return json as T;
}

interface JobView {
  state: string;
  error: string | null;
  progress: {
    percent: number;
    bytesPerSec: number | null;
    etaSec: number | null;
    stage: string | null;
  } | null;
  result: Record<string, unknown> | null;
}

/** Follows a job until it ends; returns it. */
export async function followJob(get: () => Promise<JobView>, label: string): Promise<JobView> {
  for (;;) {
    const j = await get();
    if (j.progress && j.state === 'running') {
      const rate = j.progress.bytesPerSec ? `, ${formatBytes(j.progress.bytesPerSec)}/s` : '';
      const eta = j.progress.etaSec != null ? `, ${j.progress.etaSec} s left` : '';
      const line = `${label}: ${j.progress.stage ?? 'running'} ${j.progress.percent.toFixed(1)}%${rate}${eta}`;
      out(process.stderr.isTTY ? `\r${line}     ` : `${line}\n`);
    }
    if (!['queued', 'running'].includes(j.state)) {
      if (process.stderr.isTTY) out('\n');
      return j;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export async function imageUpload(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      server: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      token: { type: 'string' },
      'os-type': { type: 'string' },
      description: { type: 'string' },
      sha256: { type: 'string' },
      'no-checksum': { type: 'boolean' },
      'no-wait': { type: 'boolean' },
      'chunk-size': { type: 'string' },
    },
  });
  const file = positionals[0];
  if (!file) throw new CliError('usage: ggnet image upload FILE [--name N] [--server URL]');
  const path = resolve(file);
  const st = await stat(path).catch(() => null);
  if (!st?.isFile()) throw new CliError(`${file} is not a file`);
  const server = (values.server ?? process.env.GGNET_SERVER ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const s = await session(server, values);

  let sha256 = values.sha256?.toLowerCase();
  if (!sha256 && !values['no-checksum']) {
    const p = progressPrinter('checksum');
    p(0, st.size);
    sha256 = await sha256File(path);
    p(st.size, st.size);
    if (process.stderr.isTTY) out('\n');
  }
  const metadata: Record<string, string> = { filename: basename(path) };
  if (values.name) metadata.name = values.name;
  if (sha256) metadata.sha256 = sha256;
  if (values['os-type']) metadata.osType = values['os-type'];
  if (values.description) metadata.description = values.description;

  // resumable across runs: the upload URL is remembered per file (path, size, mtime) and server
  const stateDir = process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state');
  const storagePath = join(stateDir, 'ggnet', 'uploads.json');
  await mkdir(dirname(storagePath), { recursive: true });
  const urlStorage = new (
    tus as unknown as { FileUrlStorage: new (p: string) => tus.UrlStorage }
  ).FileUrlStorage(storagePath);

  const printer = progressPrinter('upload');
  const ids: { job: string | null; image: string | null } = { job: null, image: null };
  await new Promise<void>((done, fail) => {
    // 1 MiB reads instead of the default 64 KiB: 4.5 s instead of 6.0 s of client CPU for 2 GiB here
    const upload = new tus.Upload(createReadStream(path, { highWaterMark: 1024 * 1024 }), {
      endpoint: `${server}/api/v1/uploads`,
      metadata,
      urlStorage,
      removeFingerprintOnSuccess: true,
      ...(values['chunk-size'] ? { chunkSize: Number(values['chunk-size']) } : {}),
      retryDelays: [0, 1000, 3000, 5000, 10_000, 20_000, 30_000, 60_000, 60_000, 60_000],
      onBeforeRequest: async (req) => req.setHeader('Authorization', `Bearer ${await s.token()}`),
      onAfterResponse: (_req, res) => {
        ids.job = res.getHeader('GGnet-Job-Id') ?? ids.job;
        ids.image = res.getHeader('GGnet-Image-Id') ?? ids.image;
      },
      onShouldRetry: (err) => {
        const status = err.originalResponse?.getStatus() ?? 0;
        // the network or the server went away: retry; a refusal (4xx) is final
        const resuming = err.originalRequest?.getMethod() !== 'POST';
        if (status === 0 || (status >= 500 && status !== 507)) return true;
        return resuming && (status === 409 || status === 423);
      },
      onProgress: (sent, total) => printer(sent, total),
      onSuccess: () => done(),
      onError: (err) => {
        const body = (err as tus.DetailedError).originalResponse?.getBody();
        try {
          const p = JSON.parse(body ?? '') as { detail?: string; hint?: string };
          fail(new CliError(`upload refused: ${p.detail ?? body}`, p.hint));
        } catch {
          fail(new CliError(`upload failed: ${err.message}`, 'run the same command again to resume'));
        }
      },
    });
    upload
      .findPreviousUploads()
      .then((previous) => {
        const prev = previous.find((p) => p.uploadUrl);
        if (prev) {
          out(`resuming an interrupted upload of ${basename(path)}\n`);
          upload.resumeFromPreviousUpload(prev);
        }
        upload.start();
      })
      .catch(fail);
  });
  if (process.stderr.isTTY) out('\n');
  const { job: jobId, image: imageId } = ids;
  process.stdout.write(
    `uploaded ${basename(path)} (${formatBytes(st.size)})${imageId ? ` as image ${imageId}` : ''}\n`,
  );
  if (values['no-wait'] || !jobId || !imageId) return 0;
  const job = await followJob(() => api<JobView>(s, `/api/v1/jobs/${jobId}`), 'convert');
  const img = await api<{ state: string; error: string | null; name: string }>(
    s,
    `/api/v1/images/${imageId}`,
  );
  if (job.state === 'succeeded' && img.state === 'ready') {
    process.stdout.write(
      `image ${JSON.stringify(img.name)} is ready (sha256 of the RAW ${String(job.result?.sha256)})\n`,
    );
    return 0;
  }
  throw new CliError(`conversion ${job.state}: ${img.error ?? job.error ?? 'unknown error'}`);
}

export async function imageImport(
  config: Config,
  argv: string[],
  withContainer: <T>(fn: (c: Container) => Promise<T>) => Promise<T>,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      'os-type': { type: 'string' },
      sha256: { type: 'string' },
      'no-wait': { type: 'boolean' },
    },
  });
  const file = positionals[0];
  if (!file) throw new CliError('usage: ggnet image import PATH [--name N] [--sha256 HEX] [--no-wait]');
  return withContainer(async (c) => {
    const r = await c.uploads.importFile(
      {
        path: resolve(file),
        name: values.name,
        osType: values['os-type'] as 'windows' | 'linux' | 'other' | undefined,
        sha256: values.sha256,
      },
      'cli',
    );
    process.stdout.write(
      `importing ${file} as image ${r.image.id} (${JSON.stringify(r.image.name)}), job ${r.jobId}\n`,
    );
    if (values['no-wait']) return 0;
    out(`waiting for a worker (ggnet serve or ggnet worker with data dir ${config.dataDir})...\n`);
    const imp = await followJob(() => c.jobs.get(r.jobId), 'import');
    if (imp.state !== 'succeeded') throw new CliError(`import ${imp.state}: ${imp.error ?? ''}`);
    const convertId = text(imp.result?.convertJobId, '');
    const conv = await followJob(() => c.jobs.get(convertId), 'convert');
    const img = await c.images.get(r.image.id);
    if (conv.state === 'succeeded' && img.state === 'ready') {
      process.stdout.write(`image ${JSON.stringify(img.name)} is ready\n`);
      return 0;
    }
    throw new CliError(`conversion ${conv.state}: ${img.error ?? conv.error ?? ''}`);
  });
}
