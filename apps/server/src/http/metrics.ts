import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { App } from './types.js';

/** One registry per app instance (tests build many apps in one process). */
export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly gauges = new Map<string, Gauge>();
  readonly counters = new Map<string, Counter>();

  constructor(defaultMetrics = true) {
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'ggnet_process_' });
    this.httpDuration = new Histogram({
      name: 'ggnet_http_request_duration_seconds',
      help: 'HTTP request latency by method, route and status',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
  }

  /** A gauge whose value is read at scrape time. Later modules add theirs (sessions, storage...). */
  gauge(
    name: string,
    help: string,
    collect: () => Promise<number> | number,
    labelNames: string[] = [],
  ): Gauge {
    const existing = this.gauges.get(name);
    if (existing) return existing;
    const g = new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        if (labelNames.length === 0) this.set(await collect());
      },
    });
    this.gauges.set(name, g);
    return g;
  }

  /** A labelled gauge whose series are all read at scrape time (series that are gone disappear). */
  labelledGauge(
    name: string,
    help: string,
    labelNames: string[],
    collect: () => Promise<Array<{ labels: Record<string, string>; value: number }>>,
  ): Gauge {
    const existing = this.gauges.get(name);
    if (existing) return existing;
    const g = new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        const series = await collect();
        this.reset();
        for (const s of series) this.set(s.labels, s.value);
      },
    });
    this.gauges.set(name, g);
    return g;
  }

  counter(name: string, help: string, labelNames: string[] = []): Counter {
    const existing = this.counters.get(name);
    if (existing) return existing;
    const c = new Counter({ name, help, labelNames, registers: [this.registry] });
    this.counters.set(name, c);
    return c;
  }

  register(app: App): void {
    app.addHook('onResponse', async (req, reply) => {
      const route = req.routeOptions.url ?? 'unmatched';
      this.httpDuration.observe(
        { method: req.method, route, status_code: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
    });
  }
}
