import { describe, expect, it } from 'vitest';
import { ProcessError, SpawnProcessRunner } from './process-runner.adapter.js';
import { FakeProcessRunner } from './process-runner.fake.js';

const runner = new SpawnProcessRunner();
const node = process.execPath;

describe('SpawnProcessRunner (real processes)', () => {
  it('passes arguments verbatim, never through a shell', async () => {
    const r = await runner.run(node, [
      '-e',
      'process.stdout.write(JSON.stringify(process.argv.slice(1)))',
      '$(id)',
      'a b',
      ';ls',
      "'q'",
    ]);
    expect(JSON.parse(r.stdout)).toEqual(['$(id)', 'a b', ';ls', "'q'"]);
    expect(r.exitCode).toBe(0);
  });

  it('throws a typed ProcessError with exit code and stderr', async () => {
    const err = await runner
      .run(node, ['-e', 'console.error("boom"); process.exit(3)'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProcessError);
    const pe = err as ProcessError;
    expect(pe.reason).toBe('exit');
    expect(pe.exitCode).toBe(3);
    expect(pe.stderr).toContain('boom');
    expect(pe.message).toContain('exited with code 3');
  });

  it('accepts extra ok exit codes', async () => {
    const r = await runner.run(node, ['-e', 'process.exit(1)'], { okExitCodes: [0, 1] });
    expect(r.exitCode).toBe(1);
  });

  it('kills on timeout', async () => {
    const t0 = Date.now();
    const err = (await runner
      .run(node, ['-e', 'setTimeout(() => {}, 60000)'], { timeoutMs: 200 })
      .catch((e: unknown) => e)) as ProcessError;
    expect(err.reason).toBe('timeout');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('kills on abort, also a child that ignores SIGTERM (SIGKILL after the grace time)', async () => {
    const ac = new AbortController();
    // abort only once the child has installed its SIGTERM handler (node starts slowly on a busy machine)
    const p = runner.run(
      node,
      ['-e', 'process.on("SIGTERM", () => {}); console.log("ready"); setInterval(() => {}, 1000)'],
      {
        signal: ac.signal,
        killGraceMs: 300,
        onStdout: (c) => {
          if (c.includes('ready')) ac.abort();
        },
      },
    );
    const err = (await p.catch((e: unknown) => e)) as ProcessError;
    expect(err.reason).toBe('aborted');
    expect(err.signal).toBe('SIGKILL');
  });

  it('reports a missing command as a spawn failure', async () => {
    const err = (await runner.run('/nonexistent/tool', []).catch((e: unknown) => e)) as ProcessError;
    expect(err.reason).toBe('spawn');
  });

  it('streams output and feeds stdin', async () => {
    const chunks: string[] = [];
    const r = await runner.run(node, ['-e', 'process.stdin.pipe(process.stdout)'], {
      input: 'hello',
      onStdout: (c) => chunks.push(c),
    });
    expect(r.stdout).toBe('hello');
    expect(chunks.join('')).toBe('hello');
  });
});

describe('FakeProcessRunner', () => {
  it('records calls and answers from handlers', async () => {
    const f = new FakeProcessRunner()
      .on('tgtadm', { stdout: 'ok' })
      .on((c) => c.command === 'false', { exitCode: 1, stderr: 'no' });
    expect((await f.run('tgtadm', ['--op', 'show'])).stdout).toBe('ok');
    await expect(f.run('false', [])).rejects.toBeInstanceOf(ProcessError);
    expect(f.lines()).toEqual(['tgtadm --op show', 'false']);
  });
});
