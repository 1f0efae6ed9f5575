import type { Container } from '../../container.js';

/**
 * `ggnet serve`'s iSCSI side: warns about the copy storage backend, starts (or adopts) GGnet's tgtd,
 * reconciles once, then keeps the reconciler, the session monitor and the boot preparation running. On stop tgtd keeps
 * running, so that booted clients keep their disks while GGnet restarts.
 */
export async function startIscsiServices(c: Container): Promise<() => Promise<void>> {
  await c.storage.startupCheck().catch((err) => c.log.error({ err }, 'storage check failed'));
  try {
    await c.iscsi.start();
  } catch (err) {
    // the API stays up (settings can be fixed there); reconcile passes report the failure
    c.log.error({ err }, 'the iSCSI target could not be started; clients cannot boot until this is fixed');
  }
  // the qcow2 backend's qemu-storage-daemon: adopted (it outlives GGnet like tgtd) or started
  await c.storage
    .startDaemons()
    .catch((err) => c.log.error({ err }, 'qemu-storage-daemon could not be started'));
  await c.reconciler.run('start-up').catch((err) => c.log.error({ err }, 'start-up reconcile failed'));
  c.reconciler.start(c.config.reconcileIntervalSec * 1000);
  c.sessionMonitor.start(c.config.sessionMonitorIntervalSec * 1000);
  // after the start-up pass: the next boots are prepared on a host that matches the database
  c.bootPreparer.start();
  return async () => {
    c.bootPreparer.stop();
    await c.bootPreparer.idle();
    c.sessionMonitor.stop();
    c.reconciler.stop();
    await c.reconciler.idle();
    await c.storage.stopRefills();
    await c.iscsi.stop(false);
    await c.qsd.stop(false);
  };
}
