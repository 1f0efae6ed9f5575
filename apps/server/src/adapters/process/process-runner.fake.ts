import {
  ProcessError,
  type ProcessRunner,
  type RunOptions,
  type RunResult,
} from './process-runner.adapter.js';

export interface FakeCall {
  command: string;
  args: string[];
  opts: RunOptions;
}

export type FakeResponse = Partial<Pick<RunResult, 'stdout' | 'stderr' | 'exitCode'>> & {
  /** Text pushed through onStdout/onStderr before resolving (progress output). */
  streamStdout?: string[];
  streamStderr?: string[];
};

type Handler = (call: FakeCall) => FakeResponse | Promise<FakeResponse> | undefined;

/** Records every call; answers from handlers (first match wins), default: exit 0 with no output. */
export class FakeProcessRunner implements ProcessRunner {
  readonly calls: FakeCall[] = [];
  private handlers: Handler[] = [];

  on(match: string | ((call: FakeCall) => boolean), response: FakeResponse | Handler): this {
    const pred = typeof match === 'string' ? (c: FakeCall) => c.command === match : match;
    this.handlers.push((call) => {
      if (!pred(call)) return undefined;
      return typeof response === 'function' ? response(call) : response;
    });
    return this;
  }

  /** Calls as `cmd arg arg` lines, convenient for asserting exact command sequences. */
  lines(): string[] {
    return this.calls.map((c) => [c.command, ...c.args].join(' '));
  }

  async run(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const call: FakeCall = { command, args: [...args], opts };
    this.calls.push(call);
    let res: FakeResponse = {};
    for (const h of this.handlers) {
      const r = await h(call);
      if (r) {
        res = r;
        break;
      }
    }
    for (const s of res.streamStdout ?? []) opts.onStdout?.(s);
    for (const s of res.streamStderr ?? []) opts.onStderr?.(s);
    const exitCode = res.exitCode ?? 0;
    if (!(opts.okExitCodes ?? [0]).includes(exitCode)) {
      throw new ProcessError(command, args, 'exit', exitCode, res.stderr ?? '', res.stdout ?? '');
    }
    return {
      command,
      args: [...args],
      exitCode,
      stdout: res.stdout ?? '',
      stderr: res.stderr ?? '',
      durationMs: 0,
    };
  }
}
