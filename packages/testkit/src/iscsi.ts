import { spawn } from 'node:child_process';

/**
 * Sequential read rate (MB/s) of an iSCSI LUN measured by libiscsi's `iscsi-perf` for `seconds`
 * (it runs until SIGINT and then prints its average); `blocks` per request (of 512 bytes).
 */
export function iscsiPerf(url: string, initiator: string, seconds: number, blocks = 256): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('iscsi-perf', ['-i', initiator, '-b', String(blocks), '-m', '16', url], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => child.kill('SIGINT'), seconds * 1000);
    child.on('close', () => {
      clearTimeout(timer);
      const rates = [...out.replace(/\r/g, '\n').matchAll(/\((\d+) MB\/s\)/g)].map((m) => Number(m[1]));
      if (rates.length) resolve(rates.at(-1)!);
      else reject(new Error(`iscsi-perf printed no rate: ${out.slice(-300)}`));
    });
  });
}
