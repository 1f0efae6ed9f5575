import { createHash, randomBytes } from 'node:crypto';
import type {
  AgentAck,
  AgentClaimResponse,
  AgentCommand,
  AgentCommandCreate,
  AgentFacts,
  AgentReport,
  BootEvent,
  LiveEvent,
  MachineAgent,
} from '@ggnet/contracts';
import type { Logger } from 'pino';
import { nowIso } from '../../db/database.js';
import { AppError, conflict, notFound } from '../../errors/app-error.js';
import type { EventBus } from '../../events/event-bus.js';
import { newId } from '../../lib/ids.js';
import type { BootEventRecorder } from '../boot-events/boot-event-recorder.js';
import type { BootEventsRepository } from '../boot-events/boot-events.repository.js';
import type { MachinesRepository } from '../machines/machines.repository.js';
import type { SessionOrchestrator } from '../sessions/session-orchestrator.js';
import { LongPolls } from './long-polls.js';
import { factsOf, toAgentCommand, type AgentRepository, type AgentSessionLive } from './agent.repository.js';

/** The agent reports every this many seconds (told at the claim). */
export const AGENT_HEARTBEAT_SEC = 30;
/** Longest wait of one command poll: below the usual 60 s idle timeouts of proxies on the way. */
export const AGENT_MAX_WAIT_SEC = 25;
/** An agent not heard from (report or poll) for this long is offline. */
export const AGENT_ONLINE_WINDOW_MS = 3 * AGENT_HEARTBEAT_SEC * 1000;
/** Open long polls on the whole server at most (one per session; more are answered at once). */
export const AGENT_MAX_POLLS = 5000;

const TOKEN_RE = /^[A-Za-z0-9_-]{20,128}$/;
const hashToken = (t: string) => createHash('sha256').update(t).digest('hex');

export interface AgentServiceDeps {
  repo: AgentRepository;
  machinesRepo: Pick<MachinesRepository, 'findById'>;
  events: Pick<BootEventsRepository, 'hasKind'>;
  recorder: BootEventRecorder;
  /** Ends a session whose agent shut the PC down once its iSCSI connection is gone. */
  orchestrator: Pick<SessionOrchestrator, 'endSession'>;
  bus: EventBus;
  log: Logger;
  now?: () => number;
  maxPolls?: number;
}

const invalidToken = () =>
  new AppError(401, 'agent_token_invalid', 'no live boot session has this agent token', {
    hint: 'claim a new token with POST /boot/agent/claim after the next boot (a token dies with its session)',
  });

/**
 * The client agent (issue 14 point 4, docs/agent-protocol.md): per-session tokens claimed once from
 * the session's own address, reports (OS up, facts, heartbeat), commands by bounded long poll.
 */
export class AgentService {
  private readonly polls: LongPolls;
  private readonly now: () => number;
  private readonly osUpSeen = new Set<string>();

  constructor(private readonly d: AgentServiceDeps) {
    this.now = d.now ?? Date.now;
    this.polls = new LongPolls(d.maxPolls ?? AGENT_MAX_POLLS);
  }

  /** Follows sessions: a session's end expires its commands and its token; a shutdown ends it. */
  start(): () => void {
    return this.d.bus.subscribe(
      (e) => void this.onEvent(e).catch((err) => this.d.log.warn({ err }, 'agent event')),
    );
  }

  private async onEvent(e: LiveEvent): Promise<void> {
    if (e.type === 'session.ended') {
      this.polls.wake(e.id);
      this.osUpSeen.delete(e.id);
      const expired = await this.d.repo.expireSession(e.id, nowIso());
      for (const c of expired) this.d.bus.publish('agent.command', c.id, toAgentCommand(c));
      const a = await this.d.repo.bySession(e.id);
      if (a) this.d.bus.publish('agent.updated', a.machine_id, await this.stateOf(a.machine_id));
      return;
    }
    if (e.type === 'boot.event') {
      const ev = e.data as BootEvent | null;
      if (ev?.kind !== 'iscsi_logout' || !ev.sessionId) return;
      const a = await this.d.repo.bySession(ev.sessionId);
      if (a?.going_down !== 'shutdown') return;
      this.d.log.info(
        { session: ev.sessionId },
        'agent shut the PC down and its disk logged out: ending the session',
      );
      await this.d.orchestrator.endSession(ev.sessionId, 'shutdown');
    }
  }

  /** Answers every open long poll at once (the HTTP server is closing). */
  wakeAll(): void {
    this.polls.wakeAll();
  }

