import { IscsiStatus } from '@ggnet/contracts';
import type { App } from '../../http/types.js';
import type { IscsiRuntime } from '../targets/iscsi.runtime.js';
import type { Reconciler } from './reconciler.js';

export function registerIscsiRoutes(app: App, deps: { iscsi: IscsiRuntime; reconciler: Reconciler }) {
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
    async () => ({
      ...(await deps.iscsi.status()),
      lastReconcileAt: deps.reconciler.lastReconcileAt,
      lastReconcileError: deps.reconciler.lastReconcileError,
    }),
  );
}
