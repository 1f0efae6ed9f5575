import { unavailable } from '../../errors/app-error.js';
import type { BootSessionInfo, BootSessionRequest, BootSessionStarter } from '../sessions/boot-session.js';

/**
 * Stands in while no iSCSI backend is wired into the container: the boot endpoint then shows the
 * client a readable "cannot boot right now" screen instead of failing.
 */
export class UnwiredSessionStarter implements BootSessionStarter {
  async startSession(_req: BootSessionRequest): Promise<BootSessionInfo> {
    throw unavailable(
      'iscsi_unavailable',
      'GGnet has no iSCSI backend to serve disks from',
      'this build of GGnet does not start boot sessions yet',
    );
  }
}
