import { TrafficSnapshot } from '@ggnet/contracts';
import type { App } from '../../http/types.js';
import type { LiveTraffic } from './live-traffic.js';

export function registerTrafficRoutes(app: App, deps: { traffic: LiveTraffic }) {
  app.get(
    '/api/v1/traffic',
    {
      schema: {
        tags: ['sessions'],
        summary:
          "Live iSCSI traffic: each live session's bytes read and written and its rates, with the recent samples per machine and for the whole room",
        response: { 200: TrafficSnapshot },
      },
      config: { access: 'viewer' },
    },
    async () => deps.traffic.snapshot(),
  );
}
