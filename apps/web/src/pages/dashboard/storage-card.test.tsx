import { describe, expect, it } from 'vitest';
import { storageSections } from './storage-bar';

describe('storage bar', () => {
  it('splits used space into versions, writebacks and other data, and puts the reserve in the free space', () => {
    const GiB = 1024 ** 3;
    const x = storageSections({
      totalBytes: 100 * GiB,
      freeBytes: 40 * GiB,
      reserveBytes: 10 * GiB,
      versionBytes: 35 * GiB,
      writebackBytes: 5 * GiB,
    });
    expect(x.used / GiB).toBe(60);
    expect([x.versions, x.writebacks, x.other, x.reserve].map((v) => v / GiB)).toEqual([35, 5, 20, 10]);
    expect(x.pct(x.versions)).toBe(35);
    // a reserve larger than the free space is drawn as the free space (and reported as below reserve)
    expect(
      storageSections({ totalBytes: 100, freeBytes: 5, reserveBytes: 20, versionBytes: 0, writebackBytes: 0 })
        .reserve,
    ).toBe(5);
  });
});
