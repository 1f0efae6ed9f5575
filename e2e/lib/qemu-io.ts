import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { killPid } from '@ggnet/testkit';

export interface IscsiLogin {
  portal: string;
  targetIqn: string;
  lun: number;
  initiatorIqn: string;
  user: string;
  password: string;
}

/** QEMU's iSCSI driver options for one LUN (CHAP, the initiator name the target's ACL allows). */
export function iscsiImageOpts(l: IscsiLogin): string {
  return [
    'driver=iscsi',
    'transport=tcp',
    `portal=${l.portal}`,
    `target=${l.targetIqn}`,
    `lun=${l.lun}`,
    `initiator-name=${l.initiatorIqn}`,
    `user=${l.user}`,
    `password=${l.password}`,
  ].join(',');
}

/**
 * A real initiator with one long iSCSI session: qemu-io (QEMU's libiscsi driver) kept open, fed
 * one command at a time. `prefix` runs it elsewhere, e.g. ['ip', 'netns', 'exec', ns].
 */
export class QemuIo {
  readonly child: ChildProcess;
  private out = '';

  constructor(opts: string, prefix: string[] = []) {
    const [cmd, ...args] = [...prefix, 'qemu-io', '--image-opts', opts];
    this.child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (b: Buffer) => (this.out += b.toString()));
    this.child.stderr!.on('data', (b: Buffer) => (this.out += b.toString()));
  }

  get output(): string {
    return this.out;
  }

  /** Runs one qemu-io command and waits for its report line; throws on any error it prints. */
  async cmd(line: string, expect: RegExp, timeoutMs = 60_000): Promise<string> {
    const start = this.out.length;
    this.child.stdin!.write(`${line}\n`);
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const part = this.out.slice(start);
      if (expect.test(part)) return part;
      if (/Pattern verification failed|error|failed|Input\/output/i.test(part))
        throw new Error(`qemu-io: ${part}`);
      if (this.child.exitCode !== null) throw new Error(`qemu-io exited: ${this.out.slice(-2000)}`);
      await sleep(20);
    }
    throw new Error(`qemu-io: no answer to "${line}": ${this.out.slice(start)}`);
  }

  async close(): Promise<void> {
    const pid = this.child.pid;
    if (this.child.exitCode !== null || pid === undefined) return;
    this.child.stdin!.end('quit\n');
    const until = Date.now() + 5000;
    while (this.child.exitCode === null && Date.now() < until) await sleep(50);
    if (this.child.exitCode === null) await killPid(pid, 2000);
  }
}
