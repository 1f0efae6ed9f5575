import type { BootEvent, Session } from '@ggnet/contracts';

export interface Phase {
  key: string;
  label: string;
  startMs: number;
  endMs: number;
}

/** The boot phases in order; each runs from its first event to the first event of a later phase. */
const STEPS: Array<{ key: string; label: string; kinds: string[] }> = [
  { key: 'dhcp', label: 'DHCP', kinds: ['dhcp_discover', 'dhcp_offer', 'dhcp_request', 'dhcp_ack'] },
  { key: 'tftp', label: 'TFTP', kinds: ['tftp'] },
  { key: 'script', label: 'Boot script', kinds: ['script'] },
  { key: 'iscsi', label: 'iSCSI login', kinds: ['iscsi_login'] },
  { key: 'os', label: 'OS up', kinds: ['os_up'] },
];

/**
 * Turns a session's boot events into consecutive phases (DHCP -> TFTP -> script -> iSCSI login ->
 * OS up). The last phase ends at OS up or, while the boot is still going, at `now`. Without boot
 * events (older servers), the session's own timestamps give a coarser two-phase bar.
 */
export function bootPhases(events: BootEvent[], session: Session, now: number): Phase[] {
  const firstOf = (kinds: string[]) => {
    const ts = events.filter((e) => kinds.includes(e.kind)).map((e) => Date.parse(e.at));
    return ts.length ? Math.min(...ts) : null;
  };
  const marks = STEPS.map((s) => ({ ...s, at: firstOf(s.kinds) })).filter(
    (m): m is typeof m & { at: number } => m.at !== null,
  );
  const endOfBoot = session.activeAt
    ? Date.parse(session.activeAt)
    : session.endedAt
      ? Date.parse(session.endedAt)
      : now;
  if (marks.length) {
    const osUp = marks.find((m) => m.key === 'os');
    const phases: Phase[] = [];
    const steps = marks.filter((m) => m.key !== 'os');
    steps.forEach((m, i) => {
      const next = steps[i + 1]?.at ?? osUp?.at ?? endOfBoot;
      phases.push({ key: m.key, label: m.label, startMs: m.at, endMs: Math.max(m.at, next) });
    });
    return phases;
  }
  const start = Date.parse(session.startedAt);
  const ready = session.readyAt ? Date.parse(session.readyAt) : null;
  const out: Phase[] = [];
  out.push({ key: 'script', label: 'Disk prepared', startMs: start, endMs: ready ?? endOfBoot });
  if (ready !== null)
    out.push({ key: 'iscsi', label: 'Booting OS', startMs: ready, endMs: Math.max(ready, endOfBoot) });
  return out;
}
