import { Gauge } from 'prom-client';
import type { Metrics } from '../../http/metrics.js';
import type { LiveTraffic } from './live-traffic.js';

/**
 * Prometheus: `ggnet_session_bytes_total{machine,direction}` (bytes clients read and wrote over
 * iSCSI, increased by each sample's difference, so `rate()` works across reconnects) and the room's
 * throughput at the last sample, `ggnet_traffic_bytes_per_second{direction}`.
 */
export function registerTrafficMetrics(metrics: Metrics, live: LiveTraffic): void {
  const bytes = metrics.counter(
    'ggnet_session_bytes_total',
    'Bytes read (direction=read) and written (direction=write) by each machine over iSCSI (TCP payload of its portal connections)',
    ['machine', 'direction'],
  );
  live.onSample((_, deltas) => {
    for (const d of deltas) {
      const machine = d.machineName ?? d.machineId;
      if (d.read) bytes.inc({ machine, direction: 'read' }, d.read);
      if (d.written) bytes.inc({ machine, direction: 'write' }, d.written);
    }
  });
  if (metrics.gauges.has('ggnet_traffic_bytes_per_second')) return;
  const gauge = new Gauge({
    name: 'ggnet_traffic_bytes_per_second',
    help: 'Room-wide iSCSI throughput over the last sampling interval: read and written by all clients',
    labelNames: ['direction'],
    registers: [metrics.registry],
    collect() {
      const now = live.current();
      this.set({ direction: 'read' }, now?.readBytesPerSec ?? 0);
      this.set({ direction: 'write' }, now?.writeBytesPerSec ?? 0);
    },
  });
  metrics.gauges.set('ggnet_traffic_bytes_per_second', gauge);
}
