import type { Settings } from '@ggnet/contracts';
import type { Logger } from 'pino';
import { AppError } from '../../errors/app-error.js';
import type { MachineRowWithSession, MachinesRepository } from './machines.repository.js';
import type { MachinesService } from './machines.service.js';
import type { RegistrationPolicy } from './registration-policy.js';

/** Why an unknown PC booting now was not registered. */
export type AutoRegistrationRefusal =
  /** machines.autoRegister is off */
  | 'off'
  /** pending: too many PCs wait for approval (machines.pendingMax) */
  | 'pending_full'
  /** another cap of the registration policy (per hour, auto total) */
  | 'capped';

export type AutoRegistrationResult =
  { row: MachineRowWithSession; refused?: undefined } | { row?: undefined; refused: AutoRegistrationRefusal };

export interface AutoRegistrationDeps {
  machines: Pick<MachinesService, 'create'>;
  machinesRepo: Pick<MachinesRepository, 'findByMac' | 'allNames'>;
  log: Logger;
  /** Caps on registrations of unknown MACs; without it every unknown PC is registered. */
  registration?: RegistrationPolicy;
  /** The group whose auto-registration rule (MAC prefix, address range) matches the PC, if any. */
  groupByRules?: (mac: string, ip: string) => Promise<string | null>;
}

/** Registration attempts with the next free name before giving up (names taken concurrently). */
const NAME_ATTEMPTS = 8;

/**
 * The name an unknown PC gets at its `attempt`-th try (0 first) from machines.namePattern:
 * `{mac}` is replaced by the MAC's 12 hex digits (a -2, -3... suffix on retries), `{n}` by the
 * number after the highest one already used with the same prefix and suffix (`usedNames`).
 */
export function autoMachineName(pattern: string, mac: string, attempt: number, usedNames: string[]): string {
  const hex = mac.replace(/:/g, '');
  if (pattern.includes('{mac}')) {
    const base = pattern.replace('{mac}', hex).replace('{n}', '1');
    return attempt === 0 ? base : `${base}-${attempt + 1}`.slice(0, 63);
  }
  const [prefix, suffix] = namePatternParts(pattern);
  const re = new RegExp(`^${prefix.replace(/[-]/g, '\\-')}(\\d+)${suffix.replace(/[-]/g, '\\-')}$`);
  const used = usedNames
    .map((n) => re.exec(n)?.[1])
    .filter((x): x is string => !!x)
    .map(Number);
  const next = (used.length ? Math.max(...used) : 0) + 1 + attempt;
  return `${prefix}${next}${suffix}`;
}

function namePatternParts(pattern: string): [string, string] {
  return pattern.split('{n}') as [string, string];
}

/**
 * Registration of unknown PCs by their first boot (machines.autoRegister): `pending` (waits for an
 * administrator) or `auto` (boots what its group or the defaults say), named after
 * machines.namePattern, within the caps of the registration policy. The PC joins the group whose rule
 * matches it (MAC prefix, address range), else machines.autoRegisterGroupId.
 */
export class AutoRegistration {
  constructor(private readonly d: AutoRegistrationDeps) {}

  /** Registers an unknown MAC per machines.autoRegister; `refused` set = no machine for it now. */
  async register(mac: string, s: Settings, ip: string): Promise<AutoRegistrationResult> {
    const policy = s.machines.autoRegister;
    if (policy === 'off') return { refused: 'off' };
    if (!this.d.registration) return this.registerNow(mac, s, policy, ip);
    const r = await this.d.registration.register(policy, s.machines, { mac, ip }, () =>
      this.registerNow(mac, s, policy, ip),
    );
    if (r.ok) return r.value;
    return { refused: r.reason === 'pending_full' ? 'pending_full' : 'capped' };
  }

  private async registerNow(
    mac: string,
    s: Settings,
    policy: 'pending' | 'auto',
    ip: string,
  ): Promise<{ row: MachineRowWithSession }> {
    // the machine sets no image of its own: its group's, else machines.defaultImageId, applies
    const extra = policy === 'pending' ? { pending: 1 } : {};
    const groupId = (await this.d.groupByRules?.(mac, ip)) ?? s.machines.autoRegisterGroupId;
    for (let attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
      const name = await this.nextName(s.machines.namePattern, mac, attempt);
      try {
        const create = { name, mac, ...(groupId ? { groupId } : {}) };
        const m = await this.d.machines.create(create, extra).catch(async (err: unknown) => {
          // the group was deleted meanwhile: register in no group
          if (err instanceof AppError && err.code === 'group_not_found')
            return this.d.machines.create({ name, mac }, extra);
          throw err;
        });
        this.d.log.info(
          { mac, name: m.name, pending: m.pending, groupId: m.groupId },
          'machine registered by its first boot',
        );
        const row = await this.d.machinesRepo.findByMac(mac);
        if (row) return { row };
      } catch (err) {
        if (err instanceof AppError && err.code === 'mac_taken') {
          const row = await this.d.machinesRepo.findByMac(mac);
          if (row) return { row };
        }
        if (!(err instanceof AppError && err.code === 'name_taken')) throw err;
      }
    }
    throw new AppError(409, 'name_taken', `no free machine name for pattern ${s.machines.namePattern}`, {
      hint: 'change machines.namePattern',
    });
  }

  private async nextName(pattern: string, mac: string, attempt: number): Promise<string> {
    const used = pattern.includes('{mac}')
      ? []
      : await this.d.machinesRepo.allNames(namePatternParts(pattern)[0]);
    return autoMachineName(pattern, mac, attempt, used);
  }
}
