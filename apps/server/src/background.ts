import type { Container } from './container.js';
import { startIscsiServices } from './modules/reconcile/iscsi.background.js';
import { startJobServices } from './modules/jobs/job-services.js';
import { startPowerServices } from './modules/power/power.background.js';

/**
 * Long-running work that `ggnet serve` starts after the HTTP server listens (job worker,
 * reconciler, supervised daemons such as tgtd and dnsmasq). Each entry starts its work and
 * returns the function that stops it; they are stopped in reverse order on shutdown.
 * Add one line per feature here.
 */
export type BackgroundService = (c: Container) => Promise<() => Promise<void>>;

export const backgroundServices: BackgroundService[] = [
  // tgtd + reconciler + session monitor (issue 4)
  startIscsiServices,
  // job worker (unless GGNET_WORKER=false) + relay of other workers' progress to the events WebSocket
  startJobServices,
  // DHCP / proxyDHCP / TFTP (dnsmasq) following the settings; its log feeds the boot timelines
  async (c) => {
    await c.dhcp.start();
    return () => c.dhcp.stop();
  },
  // the boot endpoint on network.bootHttpPort, when set
  async (c) => {
    await c.bootHttp.start();
    return () => c.bootHttp.stop();
  },
  // space alerts: samples the array, images and writebacks every alerts.intervalSec (issue 14 point 5)
  async (c) => {
    c.alertsMonitor.start();
    return () => c.alertsMonitor.stop();
  },
  // power schedules (wake at opening time, shutdown at closing time) and the paced Wake-on-LAN queue
  startPowerServices,
];
