import { it, expect } from 'vitest';
import { buildBootDisk } from './lib/bootdisk.js';
it('builds', async () => {
  const d = await buildBootDisk((l) => console.log(l));
  console.log(d);
  expect(d.raw).toBeTruthy();
}, 600_000);
