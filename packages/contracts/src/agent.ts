import { z } from 'zod';
import { Id, Timestamp } from './common.js';
import { AGENT_COMMAND_TYPES, AGENT_STATES } from './plain.js';

/**
 * The client agent (issue 14 point 4; protocol: docs/agent-protocol.md). A program in the booted
 * OS claims a token bound to its boot session, reports what the OS is doing and takes commands.
 */

export const AgentCommandType = z.enum(AGENT_COMMAND_TYPES);
export type AgentCommandType = z.infer<typeof AgentCommandType>;
export const AgentState = z.enum(AGENT_STATES);
export type AgentState = z.infer<typeof AgentState>;

const Text = (max: number) => z.string().max(max);

/** `POST /boot/agent/report`: what the OS says about itself (every field optional, all bounded). */
export const AgentReport = z
  .object({
    hostname: Text(253).optional(),
    osVersion: Text(200).optional(),
    users: z.array(Text(64)).max(50).optional(),
    uptimeSec: z.number().int().min(0).max(1e10).optional(),
    cpuModel: Text(200).optional(),
    cpuCount: z.number().int().min(0).max(100_000).optional(),
    /** 1-minute load average. */
    load1: z.number().min(0).max(1e6).optional(),
    memTotalBytes: z.number().int().min(0).max(1e15).optional(),
    memAvailableBytes: z.number().int().min(0).max(1e15).optional(),
    agentVersion: Text(40).optional(),
  })
  .strip();
export type AgentReport = z.infer<typeof AgentReport>;

/** The facts a machine's agent reported last (the API shape; null fields were never reported). */
export const AgentFacts = z.object({
  hostname: z.string().nullable(),
  osVersion: z.string().nullable(),
  users: z.array(z.string()),
  uptimeSec: z.number().nullable(),
  cpuModel: z.string().nullable(),
  cpuCount: z.number().nullable(),
  load1: z.number().nullable(),
  memTotalBytes: z.number().nullable(),
  memAvailableBytes: z.number().nullable(),
  agentVersion: z.string().nullable(),
});
export type AgentFacts = z.infer<typeof AgentFacts>;

/** A machine's agent: `not_installed` (never claimed a token), `online` (heard from lately), `offline`. */
export const MachineAgent = z.object({
  state: AgentState,
  /** Session whose token the agent holds (the newest claim). */
  sessionId: Id.nullable(),
  claimedAt: Timestamp.nullable(),
  lastSeenAt: Timestamp.nullable(),
  facts: AgentFacts.nullable(),
});
export type MachineAgent = z.infer<typeof MachineAgent>;

export const AGENT_COMMAND_STATES = ['queued', 'delivered', 'done', 'failed', 'expired'] as const;
export const AgentCommandState = z.enum(AGENT_COMMAND_STATES);

export const AgentCommand = z.object({
  id: Id,
  machineId: Id,
  sessionId: Id,
  type: AgentCommandType,
  text: z.string().nullable(),
  state: AgentCommandState,
  createdAt: Timestamp,
  createdBy: z.string().nullable(),
  deliveredAt: Timestamp.nullable(),
  doneAt: Timestamp.nullable(),
  /** What the agent said when it acknowledged the command. */
  result: z.string().nullable(),
});
export type AgentCommand = z.infer<typeof AgentCommand>;

/** `POST /api/v1/machines/{id}/agent/commands`. */
export const AgentCommandCreate = z
  .strictObject({
    type: AgentCommandType,
    /** The message to show (type message only; one line or a few, at most 500 characters). */
    text: z
      .string()
      .max(500)
      // eslint-disable-next-line no-control-regex -- control characters are what it refuses
      .regex(/^[^\u0000-\u0008\u000b-\u001f\u007f]*$/, 'no control characters but newlines and tabs')
      .optional(),
  })
  .refine((b) => b.type !== 'message' || (b.text ?? '').trim().length > 0, {
    message: 'a message command needs a text',
    path: ['text'],
  });
export type AgentCommandCreate = z.infer<typeof AgentCommandCreate>;

export const AgentCommandList = z.object({ items: z.array(AgentCommand) });

/** `POST /boot/agent/claim`: the token the agent sends as `Authorization: Bearer <token>`. */
export const AgentClaimResponse = z.object({
  token: z.string(),
  sessionId: Id,
  machineId: Id,
  /** Report every this many seconds. */
  heartbeatSec: z.number().int(),
  /** Longest wait of one `GET /boot/agent/commands?wait=`. */
  maxWaitSec: z.number().int(),
});
export type AgentClaimResponse = z.infer<typeof AgentClaimResponse>;

export const AgentReportResponse = z.object({
  ok: z.literal(true),
  heartbeatSec: z.number().int(),
  /** True when this report was the session's first: it recorded "OS up" in the timeline. */
  osUpRecorded: z.boolean(),
});

export const AgentPollQuery = z.object({
  /** Seconds to wait for a command (0 = answer at once); capped at maxWaitSec. */
  wait: z.coerce.number().int().min(0).max(300).default(0),
  /** `json` (default) or `text`: one line per command, `<id> <type> <base64 of the text>`. */
  format: z.enum(['json', 'text']).default('json'),
});

export const AgentPollResponse = z.object({
  commands: z.array(z.object({ id: Id, type: AgentCommandType, text: z.string().nullable() })),
});

export const AgentAck = z
  .object({
    status: z.enum(['done', 'failed']),
    detail: z.string().max(500).optional(),
  })
  .strip();
export type AgentAck = z.infer<typeof AgentAck>;
