import { IscsiStatus } from '@ggnet/contracts';
import type { App } from '../../http/types.js';
import type { IscsiRuntime } from './iscsi.runtime.js';

export function registerIscsiRoutes(app: App, deps: { iscsi: IscsiRuntime }) {
  app.get(
    '/api/v1/iscsi',
    {
      schema: {
        tags: ['targets'],
        summary:
          "iSCSI side: backend, portal, GGnet's tgtd (state, pid, restarts), targets and connections, last reconcile",
        response: { 200: IscsiStatus },
      },
      config: { access: 'viewer' },
    },
    async () => deps.iscsi.status(),
  );
}
