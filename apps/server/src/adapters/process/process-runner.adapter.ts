import { spawn } from 'node:child_process';

/** One call of a system tool. Always an argument array: no shell ever sees user data. */
export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Aborting kills the child (SIGTERM, then SIGKILL after killGraceMs). */
  signal?: AbortSignal;
  timeoutMs?: number;
  killGraceMs?: number;
  input?: string | Buffer;
  /** Streamed output, e.g. qemu-img -p progress. Called with decoded text chunks. */
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  /** Bytes of stdout/stderr kept for the result (the tail is kept). Default 4 MiB. */
  maxBuffer?: number;
  /** Exit codes that count as success (default [0]). */
  okExitCodes?: number[];
}

export interface RunResult {
  command: string;
  args: string[];
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export type ProcessFailure = 'exit' | 'timeout' | 'aborted' | 'spawn';

/** A tool that failed: which command, how (exit code / timeout / abort / not found) and what it said. */
export class ProcessError extends Error {
  constructor(
    readonly command: string,
    readonly args: readonly string[],
    readonly reason: ProcessFailure,
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly stdout: string,
    readonly signal: NodeJS.Signals | null = null,
    cause?: unknown,
  ) {
    const tail = stderr.trim().split('\n').slice(-3).join(' | ');
    const what =
      reason === 'exit'
        ? `exited with code ${exitCode}${signal ? ` (signal ${signal})` : ''}`
        : reason === 'timeout'
          ? 'timed out'
          : reason === 'aborted'
            ? 'was cancelled'
            : `could not be started (${(cause as Error | undefined)?.message ?? 'unknown error'})`;
    super(`${command} ${what}${tail ? `: ${tail}` : ''}`, { cause });
    this.name = 'ProcessError';
  }
}

export interface ProcessRunner {
  run(command: string, args: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly max: number) {}
  push(b: Buffer) {
    this.chunks.push(b);
    this.size += b.length;
    while (this.size > this.max && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }
  toString() {
    const all = Buffer.concat(this.chunks);
    return (all.length > this.max ? all.subarray(all.length - this.max) : all).toString('utf8');
  }
}

/** The real runner: child_process.spawn with an argument array, AbortSignal, timeout and a typed error. */
export class SpawnProcessRunner implements ProcessRunner {
  run(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const started = Date.now();
    const max = opts.maxBuffer ?? 4 * 1024 * 1024;
    const ok = opts.okExitCodes ?? [0];
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) {
        reject(new ProcessError(command, args, 'aborted', null, '', ''));
        return;
      }
      const child = spawn(command, args, {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        shell: false,
      });
      const out = new TailBuffer(max);
      const err = new TailBuffer(max);
      let failure: ProcessFailure | null = null;
      let killTimer: NodeJS.Timeout | undefined;
      const kill = (why: ProcessFailure) => {
        if (failure || child.exitCode !== null) return;
        failure = why;
        child.kill('SIGTERM');
        killTimer = setTimeout(() => child.kill('SIGKILL'), opts.killGraceMs ?? 3000);
        killTimer.unref();
      };
      const timer = opts.timeoutMs ? setTimeout(() => kill('timeout'), opts.timeoutMs) : undefined;
      const onAbort = () => kill('aborted');
      opts.signal?.addEventListener('abort', onAbort, { once: true });

      child.stdout!.on('data', (b: Buffer) => {
        out.push(b);
        opts.onStdout?.(b.toString('utf8'));
      });
      child.stderr!.on('data', (b: Buffer) => {
        err.push(b);
        opts.onStderr?.(b.toString('utf8'));
      });
      if (opts.input !== undefined && child.stdin) {
        child.stdin.on('error', () => undefined); // EPIPE when the tool exits early
        child.stdin.end(opts.input);
      }
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        if (killTimer) clearTimeout(killTimer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      child.on('error', (e) => {
        cleanup();
        reject(new ProcessError(command, args, 'spawn', null, err.toString(), out.toString(), null, e));
      });
      child.on('close', (code, signal) => {
        cleanup();
        const stdout = out.toString();
        const stderr = err.toString();
        if (failure) {
          reject(new ProcessError(command, args, failure, code, stderr, stdout, signal));
        } else if (code !== null && ok.includes(code)) {
          resolve({
            command,
            args: [...args],
            exitCode: code,
            stdout,
            stderr,
            durationMs: Date.now() - started,
          });
        } else {
          reject(new ProcessError(command, args, 'exit', code, stderr, stdout, signal));
        }
      });
    });
  }
}
