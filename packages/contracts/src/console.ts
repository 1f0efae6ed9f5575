import { z } from 'zod';
import { Id, Timestamp } from './common.js';

/**
 * The console VM (issue 15 point 3): a QEMU VM on the server whose disk is an image's maintenance
 * writeback (a maintenance session like a physical PC's: the same apply / discard at the end), with
 * an install medium as a CD if asked, shown in the browser over VNC (WebSocket
 * `/api/v1/images/{id}/console/vnc`, operators only). One per image at a time.
 */
export const CONSOLE_VM_STATES = ['running', 'stopped', 'failed'] as const;
export const ConsoleVmState = z.enum(CONSOLE_VM_STATES);
export type ConsoleVmState = z.infer<typeof ConsoleVmState>;

export const ConsoleAccel = z.enum(['kvm', 'tcg']);
export type ConsoleAccel = z.infer<typeof ConsoleAccel>;

export const ConsoleVm = z.object({
  imageId: Id,
  /** The image's console machine (disabled for network boots; its sessions are the VM's). */
  machineId: Id,
  /** The maintenance session whose disk the VM runs on. */
  sessionId: Id.nullable(),
  state: ConsoleVmState,
  pid: z.number().int().nullable(),
  /** kvm when /dev/kvm can run the VM, tcg (emulation) otherwise. */
  accel: ConsoleAccel,
  memoryMiB: z.number().int(),
  cpus: z.number().int(),
  /** Install medium attached as a CD (boots first), if any. */
  mediaId: Id.nullable(),
  error: z.string().nullable(),
  startedAt: Timestamp,
  stoppedAt: Timestamp.nullable(),
});
export type ConsoleVm = z.infer<typeof ConsoleVm>;

/** POST /api/v1/images/{id}/console: memory and CPUs default to settings `console.*`, within its limits. */
export const ConsoleStart = z.strictObject({
  mediaId: Id.nullable().optional(),
  memoryMiB: z
    .number()
    .int()
    .min(128)
    .max(1024 * 1024)
    .optional(),
  cpus: z.number().int().min(1).max(256).optional(),
});
export type ConsoleStart = z.infer<typeof ConsoleStart>;

/** Close codes of the VNC WebSocket (besides 4401: authenticate again, as on the events socket). */
export const CONSOLE_CLOSE = { forbidden: 4403, noVm: 4404 } as const;