  /** `POST /boot/agent/claim`: the token of the live session started from this address, once. */
  async claim(clientIp: string): Promise<AgentClaimResponse> {
    const live = await this.d.repo.liveSessionsAt(clientIp);
    if (!live.length) {
      throw new AppError(404, 'no_session', 'no live boot session was started from this address', {
        hint: 'the agent claims its token from the booted PC itself, after it booted from GGnet',
      });
    }
    if (live.length > 1) {
      throw conflict(
        'address_shared',
        'more than one live boot session was started from this address',
        'GGnet cannot tell these PCs apart (NAT?); give each PC its own address on the boot network',
      );
    }
    const s = live[0]!;
    const token = randomBytes(32).toString('base64url');
    const at = nowIso();
    const ok = await this.d.repo.insertClaim({
      session_id: s.id,
      machine_id: s.machine_id,
      token_hash: hashToken(token),
      claimed_at: at,
      claimed_ip: clientIp,
      last_seen_at: at,
      facts: null,
      going_down: null,
    });
    if (!ok) {
      throw conflict(
        'agent_already_claimed',
        "this boot session's agent token was claimed already",
        'a token is handed out once per boot; the agent keeps it in /run until the PC reboots',
      );
    }
    this.d.bus.publish('agent.updated', s.machine_id, await this.stateOf(s.machine_id));
    return {
      token,
      sessionId: s.id,
      machineId: s.machine_id,
      heartbeatSec: AGENT_HEARTBEAT_SEC,
      maxWaitSec: AGENT_MAX_WAIT_SEC,
    };
  }

  /** The agent session of `Authorization: Bearer <token>`, from its own address, while its session lives. */
  async authenticate(authorization: string | undefined, clientIp: string): Promise<AgentSessionLive> {
    const m = /^Bearer ([^\s]+)$/.exec(authorization ?? '');
    if (!m) {
      throw new AppError(401, 'agent_token_missing', 'the agent request carries no token', {
        hint: 'send Authorization: Bearer <token> from POST /boot/agent/claim',
      });
    }
    if (!TOKEN_RE.test(m[1]!)) throw invalidToken();
    const a = await this.d.repo.byTokenHash(hashToken(m[1]!));
    if (!a || a.session_state === 'ended' || a.claimed_ip !== clientIp) throw invalidToken();
    return a;
  }

  /** `POST /boot/agent/report`: facts and heartbeat; the first report of a session is "OS up". */
  async report(a: AgentSessionLive, body: AgentReport): Promise<{ osUpRecorded: boolean }> {
    const facts: AgentFacts = {
      hostname: body.hostname ?? null,
      osVersion: body.osVersion ?? null,
      users: [...new Set(body.users ?? [])],
      uptimeSec: body.uptimeSec ?? null,
      cpuModel: body.cpuModel ?? null,
      cpuCount: body.cpuCount ?? null,
      load1: body.load1 ?? null,
      memTotalBytes: body.memTotalBytes ?? null,
      memAvailableBytes: body.memAvailableBytes ?? null,
      agentVersion: body.agentVersion ?? null,
    };
    await this.d.repo.touch(a.session_id, nowIso(), facts);
    let osUpRecorded = false;
    if (!this.osUpSeen.has(a.session_id)) {
      if (!(await this.d.events.hasKind(a.session_id, 'os_up'))) {
        const m = await this.d.machinesRepo.findById(a.machine_id);
        await this.d.recorder.record({
          at: nowIso(),
          mac: m?.mac ?? null,
          machineId: a.machine_id,
          sessionId: a.session_id,
          kind: 'os_up',
          detail: { source: 'agent', ip: a.claimed_ip, hostname: facts.hostname, osVersion: facts.osVersion },
        });
        osUpRecorded = true;
      }
      this.osUpSeen.add(a.session_id);
    }
    this.d.bus.publish('agent.updated', a.machine_id, await this.stateOf(a.machine_id));
    return { osUpRecorded };
  }

  /**
   * `GET /boot/agent/commands?wait=`: the session's pending commands, waiting up to `waitSec` for
   * one (one poll per session: a newer poll answers the older one; `signal` ends the wait when the
   * client goes away).
   */
  async poll(
    a: AgentSessionLive,
    waitSec: number,
    signal: AbortSignal,
  ): Promise<Array<{ id: string; type: AgentCommand['type']; text: string | null }>> {
    const wasOnline = this.isOnline(a);
    await this.d.repo.touch(a.session_id, nowIso());
    if (!wasOnline) this.d.bus.publish('agent.updated', a.machine_id, await this.stateOf(a.machine_id));
    let pending = await this.d.repo.pendingFor(a.session_id);
    const wait = Math.min(waitSec, AGENT_MAX_WAIT_SEC);
    if (!pending.length && wait > 0) {
      await this.polls.wait(a.session_id, wait * 1000, signal);
      if (signal.aborted) return [];
      pending = await this.d.repo.pendingFor(a.session_id);
    }
    const at = nowIso();
    await this.d.repo.markDelivered(
      pending.filter((c) => c.state === 'queued').map((c) => c.id),
      at,
    );
    for (const c of pending.filter((x) => x.state === 'queued')) {
      this.d.bus.publish(
        'agent.command',
        c.id,
        toAgentCommand({ ...c, state: 'delivered', delivered_at: at }),
      );
    }
    return pending.map((c) => ({ id: c.id, type: c.type as AgentCommand['type'], text: c.text }));
  }

