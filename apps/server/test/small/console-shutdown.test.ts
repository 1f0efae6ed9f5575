import { afterEach, describe, expect, it } from 'vitest';
import { FakeQemuVms } from '../../src/adapters/qemu/qemu-vm.fake.js';
import { smallContext, smallImage, type SmallContext } from '../helpers/small.js';

/** What GGnet's own shutdown does to a running console VM (issue 15 point 3). */
describe('console VM on GGnet shutdown', () => {
  let ctx: SmallContext | null = null;
  afterEach(async () => {
    await ctx?.close();
    ctx = null;
  });

  const start = async (stopOnShutdown: boolean) => {
    const vms = new FakeQemuVms();
    ctx = await smallContext({ container: { qemuVms: vms } });
    await ctx.c.settings.update({ console: { stopOnShutdown, shutdownTimeoutSec: 1 } }, null);
    const img = await smallImage(ctx.c);
    const vm = await ctx.c.consoleVms.start(img.imageId, {});
    return { vms, img, vm };
  };

  it('keeps the VM running by default, for the next GGnet to adopt', async () => {
    const { vms, img } = await start(false);
    await ctx!.c.consoleVms.close();
    expect(vms.isRunning(img.imageId)).toBe(true);
    expect(vms.shutdowns).toEqual([]);
    expect((await ctx!.c.consoleVms.get(img.imageId)).state).toBe('running');
  });

  it('with console.stopOnShutdown: the ACPI button, then power off after the timeout', async () => {
    const { vms, img, vm } = await start(true);
    await ctx!.c.consoleVms.close();
    expect(vms.shutdowns).toEqual([img.imageId]);
    expect(vms.isRunning(img.imageId)).toBe(false);
    const after = await ctx!.c.consoleVms.get(img.imageId);
    expect(after).toMatchObject({ state: 'stopped', pid: null });
    // the maintenance session keeps its disk for apply or discard
    const s = await ctx!.c.repos.sessions.findById(vm.sessionId!);
    expect(s?.state).not.toBe('ended');
  });
});
