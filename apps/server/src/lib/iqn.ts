import type { Settings } from '@ggnet/contracts';
import { HOSTNAME_RE, IQN_RE } from '@ggnet/contracts';

const reverse = (domain: string) => domain.split('.').reverse().join('.');

/** `iqn.<yyyy-mm>.<reversed domain>` from the iSCSI settings. */
export const iqnPrefix = (s: Settings['iscsi']): string => `iqn.${s.iqnDate}.${reverse(s.iqnDomain)}`;

function checked(iqn: string): string {
  if (!IQN_RE.test(iqn)) throw new Error(`invalid IQN built: ${iqn}`);
  return iqn;
}

/** The target a machine boots from: `iqn.<yyyy-mm>.<reversed domain>:<machine-name>`. */
export function targetIqn(s: Settings['iscsi'], machineName: string, suffix?: string): string {
  if (!HOSTNAME_RE.test(machineName)) throw new Error(`invalid machine name for an IQN: ${machineName}`);
  return checked(`${iqnPrefix(s)}:${machineName}${suffix ? `.${suffix}` : ''}`);
}

/** The initiator name the boot script gives iPXE (`set initiator-iqn`), bound in the target's ACL. */
export function initiatorIqn(s: Settings['iscsi'], machineName: string): string {
  if (!HOSTNAME_RE.test(machineName)) throw new Error(`invalid machine name for an IQN: ${machineName}`);
  return checked(`${iqnPrefix(s)}:initiator.${machineName}`);
}
