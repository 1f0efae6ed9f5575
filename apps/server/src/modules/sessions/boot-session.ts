import type { SessionState } from '@ggnet/contracts';

/**
 * The seam between the boot endpoint (GET /boot/ipxe, network boot issue) and the storage + iSCSI
 * side (writebacks, targets). The boot endpoint asks for a session; the implementation ends the
 * machine's previous session, discards its writeback unless kept, makes a fresh writeback, target,
 * ACL and CHAP, and answers with everything the iPXE script needs.
 */
export interface BootSessionRequest {
  machineId: string;
  mode: 'normal' | 'maintenance';
  clientIp: string | null;
  /**
   * A console VM's session (issue 15 point 3): its machine is an image's console machine, disabled
   * for network boots (no PC on the LAN can boot as it), so the disabled check does not apply.
   */
  console?: boolean;
}

export interface BootLun {
  /** iSCSI LUN number (tgt: the boot disk is LUN 1; LUN 0 is the controller). */
  lun: number;
  kind: 'boot' | 'extra';
  imageId: string;
  versionId: string;
}

export interface BootSessionInfo {
  sessionId: string;
  state: SessionState;
  targetIqn: string;
  /** Address and port the client connects to (never 0.0.0.0). */
  portalHost: string;
  portalPort: number;
  initiatorIqn: string;
  /** Boot disk first, then extra disks (sanhook). */
  luns: BootLun[];
  chap: { username: string; password: string };
  /** Mutual CHAP (the target proves itself to the client), when enabled. */
  reverseChap: { username: string; password: string } | null;
}

export interface BootSessionStarter {
  startSession(req: BootSessionRequest): Promise<BootSessionInfo>;
  /**
   * The same answer again for a session that is still `ready` and never logged in to (a repeat
   * request of the client that started it), or null when it is past that point.
   */
  resumeSession?(sessionId: string): Promise<BootSessionInfo | null>;
}
