// Conversion of a big VHDX to RAW through GGnet's job queue (`ggnet worker` claims the job, then
// qemu-img info + check, windowed convert with the sha256 of the RAW computed alongside, fsync,
// rename, database) against bare `qemu-img convert -O raw` of the same file, interleaved in the
// same run, every run starting with the source out of the page cache. Goal: within 5 % of bare qemu-img.
// Usage: npm run bench:convert [-- --size 10G --rounds 2 --dir /var/tmp]
import { createReadStream } from 'node:fs';
import { request } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  args,
  dropCache,
  fmtBytes,
  login,
  makeDataFile,
  requireFree,
  run,
  startServer,
  startWorker,
  stats,
  table,
  timingRow,
  timed,
} from './common.js';

const { size, dir, rounds } = args();
await requireFree(dir, size * 3 + 2 * 1024 ** 3);
const work = await mkdtemp(join(dir, 'ggnet-bench-convert-'));
let server: Awaited<ReturnType<typeof startServer>> | null = null;

interface JobView {
  state: string;
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  result: { sha256?: string; timings?: Record<string, number> } | null;
}

async function bare(src: string, extra: string[] = []): Promise<number> {
  const dest = join(work, 'bare.raw');
  await dropCache(src);
  const r = await timed(() => run('qemu-img', ['convert', ...extra, '-f', 'vhdx', '-O', 'raw', src, dest]));
  await rm(dest);
  return r.ms;
}

try {
  process.stdout.write(
    `conversion benchmark: a ${fmtBytes(size)} VHDX (fully allocated), ${rounds} round(s), in ${work}\n`,
  );
  const raw = join(work, 'disk.raw');
  await makeDataFile(raw, size);
  const src = join(work, 'disk.vhdx');
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', raw, src]);
  await rm(raw);
  const srcSize = (await stat(src)).size;

  const data = join(work, 'data');
  server = await startServer(data, { GGNET_WORKER: 'false' });
  const token = await login(server.url);
  const auth = { authorization: `Bearer ${token}` };
  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${server!.url}${path}`, {
      method,
      headers: { ...auth, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (res.status === 204 ? null : await res.json()) as T;
  };

  const bareMs: number[] = [];
  const tunedMs: number[] = [];
  const jobMs: number[] = [];
  const wallMs: number[] = [];
  let shaOk = true;
  for (let r = 1; r <= rounds; r++) {
    bareMs.push(await bare(src));
    tunedMs.push(await bare(src, ['-W', '-m', '16']));

    // GGnet: the file arrives by a streaming upload (not timed) to a server without a worker; the
    // stored file is dropped from the page cache like the baseline's; then `ggnet worker` starts
    const { id } = await api<{ id: string }>('POST', '/api/v1/images', { name: `bench ${r}` });
    // node:http with pipeline: fetch() would buffer the file in memory when the server is slower
    const status = await new Promise<number>((ok, fail) => {
      const req = request(
        `${server!.url}/api/v1/images/${id}/content?filename=disk.vhdx`,
        {
          method: 'PUT',
          headers: { ...auth, 'content-type': 'application/octet-stream', 'content-length': String(srcSize) },
        },
        (res) => {
          res.resume();
          res.on('end', () => ok(res.statusCode ?? 0));
        },
      );
      req.on('error', fail);
      pipeline(createReadStream(src), req).catch(fail);
    });
    if (status !== 200) throw new Error(`upload failed: ${status}`);
    await dropCache(join(data, 'images', id, 'source'));
    const jobs = await api<{ items: Array<{ id: string; payload: { imageId: string } }> }>(
      'GET',
      '/api/v1/jobs?type=image.convert&state=queued',
    );
    const jobId = jobs.items.find((j) => j.payload.imageId === id)!.id;
    const started = performance.now();
    const worker = startWorker(data);
    let job: JobView;
    for (;;) {
      job = await api<JobView>('GET', `/api/v1/jobs/${jobId}`);
      if (!['queued', 'running'].includes(job.state)) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    wallMs.push(performance.now() - started);
    worker.kill('SIGTERM');
    await new Promise((res) => worker.once('exit', res));
    if (job.state !== 'succeeded') throw new Error(`conversion ${job.state}: ${job.error}`);
    jobMs.push(Date.parse(job.finishedAt!) - Date.parse(job.startedAt!));
    const { stdout } = await run('sh', [
      '-c',
      'sha256sum "$1"/*.raw',
      'sh',
      join(data, 'images', id, 'versions'),
    ]);
    shaOk &&= stdout.split(' ')[0] === job.result?.sha256;
    await api('DELETE', `/api/v1/images/${id}`);
    process.stdout.write(
      `round ${r}: bare ${(bareMs.at(-1)! / 1000).toFixed(1)} s, bare -W -m 16 ${(tunedMs.at(-1)! / 1000).toFixed(1)} s, GGnet job ${(jobMs.at(-1)! / 1000).toFixed(1)} s ${JSON.stringify(job.result?.timings ?? {})}\n`,
    );
  }

  const b = stats(bareMs);
  const tu = stats(tunedMs);
  const j = stats(jobMs);
  const w = stats(wallMs);
  const row = (name: string, s: { min: number; median: number }) => timingRow(size, name, s);
  process.stdout.write(
    `\n${table([
      ['run', 'best', 'median', 'best throughput'],
      row('baseline: qemu-img convert -f vhdx -O raw', b),
      row("  the same with -W -m 16 (GGnet's tuning)", tu),
      row('GGnet job: claimed -> ready (info, check, convert, sha256, fsync, db)', j),
      row('  + start of `ggnet worker` and queue pickup', w),
    ])}\n\n` +
      `ratio GGnet job / bare qemu-img: best ${(j.min / b.min).toFixed(3)}, median ${(j.median / b.median).toFixed(3)}  (goal <= 1.05)\n` +
      `ratio GGnet job / bare qemu-img -W -m 16: best ${(j.min / tu.min).toFixed(3)}, median ${(j.median / tu.median).toFixed(3)}\n` +
      `sha256 of the RAW recorded on the version ${shaOk ? 'matches sha256sum' : 'DIFFERS from sha256sum'}\n`,
  );
  if (!shaOk) process.exitCode = 1;
} finally {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
}
