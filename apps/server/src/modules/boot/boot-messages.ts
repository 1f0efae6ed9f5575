import type { AppError } from '../../errors/app-error.js';
import type { BootSessionInfo } from '../sessions/boot-session.js';
import { exitScript, sanbootScript, waitScript } from './ipxe-script.js';
import type { ScriptResult } from './script-decision.js';

// The texts shown on a client's screen when it does not boot from GGnet now, as iPXE scripts
// (the templates are in ipxe-script.ts; the maintenance gate's own screens in maintenance-gate.ts).

/** Seconds a client waits before asking again while its disk is being prepared. */
export const PREPARING_RETRY_SEC = 2;
/** Seconds a client waits before asking again after its session failed to start. */
export const START_ERROR_RETRY_SEC = 30;

export interface NonBootContext {
  baseUrl: string;
  mac: string;
  /** The machine's name (null: not registered; the MAC is shown instead). */
  machineName: string | null;
  /** Name of the machine's image (no_image: it has no published version yet). */
  imageName?: string;
  /** settings.boot.pendingRetrySec */
  pendingRetrySec: number;
}

/** The script for a result that boots nothing: a waiting screen or back to the local disk. */
export function nonBootScript(result: ScriptResult, c: NonBootContext): string {
  const { mac } = c;
  const name = c.machineName ?? mac;
  switch (result) {
    case 'pending':
      return waitScript({
        baseUrl: c.baseUrl,
        title: 'waiting for approval',
        lines: [
          `This PC (${mac}) is registered as ${name} and waits for an administrator.`,
          'Approve it in the GGnet console (Machines) and it boots by itself.',
        ],
        retrySec: c.pendingRetrySec,
      });
    case 'unknown':
      return exitScript(
        'this PC is not registered',
        [
          `MAC ${mac} is unknown to GGnet and automatic registration is off.`,
          'Add it in the GGnet console to boot it from the network; booting the local disk now.',
        ],
        3,
      );
    case 'registration_closed':
      return exitScript(
        'this PC is not registered',
        [`Too many PCs wait for approval; ${mac} was not registered. Booting the local disk.`],
        3,
      );
    case 'registration_capped':
      return exitScript(
        'this PC is not registered',
        [
          `GGnet registers no more new PCs right now (limit reached); ${mac} was not registered.`,
          'An administrator can add it in the GGnet console. Booting the local disk.',
        ],
        3,
      );
    case 'disabled':
      return exitScript(
        `${name} is disabled`,
        ['Enable it in the GGnet console to boot it from the network.'],
        3,
      );
    case 'local':
      return exitScript(`${name} boots from its local disk`, []);
    case 'no_image':
      return exitScript(
        `${name} has no image to boot`,
        [
          c.imageName
            ? `Image ${c.imageName} has no published version yet.`
            : 'Assign an image to this machine in the GGnet console.',
          'Booting the local disk.',
        ],
        3,
      );
    default:
      return exitScript('nothing to boot', []);
  }
}

/** The disk is still being prepared (a boot storm queues on tgtd): iPXE asks again shortly. */
export function preparingScript(o: {
  baseUrl: string;
  machineName: string;
  /** Session starts running right now. */
  inFlight: number;
  /** Query of the next request (the mode chosen in the boot menu, or the retry shows the menu again). */
  query: Record<string, string>;
}): string {
  return waitScript({
    baseUrl: o.baseUrl,
    title: `preparing the disk of ${o.machineName}`,
    lines: [`${o.inFlight} machine(s) are being prepared right now.`],
    retrySec: PREPARING_RETRY_SEC,
    query: o.query,
  });
}

/** The session did not start: the error (an AppError's message and hint), asking again later. */
export function startErrorScript(o: {
  baseUrl: string;
  machineName: string;
  error: AppError | null;
}): string {
  const app = o.error;
  return waitScript({
    baseUrl: o.baseUrl,
    title: `${o.machineName} cannot boot right now`,
    lines: app
      ? [app.message, ...(app.hint ? [`Hint: ${app.hint}`] : [])]
      : ['GGnet could not prepare the disk of this machine (internal error, see the server log).'],
    retrySec: START_ERROR_RETRY_SEC,
  });
}

/** The boot itself: the sanboot script for a started session. */
export function sessionBootScript(
  info: BootSessionInfo,
  o: {
    baseUrl: string;
    machineName: string;
    mac: string;
    imageLabel: string;
    mode: 'normal' | 'maintenance';
    /** settings.boot.retries */
    retries: number;
    /** Install mode: the ISO booted with the boot disk hooked. */
    installMediaId?: string | null;
    /** The image's UEFI bootloader path, when not iPXE's default. */
    uefiBootFile?: string | null;
  },
): string {
  return sanbootScript({
    ...o,
    sessionId: info.sessionId,
    initiatorIqn: info.initiatorIqn,
    portalHost: info.portalHost,
    portalPort: info.portalPort,
    targetIqn: info.targetIqn,
    luns: info.luns,
    chap: info.chap,
    reverseChap: info.reverseChap,
  });
}
