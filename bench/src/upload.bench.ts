// Upload of a big file through the API (tus 1.0 with tus-js-client; the server computes the
// sha256 while receiving, then fsync + atomic rename) against the plain baseline on the same disk,
// interleaved in the same run: `cat FILE > DEST` followed by `sha256sum DEST`. Every run starts
// with FILE out of the page cache. Goal: >= 0.9x the baseline's throughput.
// Usage: npm run bench:upload [-- --size 10G --rounds 2 --dir /var/tmp]
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as tus from 'tus-js-client';
import {
  args,
  dropCache,
  fmtBytes,
  login,
  makeDataFile,
  requireFree,
  run,
  startServer,
  stats,
  table,
  timingRow,
  timed,
} from './common.js';

const { size, dir, rounds } = args();
await requireFree(dir, size * 2 + 2 * 1024 ** 3);
const work = await mkdtemp(join(dir, 'ggnet-bench-upload-'));
const file = join(work, 'disk.img');
let server: Awaited<ReturnType<typeof startServer>> | null = null;
try {
  process.stdout.write(`upload benchmark: ${fmtBytes(size)}, ${rounds} round(s), in ${work}\n`);
  await makeDataFile(file, size);
  // no conversion during the benchmark: the worker is off
  server = await startServer(join(work, 'data'), { GGNET_WORKER: 'false' });
  const token = await login(server.url);
  const auth = { authorization: `Bearer ${token}` };

  const baseMs: number[] = [];
  const syncMs: number[] = [];
  const oursMs: number[] = [];
  const curlMs: number[] = [];
  let baseSum = '';
  let same = true;
  for (let r = 1; r <= rounds; r++) {
    // baseline: copy + checksum, as an admin would do by hand
    await dropCache(file);
    const dest = join(work, 'copy.img');
    const base = await timed(async () => {
      await run('sh', ['-c', 'cat "$1" > "$2"', 'sh', file, dest]);
      const { stdout } = await run('sha256sum', [dest]);
      return stdout.split(' ')[0]!;
    });
    syncMs.push(base.ms + (await timed(() => run('sync', [dest]))).ms);
    baseMs.push(base.ms);
    baseSum = base.value;
    await rm(dest);

    // GGnet: tus upload over HTTP to the real server on this machine
    await dropCache(file);
    const ours = await timed(
      () =>
        new Promise<{ sum: string; id: string }>((ok, fail) => {
          let sum = '';
          // as `ggnet image upload` reads: 1 MiB at a time
          const up = new tus.Upload(createReadStream(file, { highWaterMark: 1024 * 1024 }), {
            endpoint: `${server!.url}/api/v1/uploads`,
            metadata: { name: `bench ${r}`, filename: 'disk.img' },
            headers: auth,
            retryDelays: null,
            onAfterResponse: (_req, res) => {
              sum = res.getHeader('GGnet-Sha256') ?? sum;
            },
            onSuccess: () => ok({ sum, id: up.url!.split('/').pop()! }),
            onError: fail,
          });
          up.start();
        }),
    );
    oursMs.push(ours.ms);
    same &&= ours.value.sum === base.value;
    await fetch(`${server.url}/api/v1/images/${ours.value.id}`, { method: 'DELETE', headers: auth });

    // the same server with curl as the tus client (create, then one PATCH of the whole file): what the
    // server does when the client costs little CPU (on this 2-core machine both share the cores)
    await dropCache(file);
    const meta = [
      `name ${Buffer.from(`bench curl ${r}`).toString('base64')}`,
      `filename ${Buffer.from('disk.img').toString('base64')}`,
    ];
    const viaCurl = await timed(async () => {
      const created = await fetch(`${server!.url}/api/v1/uploads`, {
        method: 'POST',
        headers: {
          ...auth,
          'tus-resumable': '1.0.0',
          'upload-length': String(size),
          'upload-metadata': meta.join(','),
        },
      });
      if (created.status !== 201) throw new Error(`tus create failed: ${created.status}`);
      const loc = new URL(created.headers.get('location')!, server!.url).toString();
      const { stdout } = await run(
        'curl',
        [
          '-sS',
          '-D',
          '-',
          '-o',
          '/dev/null',
          '-X',
          'PATCH',
          '-T',
          file,
          '-H',
          `authorization: ${auth.authorization}`,
          '-H',
          'tus-resumable: 1.0.0',
          '-H',
          'upload-offset: 0',
          '-H',
          'content-type: application/offset+octet-stream',
          loc,
        ],
        { maxBuffer: 1024 * 1024 },
      );
      const sum = /^ggnet-sha256:\s*([0-9a-f]{64})/im.exec(stdout)?.[1] ?? '';
      return { sum, id: loc.split('/').pop()! };
    });
    curlMs.push(viaCurl.ms);
    same &&= viaCurl.value.sum === base.value;
    await fetch(`${server.url}/api/v1/images/${viaCurl.value.id}`, { method: 'DELETE', headers: auth });
    process.stdout.write(
      `round ${r}: baseline ${(base.ms / 1000).toFixed(1)} s, GGnet ${(ours.ms / 1000).toFixed(1)} s, GGnet with curl ${(viaCurl.ms / 1000).toFixed(1)} s\n`,
    );
  }

  const b = stats(baseMs);
  const bs = stats(syncMs);
  const o = stats(oursMs);
  const c = stats(curlMs);
  const row = (name: string, s: { min: number; median: number }) => timingRow(size, name, s);
  process.stdout.write(
    `\n${table([
      ['run', 'best', 'median', 'best throughput'],
      row('baseline: cat FILE > DEST; sha256sum DEST', b),
      row('  + sync DEST (not in the ratio)', bs),
      row('GGnet: tus upload, sha256 while receiving, fsync, rename', o),
      row('  same server, curl as the tus client', c),
    ])}\n\n` +
      `ratio GGnet throughput / baseline throughput: best ${(b.min / o.min).toFixed(2)}x, median ${(b.median / o.median).toFixed(2)}x  (goal >= 0.90x)\n` +
      `  with curl as the client: best ${(b.min / c.min).toFixed(2)}x, median ${(b.median / c.median).toFixed(2)}x\n` +
      `sha256 ${same ? `matches sha256sum (${baseSum.slice(0, 16)}...)` : 'DIFFERS from sha256sum'}\n`,
  );
  if (!same) process.exitCode = 1;
} finally {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
}
