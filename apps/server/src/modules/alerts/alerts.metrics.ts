import { Gauge } from 'prom-client';
import type { Metrics } from '../../http/metrics.js';
import type { AlertsRepository } from './alerts.repository.js';
import type { AlertsService } from './alerts.service.js';

/**
 * Prometheus gauges of the space measures, read from the alerts module's last sample (a scrape never
 * walks the disks), and the open alerts per kind and severity (from the database).
 */
export function registerAlertsMetrics(metrics: Metrics, alerts: AlertsService, repo: AlertsRepository): void {
  const last = () => alerts.last?.sample ?? null;
  metrics.gauge(
    'ggnet_storage_total_bytes',
    'Size of the storage root filesystem (last alerts sample)',
    () => last()?.totalBytes ?? 0,
  );
  metrics.gauge(
    'ggnet_storage_free_bytes',
    'Free bytes of the storage root filesystem (last alerts sample)',
    () => last()?.freeBytes ?? 0,
  );
  metrics.gauge(
    'ggnet_storage_reserve_bytes',
    'Free bytes below which new writebacks are refused (storage.reserveBytes)',
    () => last()?.reserveBytes ?? 0,
  );
  const registers = [metrics.registry];
  new Gauge({
    name: 'ggnet_writeback_used_bytes',
    help: 'Bytes each live writeback owns (blocks not shared with its version), last alerts sample',
    labelNames: ['writeback', 'machine', 'image'],
    registers,
    collect() {
      this.reset();
      for (const w of last()?.writebacks ?? [])
        if (w.usedBytes !== null)
          this.set({ writeback: w.id, machine: w.machineName ?? w.machineId, image: w.imageId }, w.usedBytes);
    },
  });
  new Gauge({
    name: 'ggnet_image_used_bytes',
    help: 'Bytes of each image: its version files and its live writebacks, last alerts sample',
    labelNames: ['image', 'part'],
    registers,
    collect() {
      this.reset();
      for (const i of last()?.images ?? []) {
        this.set({ image: i.name, part: 'versions' }, i.versionBytes);
        this.set({ image: i.name, part: 'writebacks' }, i.writebackBytes);
      }
    },
  });
  new Gauge({
    name: 'ggnet_alerts_open',
    help: 'Open (raised, not cleared) space alerts by kind and severity',
    labelNames: ['kind', 'severity'],
    registers,
    async collect() {
      this.reset();
      for (const r of await repo.openCounts()) this.set({ kind: r.kind, severity: r.severity }, r.n);
    },
  });
}
