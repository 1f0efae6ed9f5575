import { describe, expect, it } from 'vitest';
import { defaultSettings, type Settings } from '@ggnet/contracts';
import { escalates, isOpen, measures, type SpaceSample } from './alert-rules.js';

const GiB = 1024 ** 3;

function settings(over: Partial<Settings['alerts']> = {}): Settings {
  const s = defaultSettings();
  s.alerts = { ...s.alerts, ...over };
  return s;
}

const sample = (over: Partial<SpaceSample> = {}): SpaceSample => ({
  root: '/var/lib/ggnet/versions',
  totalBytes: 1000 * GiB,
  freeBytes: 500 * GiB,
  reserveBytes: 10 * GiB,
  writebacks: [
    { id: 'wb-1', machineId: 'm-1', machineName: 'pc-1', imageId: 'img-1', usedBytes: 3 * GiB },
    { id: 'wb-2', machineId: 'm-2', machineName: 'pc-2', imageId: 'img-1', usedBytes: 1 * GiB },
    { id: 'wb-3', machineId: 'm-3', machineName: 'pc-3', imageId: 'img-1', usedBytes: null },
  ],
  images: [{ imageId: 'img-1', name: 'win11', versionBytes: 40 * GiB, writebackBytes: 4 * GiB }],
  ...over,
});

const byKey = (ms: ReturnType<typeof measures>) => new Map(ms.map((m) => [m.key, m]));

describe('thresholds', () => {
  it('above: opens strictly over the threshold', () => {
    expect(isOpen(false, 100, 100, 'above', 5)).toBe(false);
    expect(isOpen(false, 101, 100, 'above', 5)).toBe(true);
    expect(isOpen(false, 99, 100, 'above', 5)).toBe(false);
  });

  it('below: opens strictly under the threshold', () => {
    expect(isOpen(false, 100, 100, 'below', 5)).toBe(false);
    expect(isOpen(false, 99, 100, 'below', 5)).toBe(true);
  });
});

describe('hysteresis: a value wobbling at the line raises once and clears once', () => {
  it('above: stays open until the value is 5 % of the threshold back', () => {
    const values = [99, 101, 99, 100.5, 96, 95.5, 95, 97, 99, 101];
    let open = false;
    const transitions: string[] = [];
    for (const v of values) {
      const next = isOpen(open, v, 100, 'above', 5);
      if (next !== open) transitions.push(`${next ? 'raise' : 'clear'}@${v}`);
      open = next;
    }
    expect(transitions).toEqual(['raise@101', 'clear@95', 'raise@101']);
  });

  it('below (free space): stays open until free is 5 % above the floor', () => {
    const values = [101, 99, 101, 104.9, 105, 104, 99];
    let open = false;
    const transitions: string[] = [];
    for (const v of values) {
      const next = isOpen(open, v, 100, 'below', 5);
      if (next !== open) transitions.push(`${next ? 'raise' : 'clear'}@${v}`);
      open = next;
    }
    expect(transitions).toEqual(['raise@99', 'clear@105', 'raise@99']);
  });

  it('0 % hysteresis clears as soon as the value is back at the line', () => {
    expect(isOpen(true, 100, 100, 'above', 0)).toBe(false);
    expect(isOpen(true, 100.1, 100, 'above', 0)).toBe(true);
  });
});

describe('measures', () => {
  it('only the set thresholds: by default the array usage and the reserve, no writeback or image limit', () => {
    const ms = measures(sample(), settings(), new Map());
    expect(ms.map((m) => m.kind).sort()).toEqual(['array.reserve', 'array.usage']);
    const usage = byKey(ms).get('array.usage:root')!;
    expect(usage.value).toBe(50);
    expect(usage.threshold).toBe(85);
    const reserve = byKey(ms).get('array.reserve:root')!;
    expect(reserve.direction).toBe('below');
    expect(reserve.threshold).toBe(30 * GiB);
    expect(reserve.value).toBe(500 * GiB);
  });

  it('a machine limit wins over the global one; writebacks of unknown size are left out', () => {
    const ms = byKey(
      measures(sample(), settings({ writebackLimitBytes: 2 * GiB }), new Map([['m-2', 512 * 1024 ** 2]])),
    );
    expect(ms.get('writeback.limit:wb-1')).toMatchObject({
      threshold: 2 * GiB,
      value: 3 * GiB,
      subjectName: 'pc-1',
      machineId: 'm-1',
    });
    expect(ms.get('writeback.limit:wb-2')).toMatchObject({ threshold: 512 * 1024 ** 2, value: GiB });
    expect(ms.has('writeback.limit:wb-3')).toBe(false);
    expect(ms.get('writeback.limit:wb-1')!.message).toMatch(
      /pc-1 owns 3(\.0)? GiB, over its soft limit of 2(\.0)? GiB/,
    );
  });

  it('per-machine limits alone (no global one) only measure those machines', () => {
    const ms = measures(sample(), settings(), new Map([['m-1', GiB]]));
    expect(ms.filter((m) => m.kind === 'writeback.limit').map((m) => m.subjectId)).toEqual(['wb-1']);
  });

  it('total of the writebacks and image size against their limits', () => {
    const ms = byKey(
      measures(
        sample(),
        settings({ writebacksTotalLimitBytes: 3 * GiB, imageLimitBytes: 50 * GiB }),
        new Map(),
      ),
    );
    expect(ms.get('writebacks.total:all')).toMatchObject({ value: 4 * GiB, threshold: 3 * GiB });
    expect(ms.get('image.limit:img-1')).toMatchObject({
      value: 44 * GiB,
      threshold: 50 * GiB,
      subjectName: 'win11',
    });
  });

  it('the reserve alert warns before the reserve and is critical below it', () => {
    const near = byKey(measures(sample({ freeBytes: 25 * GiB }), settings(), new Map())).get(
      'array.reserve:root',
    )!;
    expect(isOpen(false, near.value, near.threshold, near.direction, 5)).toBe(true);
    expect(near.severity).toBe('warning');
    expect(near.message).toMatch(/before the reserve/);
    const below = byKey(measures(sample({ freeBytes: 5 * GiB }), settings(), new Map())).get(
      'array.reserve:root',
    )!;
    expect(below.severity).toBe('critical');
    expect(below.message).toMatch(/new boots are refused/);
  });

  it('array usage is critical from 95 %', () => {
    const m = byKey(measures(sample({ freeBytes: 40 * GiB }), settings(), new Map())).get(
      'array.usage:root',
    )!;
    expect(m.value).toBe(96);
    expect(m.severity).toBe('critical');
    expect(escalates('warning', 'critical')).toBe(true);
    expect(escalates('critical', 'warning')).toBe(false);
  });
});
