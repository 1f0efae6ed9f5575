import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { KeyedMutex } from './keyed-mutex.js';

describe('KeyedMutex', () => {
  it('serialises one key, runs different keys in parallel, forgets idle keys', async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    let running = 0;
    let maxRunning = 0;
    const job = (key: string, name: string) =>
      m.run(key, async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        log.push(`start ${name}`);
        await sleep(20);
        log.push(`end ${name}`);
        running--;
        return name;
      });
    const results = await Promise.all([job('a', 'a1'), job('a', 'a2'), job('b', 'b1')]);
    expect(results).toEqual(['a1', 'a2', 'b1']);
    expect(log.indexOf('end a1')).toBeLessThan(log.indexOf('start a2'));
    expect(maxRunning).toBe(2);
    expect(m.size).toBe(0);
  });

  it('a failure releases the key', async () => {
    const m = new KeyedMutex();
    await expect(m.run('k', async () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    await expect(m.run('k', async () => 1)).resolves.toBe(1);
  });
});
