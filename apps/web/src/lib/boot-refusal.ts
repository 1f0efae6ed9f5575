/** Why GGnet turned a boot request down (boot event `refused`, issue 10). */
export function refusalLabel(reason: string): string {
  switch (reason) {
    case 'in_use':
      return 'another PC asked for a running machine';
    case 'booting':
      return 'another PC asked for a booting machine';
    case 'fixed_ip':
      return 'not from the fixed IP';
    case 'not_leased':
      return 'address not leased to this MAC';
    default:
      return reason.replace('_', ' ');
  }
}
