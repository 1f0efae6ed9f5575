import type { BootPhase, BootStats, BootStatsQuery } from '@ggnet/contracts';
import type { BootEventsRepository } from '../boot-events/boot-events.repository.js';
import type { SessionsRepository } from '../sessions/sessions.repository.js';

export interface TimelineEvent {
  at: string;
  kind: string;
}

export type PhaseDurations = Record<BootPhase, number | null>;

export interface BootTiming {
  /** First event of the boot (usually the firmware's DHCPDISCOVER) until "OS up"; null if the OS never said so. */
  totalMs: number | null;
  phases: PhaseDurations;
}

const DHCP: ReadonlySet<string> = new Set(['dhcp_discover', 'dhcp_offer', 'dhcp_request', 'dhcp_ack']);
const ms = (a: string, b: string) => Math.max(0, Date.parse(b) - Date.parse(a));

/**
 * Phases of one boot from its timeline: dhcp (start until the first address), tftp (until the last
 * iPXE download), script (until GGnet served the boot script), iscsi (until the first iSCSI login)
 * and os (until the OS said it is up). A phase that did not happen (no TFTP for clients that already
 * run iPXE, no DHCP when an external server answered) is null.
 */
export function bootTiming(events: TimelineEvent[]): BootTiming {
  const sorted = [...events].sort((a, b) => a.at.localeCompare(b.at));
  const script = sorted.find((e) => e.kind === 'script');
  const before = script ? sorted.filter((e) => e.at <= script.at) : sorted;
  const start = sorted[0]?.at ?? null;
  const firstAck = before.find((e) => e.kind === 'dhcp_ack');
  const lastTftp = [...before].reverse().find((e) => e.kind === 'tftp');
  const login = script ? sorted.find((e) => e.kind === 'iscsi_login' && e.at >= script.at) : undefined;
  const osUp = sorted.find((e) => e.kind === 'os_up');
  const hadDhcp = before.some((e) => DHCP.has(e.kind));
  const phases: PhaseDurations = {
    dhcp: hadDhcp && firstAck && start ? ms(start, firstAck.at) : null,
    tftp: lastTftp ? ms(firstAck?.at ?? start!, lastTftp.at) : null,
    script: script && start ? ms(lastTftp?.at ?? firstAck?.at ?? start, script.at) : null,
    iscsi: script && login ? ms(script.at, login.at) : null,
    os: osUp ? ms(login?.at ?? script?.at ?? start!, osUp.at) : null,
  };
  return { totalMs: osUp && start ? ms(start, osUp.at) : null, phases };
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number | null {
  if (!sorted.length) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

const PHASES: BootPhase[] = ['dhcp', 'tftp', 'script', 'iscsi', 'os'];

function phaseMedians(timings: BootTiming[]): PhaseDurations {
  const out = {} as PhaseDurations;
  for (const p of PHASES) {
    const v = timings
      .map((t) => t.phases[p])
      .filter((x): x is number => x !== null)
      .sort((a, b) => a - b);
    out[p] = percentile(v, 50);
  }
  return out;
}

export interface StatsSession {
  id: string;
  machineId: string;
  machineName: string | null;
  imageId: string | null;
  imageName: string | null;
  events: TimelineEvent[];
}

/** p50/p95 of boot times overall and per image, phase medians, and the slowest machines. */
export function computeBootStats(since: string, sessions: StatsSession[], top: number): BootStats {
  const timed = sessions.map((s) => ({ s, t: bootTiming(s.events) }));
  const done = timed.filter((x) => x.t.totalMs !== null);
  const totals = (xs: typeof done) => xs.map((x) => x.t.totalMs!).sort((a, b) => a - b);

  const byImage = new Map<string, typeof done>();
  for (const x of done) {
    const k = x.s.imageId ?? '';
    byImage.set(k, [...(byImage.get(k) ?? []), x]);
  }
  const images = [...byImage.values()]
    .map((xs) => {
      const v = totals(xs);
      return {
        imageId: xs[0]!.s.imageId,
        imageName: xs[0]!.s.imageName,
        boots: xs.length,
        p50Ms: percentile(v, 50),
        p95Ms: percentile(v, 95),
        phasesP50Ms: phaseMedians(xs.map((x) => x.t)),
      };
    })
    .sort((a, b) => b.boots - a.boots);

  const byMachine = new Map<string, typeof done>();
  for (const x of done) byMachine.set(x.s.machineId, [...(byMachine.get(x.s.machineId) ?? []), x]);
  const slowestMachines = [...byMachine.values()]
    .map((xs) => {
      const v = totals(xs);
      return {
        machineId: xs[0]!.s.machineId,
        machineName: xs[0]!.s.machineName,
        boots: xs.length,
        p50Ms: percentile(v, 50),
        maxMs: v.at(-1) ?? null,
      };
    })
    .sort((a, b) => (b.p50Ms ?? 0) - (a.p50Ms ?? 0))
    .slice(0, top);

  const all = totals(done);
  return {
    since,
    sessions: sessions.length,
    completed: done.length,
    p50Ms: percentile(all, 50),
    p95Ms: percentile(all, 95),
    phasesP50Ms: phaseMedians(done.map((x) => x.t)),
    images,
    slowestMachines,
  };
}

/** `GET /boot/stats`: the boots since `q.since` (default: the last 7 days), from their timelines. */
export async function bootStatsOf(
  sessions: Pick<SessionsRepository, 'startedSince'>,
  repo: Pick<BootEventsRepository, 'eventsOfSessions'>,
  q: BootStatsQuery,
): Promise<BootStats> {
  const since = q.since
    ? new Date(q.since).toISOString()
    : new Date(Date.now() - 7 * 86400_000).toISOString();
  const started = await sessions.startedSince(since, q.imageId, 5000);
  const events = await repo.eventsOfSessions(started.map((s) => s.id));
  const bySession = new Map<string, { at: string; kind: string }[]>();
  for (const e of events) {
    const list = bySession.get(e.session_id!) ?? [];
    list.push({ at: e.at, kind: e.kind });
    bySession.set(e.session_id!, list);
  }
  return computeBootStats(
    since,
    started.map((s) => ({
      id: s.id,
      machineId: s.machine_id,
      machineName: s.machine_name,
      imageId: s.image_id,
      imageName: s.image_name,
      events: bySession.get(s.id) ?? [],
    })),
    q.top,
  );
}
