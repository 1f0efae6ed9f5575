import { afterEach, describe, expect, it, vi } from 'vitest';
import { QueryClient, type QueryKey } from '@tanstack/react-query';
import type { Job, Machine, Page } from '@ggnet/contracts';
import { applyEvent, keys, throttledInvalidator } from './apply-event';
import { eventFeed } from './event-feed';

const machine = (id: string, status: Machine['status'] = 'offline') => ({ id, name: id, status }) as Machine;
const job = (id: string, percent: number) =>
  ({
    id,
    type: 'image.convert',
    state: 'running',
    payload: {},
    progress: { percent, bytesDone: null, bytesTotal: null, bytesPerSec: null, etaSec: null, stage: null },
  }) as unknown as Job;

function setup() {
  const qc = new QueryClient();
  const invalidated: QueryKey[] = [];
  const inv = (k: QueryKey) => invalidated.push(k);
  return { qc, invalidated, inv };
}

afterEach(() => vi.useRealTimers());

describe('applyEvent', () => {
  it('patches an updated machine into every cached list and marks machine queries stale', () => {
    const { qc, invalidated, inv } = setup();
    qc.setQueryData([...keys.machines, 'list', { page: 1 }], {
      items: [machine('a'), machine('b')],
      total: 2,
    });
    qc.setQueryData([...keys.machines, 'list', { q: 'b' }], { items: [machine('b')], total: 1 });
    applyEvent(qc, { type: 'machine.updated', id: 'b', data: machine('b', 'online') }, inv);
    const all = qc.getQueriesData<Page<Machine>>({ queryKey: keys.machines });
    for (const [, page] of all) expect(page!.items.find((m) => m.id === 'b')!.status).toBe('online');
    expect(invalidated).toEqual([keys.machines, keys.groups]);
  });

  it('removes a deleted machine and lowers the total', () => {
    const { qc, inv } = setup();
    const key = [...keys.machines, 'list', {}];
    qc.setQueryData(key, { items: [machine('a'), machine('b')], total: 7 });
    applyEvent(qc, { type: 'machine.deleted', id: 'a', data: null }, inv);
    expect(qc.getQueryData<Page<Machine>>(key)).toEqual({ items: [machine('b')], total: 6 });
  });

  it('patches job progress in place without a refetch when the job is on screen', () => {
    const { qc, invalidated, inv } = setup();
    const key = [...keys.jobs, 'list', { state: 'running' }];
    qc.setQueryData(key, { items: [job('j1', 5)], total: 1 });
    applyEvent(
      qc,
      { type: 'job.progress', id: 'j1', data: { percent: 42.5, bytesPerSec: 1e6, etaSec: 12 } },
      inv,
    );
    const p = qc.getQueryData<Page<Job>>(key)!.items[0]!.progress!;
    expect(p.percent).toBe(42.5);
    expect(p.etaSec).toBe(12);
    expect(invalidated).toEqual([]);
    // the server sends the whole job with its progress
    applyEvent(
      qc,
      { type: 'job.progress', id: 'j1', data: { ...job('j1', 0), progress: { ...p, percent: 77 } } },
      inv,
    );
    expect(qc.getQueryData<Page<Job>>(key)!.items[0]!.progress!.percent).toBe(77);
    expect(invalidated).toEqual([]);
    // a job nobody has fetched yet: refetch the job lists
    applyEvent(qc, { type: 'job.progress', id: 'j2', data: { percent: 1 } }, inv);
    expect(invalidated).toEqual([keys.jobs]);
  });

  it('maps topics to the queries they make stale', () => {
    const { qc, invalidated, inv } = setup();
    applyEvent(qc, { type: 'session.ended', id: 's1', data: null }, inv);
    expect(invalidated).toEqual([keys.sessions, keys.machines, keys.targets, keys.groups]);
    invalidated.length = 0;
    applyEvent(qc, { type: 'version.published', id: 'v1', data: null }, inv);
    expect(invalidated).toEqual([keys.images, keys.groups]);
    invalidated.length = 0;
    applyEvent(qc, { type: 'unknown.thing', id: 'x', data: null }, inv);
    expect(invalidated).toEqual([]);
    applyEvent(qc, { type: 'boot.event', id: '17', data: { id: 17, kind: 'tftp' } }, inv);
    expect(invalidated).toEqual([keys.sessions, keys.boot]);
    invalidated.length = 0;
    applyEvent(qc, { type: 'boot.dhcp', id: 'dhcp', data: { daemon: 'running' } }, inv);
    expect(invalidated).toEqual([keys.dhcp]);
  });
});

describe('throttledInvalidator', () => {
  it('coalesces a burst of events into one invalidation per key', () => {
    vi.useFakeTimers();
    const qc = new QueryClient();
    const spy = vi.spyOn(qc, 'invalidateQueries').mockResolvedValue(undefined);
    const inv = throttledInvalidator(qc, 400);
    for (let i = 0; i < 200; i++) inv(keys.machines);
    inv(keys.sessions);
    expect(spy).not.toHaveBeenCalled();
    vi.advanceTimersByTime(400);
    expect(spy).toHaveBeenCalledTimes(2);
    inv(keys.machines);
    vi.advanceTimersByTime(400);
    expect(spy).toHaveBeenCalledTimes(3);
  });
});

describe('eventFeed', () => {
  it('keeps the newest events first, without progress ticks', () => {
    eventFeed.clear();
    eventFeed.push({ type: 'machine.created', id: 'a', data: null }, 1);
    eventFeed.push({ type: 'job.progress', id: 'j', data: null }, 2);
    eventFeed.push({ type: 'session.ended', id: 's', data: null }, 3);
    expect(eventFeed.get().map((e) => e.type)).toEqual(['session.ended', 'machine.created']);
  });
});
