import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import type { BootSessionInfo, BootSessionRequest } from '../sessions/boot-session.js';
import { fakeSessionInfo } from './boot-session.fake.js';
import { SessionStarts } from './session-starts.js';

/** A session starter whose starts finish when the test says so. */
class ManualStarter {
  started: BootSessionRequest[] = [];
  resumed: string[] = [];
  private pending: Array<{ resolve: (i: BootSessionInfo) => void; reject: (e: Error) => void }> = [];

  startSession = (req: BootSessionRequest) => {
    this.started.push(req);
    return new Promise<BootSessionInfo>((resolve, reject) => this.pending.push({ resolve, reject }));
  };
  resumeSession = async (id: string) => {
    this.resumed.push(id);
    return info(id);
  };
  finish(n: number): void {
    this.pending[n]!.resolve(info(`s${n + 1}`));
  }
  fail(n: number, err: Error): void {
    this.pending[n]!.reject(err);
  }
}

const info = (sessionId: string) => fakeSessionInfo(sessionId);

function setup(waitMs = 1000, osUp = false) {
  const starter = new ManualStarter();
  const starts = new SessionStarts({
    sessions: starter,
    hasKind: async () => osUp,
    log: pino({ level: 'silent' }),
    waitMs,
  });
  return { starter, starts };
}

describe('SessionStarts', () => {
  it('requests of the same boot share one start and get the same session', async () => {
    const { starter, starts } = setup();
    const a = starts.sessionFor('m1', 'normal', '10.0.0.5', starts.arrive());
    const b = starts.sessionFor('m1', 'normal', '10.0.0.5', starts.arrive());
    await Promise.resolve();
    expect(starts.inFlight()).toBe(1);
    expect(starts.unsettled('m1')).toMatchObject({ mode: 'normal', clientIp: '10.0.0.5' });
    starter.finish(0);
    expect((await a)?.sessionId).toBe('s1');
    expect((await b)?.sessionId).toBe('s1');
    expect(starter.started).toHaveLength(1);
    expect(starts.inFlight()).toBe(0);
    expect(starts.unsettled('m1')).toBeNull();
  });

  it('another address or mode while a start runs: "preparing" (null), never a second start', async () => {
    const { starter, starts } = setup();
    const a = starts.sessionFor('m1', 'normal', '10.0.0.5', starts.arrive());
    expect(await starts.sessionFor('m1', 'normal', '10.0.0.6', starts.arrive())).toBeNull();
    expect(await starts.sessionFor('m1', 'maintenance', '10.0.0.5', starts.arrive())).toBeNull();
    starter.finish(0);
    await a;
    expect(starter.started).toHaveLength(1);
  });

  it('a request after the session was handed out is a new boot', async () => {
    const { starter, starts } = setup();
    const a = starts.sessionFor('m1', 'normal', '10.0.0.5', starts.arrive());
    starter.finish(0);
    expect((await a)?.sessionId).toBe('s1');
    const b = starts.sessionFor('m1', 'normal', '10.0.0.5', starts.arrive());
    await Promise.resolve();
    expect(starter.started).toHaveLength(2);
    starter.finish(1);
    expect((await b)?.sessionId).toBe('s2');
  });

  it('not ready in time: null, and the next request picks the same start up', async () => {
    const { starter, starts } = setup(5);
    expect(await starts.sessionFor('m1', 'normal', '10.0.0.5', starts.arrive())).toBeNull();
    starter.finish(0);
    expect((await starts.sessionFor('m1', 'normal', '10.0.0.5', starts.arrive()))?.sessionId).toBe('s1');
    expect(starter.started).toHaveLength(1);
  });

  it('a failed start: the requests that waited for it get its error, not a second attempt', async () => {
    const { starter, starts } = setup();
    const a = starts.sessionFor('m1', 'normal', '10.0.0.5', starts.arrive());
    const b = starts.sessionFor('m1', 'normal', '10.0.0.5', starts.arrive());
    starter.fail(0, new Error('tgtd is down'));
    await expect(a).rejects.toThrow('tgtd is down');
    await expect(b).rejects.toThrow('tgtd is down');
    expect(starter.started).toHaveLength(1);
  });

  it('resumes the session of a client asking again before its OS came up', async () => {
    const { starter, starts } = setup();
    expect((await starts.sessionFor('m1', 'normal', '10.0.0.5', starts.arrive(), 's9'))?.sessionId).toBe(
      's9',
    );
    expect(starter.resumed).toEqual(['s9']);
    expect(starter.started).toHaveLength(0);
    // an OS that said it is up booted from it: a new session
    const up = setup(1000, true);
    const p = up.starts.sessionFor('m1', 'normal', '10.0.0.5', up.starts.arrive(), 's9');
    await vi.waitFor(() => expect(up.starter.started).toHaveLength(1));
    up.starter.finish(0);
    expect((await p)?.sessionId).toBe('s1');
    expect(up.starter.resumed).toEqual([]);
  });
});
