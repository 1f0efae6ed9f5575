// Upload of a big file through the API (tus 1.0, sha256 computed by the server while receiving,
// fsync + atomic rename) against the plain baseline on the same disk in the same run:
// `cat FILE > DEST` followed by `sha256sum DEST`. Goal: >= 0.9x the baseline's throughput.
// Usage: npm run bench:upload [-- --size 10G --dir /var/tmp]
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as tus from 'tus-js-client';
import {
  args,
  dropCache,
  fmtBytes,
  login,
  makeDataFile,
  rate,
  requireFree,
  run,
  startServer,
  table,
  timed,
} from './common.js';

const { size, dir } = args();
await requireFree(dir, size * 2 + 2 * 1024 ** 3);
const work = await mkdtemp(join(dir, 'ggnet-bench-upload-'));
const file = join(work, 'disk.img');
let server: Awaited<ReturnType<typeof startServer>> | null = null;
try {
  process.stdout.write(`upload benchmark: ${fmtBytes(size)} in ${work}\n`);
  await makeDataFile(file, size);

  // baseline: copy + checksum, as an admin would do by hand
  await dropCache(file);
  const dest = join(work, 'copy.img');
  const base = await timed(async () => {
    await run('sh', ['-c', 'cat "$1" > "$2"', 'sh', file, dest]);
    const { stdout } = await run('sha256sum', [dest]);
    return stdout.split(' ')[0]!;
  });
  const syncBase = await timed(() => run('sync', [dest]));
  await rm(dest);

  // GGnet: tus upload over HTTP to a real server on this machine (no conversion: worker off)
  server = await startServer(join(work, 'data'), { GGNET_WORKER: 'false' });
  const token = await login(server.url);
  await dropCache(file);
  const ours = await timed(
    () =>
      new Promise<string>((ok, fail) => {
        let sum = '';
        const up = new tus.Upload(createReadStream(file), {
          endpoint: `${server!.url}/api/v1/uploads`,
          metadata: { name: 'bench', filename: 'disk.img' },
          headers: { authorization: `Bearer ${token}` },
          retryDelays: null,
          onAfterResponse: (_req, res) => {
            sum = res.getHeader('GGnet-Sha256') ?? sum;
          },
          onSuccess: () => ok(sum),
          onError: fail,
        });
        up.start();
      }),
  );
  const stored = (await stat(join(work, 'data', 'images'))).isDirectory();

  const ratio = base.ms / ours.ms;
  process.stdout.write(
    `\n${table([
      ['run', 'time', 'throughput', 'sha256'],
      [
        'baseline: cat FILE > DEST; sha256sum DEST',
        `${(base.ms / 1000).toFixed(1)} s`,
        rate(size, base.ms),
        base.value.slice(0, 16),
      ],
      [
        '  (+ sync DEST, not in the ratio)',
        `${((base.ms + syncBase.ms) / 1000).toFixed(1)} s`,
        rate(size, base.ms + syncBase.ms),
        '',
      ],
      [
        'GGnet: tus upload, sha256, fsync, rename',
        `${(ours.ms / 1000).toFixed(1)} s`,
        rate(size, ours.ms),
        ours.value.slice(0, 16),
      ],
    ])}\n\nratio (GGnet throughput / baseline throughput): ${ratio.toFixed(2)}x  (goal >= 0.90x)\n` +
      `sha256 ${ours.value === base.value ? 'matches' : 'DIFFERS'}; file stored: ${stored}\n`,
  );
  if (ours.value !== base.value) process.exitCode = 1;
} finally {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
}
