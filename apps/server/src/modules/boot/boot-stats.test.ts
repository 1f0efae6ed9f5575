import { describe, expect, it } from 'vitest';
import { bootTiming, computeBootStats, percentile, type TimelineEvent } from './boot-stats.js';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, 0) + s * 1000).toISOString();
const uefi: TimelineEvent[] = [
  { at: t(0), kind: 'dhcp_discover' },
  { at: t(1), kind: 'dhcp_offer' },
  { at: t(2), kind: 'dhcp_ack' },
  { at: t(3), kind: 'tftp' },
  { at: t(5), kind: 'tftp' },
  { at: t(6), kind: 'dhcp_discover' },
  { at: t(7), kind: 'dhcp_ack' },
  { at: t(8), kind: 'script' },
  { at: t(9), kind: 'iscsi_login' },
  { at: t(14), kind: 'os_up' },
];

describe('boot statistics', () => {
  it('splits a UEFI boot into its phases', () => {
    expect(bootTiming(uefi)).toEqual({
      totalMs: 14000,
      phases: { dhcp: 2000, tftp: 3000, script: 3000, iscsi: 1000, os: 5000 },
    });
  });

  it('a boot without TFTP (iPXE ROM) or without OS-up', () => {
    const bios = [
      { at: t(0), kind: 'dhcp_discover' },
      { at: t(1), kind: 'dhcp_ack' },
      { at: t(2), kind: 'script' },
      { at: t(3), kind: 'iscsi_login' },
    ];
    expect(bootTiming(bios)).toEqual({
      totalMs: null,
      phases: { dhcp: 1000, tftp: null, script: 1000, iscsi: 1000, os: null },
    });
  });

  it('percentile is nearest-rank', () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 95)).toBe(4);
    expect(percentile([5], 95)).toBe(5);
  });

  it('per image and slowest machines', () => {
    const shifted = (k: number) =>
      uefi.map((e) => ({ ...e, at: t(((Date.parse(e.at) - Date.parse(t(0))) / 1000) * k) }));
    const stats = computeBootStats(
      t(0),
      [
        { id: 'a', machineId: 'm1', machineName: 'pc-1', imageId: 'i1', imageName: 'Win', events: uefi },
        {
          id: 'b',
          machineId: 'm2',
          machineName: 'pc-2',
          imageId: 'i1',
          imageName: 'Win',
          events: shifted(2),
        },
        {
          id: 'c',
          machineId: 'm2',
          machineName: 'pc-2',
          imageId: 'i2',
          imageName: 'Lin',
          events: shifted(3),
        },
        {
          id: 'd',
          machineId: 'm3',
          machineName: 'pc-3',
          imageId: 'i2',
          imageName: 'Lin',
          events: uefi.slice(0, 8),
        },
      ],
      10,
    );
    expect(stats.sessions).toBe(4);
    expect(stats.completed).toBe(3);
    expect(stats.p50Ms).toBe(28000);
    expect(stats.p95Ms).toBe(42000);
    expect(stats.images.find((i) => i.imageId === 'i1')).toMatchObject({
      boots: 2,
      p50Ms: 14000,
      p95Ms: 28000,
    });
    expect(stats.slowestMachines.map((m) => m.machineName)).toEqual(['pc-2', 'pc-1']);
    expect(stats.slowestMachines[0]).toMatchObject({ boots: 2, maxMs: 42000 });
  });
});