  /** `POST /boot/agent/commands/{id}/ack`: the agent did (or could not do) a command. */
  async ack(a: AgentSessionLive, commandId: string, body: AgentAck): Promise<AgentCommand> {
    const row = await this.d.repo.ack(commandId, a.session_id, body.status, body.detail ?? null, nowIso());
    if (!row) {
      throw new AppError(404, 'command_not_found', 'this session has no pending command with this id', {
        hint: 'acknowledge the ids GET /boot/agent/commands returned, once each',
      });
    }
    if (body.status === 'done' && (row.type === 'shutdown' || row.type === 'reboot')) {
      await this.d.repo.setGoingDown(a.session_id, row.type);
    }
    await this.d.repo.touch(a.session_id, nowIso());
    const out = toAgentCommand(row);
    this.d.bus.publish('agent.command', out.id, out);
    return out;
  }

  /** `POST /api/v1/machines/{id}/agent/commands`: queued for the machine's online agent. */
  async send(machineId: string, body: AgentCommandCreate, by: string | null): Promise<AgentCommand> {
    const m = await this.d.machinesRepo.findById(machineId);
    if (!m) throw notFound('machine', machineId);
    const a = (await this.d.repo.newestForMachines([machineId])).get(machineId);
    if (!a || !this.isOnline(a)) {
      throw conflict(
        'agent_offline',
        a
          ? `the agent of ${m.name} is offline (last seen ${a.last_seen_at}${a.session_state === 'ended' ? ', its session ended' : ''})`
          : `${m.name} has no client agent (never reported)`,
        a
          ? 'the PC is off or its agent stopped; wake it, or use the power button'
          : 'install the GGnet agent into the image (docs/agent-protocol.md, README "Client agent")',
      );
    }
    const row = {
      id: newId(),
      machine_id: machineId,
      session_id: a.session_id,
      type: body.type,
      text: body.type === 'message' ? (body.text ?? '').trim() : null,
      state: 'queued',
      created_at: nowIso(),
      created_by: by,
      delivered_at: null,
      done_at: null,
      result: null,
    };
    await this.d.repo.insertCommand(row);
    this.polls.wake(a.session_id);
    const out = toAgentCommand(row);
    this.d.bus.publish('agent.command', out.id, out);
    return out;
  }

  /** A command for the machine's agent when it has an online one (power schedules); false otherwise. */
  async trySend(machineId: string, type: 'shutdown' | 'reboot', by: string): Promise<boolean> {
    try {
      await this.send(machineId, { type }, by);
      return true;
    } catch (err) {
      if (err instanceof AppError && err.code === 'agent_offline') return false;
      throw err;
    }
  }

  async commands(machineId: string): Promise<{ items: AgentCommand[] }> {
    if (!(await this.d.machinesRepo.findById(machineId))) throw notFound('machine', machineId);
    return { items: (await this.d.repo.commandsOf(machineId)).map(toAgentCommand) };
  }

  private isOnline(a: AgentSessionLive): boolean {
    if (a.session_state === 'ended') return false;
    return this.polls.has(a.session_id) || this.now() - Date.parse(a.last_seen_at) <= AGENT_ONLINE_WINDOW_MS;
  }

  private toState(a: AgentSessionLive | undefined): MachineAgent {
    if (!a)
      return { state: 'not_installed', sessionId: null, claimedAt: null, lastSeenAt: null, facts: null };
    return {
      state: this.isOnline(a) ? 'online' : 'offline',
      sessionId: a.session_id,
      claimedAt: a.claimed_at,
      lastSeenAt: a.last_seen_at,
      facts: factsOf(a),
    };
  }

  async stateOf(machineId: string): Promise<MachineAgent> {
    return (await this.statesOf([machineId])).get(machineId)!;
  }

  /** Agent state of each machine (for machine responses). */
  async statesOf(machineIds: string[]): Promise<Map<string, MachineAgent>> {
    const rows = await this.d.repo.newestForMachines(machineIds);
    return new Map(machineIds.map((id) => [id, this.toState(rows.get(id))]));
  }
}
