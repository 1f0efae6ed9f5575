import { IdParams, MaintenanceAccess, MaintenancePinSet, MaintenanceRequest } from '@ggnet/contracts';
import { z } from 'zod';
import type { App } from '../../http/types.js';
import type { MaintenanceGate } from './maintenance-gate.js';

const PinState = z.object({ pinSet: z.boolean() });

/** Maintenance from the boot menu: the PIN (admin) and the requests operators approve or deny. */
export function registerMaintenanceRoutes(app: App, deps: { gate: MaintenanceGate }): void {
  const tags = ['boot'];
  app.get(
    '/api/v1/boot/maintenance',
    {
      schema: {
        tags,
        summary:
          'How maintenance from the boot menu is unlocked (PIN set? approval?) and the PCs waiting for approval',
        response: { 200: MaintenanceAccess },
      },
      config: { access: 'operator' },
    },
    async () => deps.gate.access(),
  );
  for (const [verb, approve] of [
    ['approve', true],
    ['deny', false],
  ] as const) {
    app.post(
      `/api/v1/boot/maintenance/requests/:id/${verb}`,
      {
        schema: {
          tags,
          summary: approve
            ? 'Approve a PC waiting at its boot menu for maintenance: it boots in maintenance mode'
            : 'Deny a PC waiting at its boot menu for maintenance: it boots normally',
          params: IdParams,
          response: { 200: MaintenanceRequest },
        },
        // refused attempts are logged against the request; a decision against its machine
        config: { access: 'operator', audit: `boot.maintenance_${verb}`, targetType: 'maintenance_request' },
      },
      async (req) => {
        const r = deps.gate.decide(req.params.id, approve, req.user!.username);
        req.auditTarget = { type: 'machine', id: r.machineId };
        return r;
      },
    );
  }
  app.put(
    '/api/v1/boot/maintenance/pin',
    {
      schema: {
        tags,
        summary:
          'Set the PIN that unlocks maintenance in the boot menu (4-12 digits; stored hashed, never shown again)',
        body: MaintenancePinSet,
        response: { 200: PinState },
      },
      config: { access: 'admin', audit: 'boot.maintenance_pin_set', targetType: 'settings' },
    },
    async (req) => deps.gate.setPin(req.body.pin, req.user!.username),
  );
  app.delete(
    '/api/v1/boot/maintenance/pin',
    {
      schema: {
        tags,
        summary:
          'Remove the maintenance PIN (maintenance is then offered only with boot.maintenanceApproval)',
        response: { 200: PinState },
      },
      config: { access: 'admin', audit: 'boot.maintenance_pin_clear', targetType: 'settings' },
    },
    async (req) => deps.gate.setPin(null, req.user!.username),
  );
}
