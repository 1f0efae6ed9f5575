import { describe, expect, it } from 'vitest';
import { parseProgressText, QemuProgressParser } from './qemu-img.progress.js';

describe('qemu-img -p progress parser', () => {
  it('reads the \\r-separated "(NN.NN/100%)" updates', () => {
    expect(
      parseProgressText('    (0.00/100%)\r    (1.01/100%)\r    (50.50/100%)\r    (100.00/100%)\r'),
    ).toEqual([0, 1.01, 50.5, 100]);
  });

  it('copes with updates split across chunks at any byte', () => {
    const text = '    (0.00/100%)\r    (12.34/100%)\r    (99.99/100%)\r    (100.00/100%)\n';
    for (let cut = 1; cut < text.length; cut++) {
      const got: number[] = [];
      const p = new QemuProgressParser((v) => got.push(v));
      p.push(text.slice(0, cut));
      p.push(text.slice(cut));
      expect(got).toEqual([0, 12.34, 99.99, 100]);
    }
  });

  it('reports each value once, never backwards, and ignores other output', () => {
    const got = parseProgressText(
      'qemu-img: warning: something\n    (10.00/100%)\r    (10.00/100%)\r    (5.00/100%)\r    (20.00/100%)',
    );
    expect(got).toEqual([10, 20]);
  });

  it('clamps nonsense above 100', () => {
    expect(parseProgressText('(150.00/100%)\r')).toEqual([100]);
  });
});
