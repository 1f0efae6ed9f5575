import { notifications } from '@mantine/notifications';
import type { LiveEvent } from '@ggnet/contracts';

const REASONS: Record<string, string> = {
  per_hour: 'too many new PCs in the last hour',
  pending_full: 'the list of PCs waiting for approval is full',
  auto_total: 'the total number of machines for automatic registration is reached',
};

/** What a live event says to whoever watches the console, or null for events that need no toast. */
export function bootAlert(e: LiveEvent): { color: string; title: string; message: string } | null {
  const d = (e.data ?? {}) as Record<string, unknown>;
  const s = (k: string) => (typeof d[k] === 'string' ? d[k] : '');
  switch (e.type) {
    case 'machine.registration_capped':
      return {
        color: 'orange',
        title: 'New PCs are not being registered',
        message: `${REASONS[s('reason')] ?? s('reason')} (${s('setting')} = ${String(d.cap)}); ${String(d.refused)} refused, last ${s('mac')} from ${s('ip')}.`,
      };
    case 'boot.maintenance_requested':
      return {
        color: 'blue',
        title: 'Maintenance requested',
        message: `${s('machineName')} (${s('ip')}) asks for maintenance at its boot menu: approve or deny it on the dashboard.`,
      };
    case 'boot.maintenance_pin_wrong':
      return {
        color: 'orange',
        title: 'Wrong maintenance PIN',
        message: `at ${s('machineName')} (${s('mac')}, ${s('ip')})`,
      };
    case 'boot.maintenance_pin_locked':
      return {
        color: 'red',
        title: 'Maintenance PIN entry locked',
        message: `too many wrong PINs (${s('scope')}), last at ${s('machineName')} (${s('ip')})`,
      };
    default:
      return null;
  }
}

/** Shows the boot network's security events as toasts (registration caps, maintenance requests, PINs). */
export function showBootAlert(e: LiveEvent): void {
  const a = bootAlert(e);
  if (a) notifications.show({ ...a, autoClose: 10_000 });
}
