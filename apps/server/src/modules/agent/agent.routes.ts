import type { FastifyRequest } from 'fastify';
import {
  AgentAck,
  AgentClaimResponse,
  AgentCommand,
  AgentCommandCreate,
  AgentCommandList,
  AgentPollQuery,
  AgentPollResponse,
  AgentReport,
  AgentReportResponse,
  Id,
  IdParams,
} from '@ggnet/contracts';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { notFound, tooManyRequests } from '../../errors/app-error.js';
import type { App } from '../../http/types.js';
import { AGENT_ASSETS, agentAsset, type AgentAssetName } from './agent-assets.js';
import { AGENT_HEARTBEAT_SEC, type AgentService } from './agent.service.js';

/** Counts one request of a client address; refuses it when over the boot endpoint's limits. */
export type AgentLimit = (ip: string) => Promise<{ ok: true } | { ok: false; retryAfterSec: number }>;

const clientIp = (req: FastifyRequest) => (req.ip ?? '').replace(/^::ffff:/, '');
/** Reports and acks are small: a few hundred bytes. */
const AGENT_BODY_LIMIT = 16 * 1024;

/**
 * The agent's endpoints under /boot/agent (no login: a per-session token, docs/agent-protocol.md),
 * registered inside the boot endpoint's scope (same listener, same refusal rule, same limits).
 */
export function registerAgentEndpoints(
  plain: App,
  deps: { agent: AgentService; limit?: AgentLimit; baseUrl: (req: FastifyRequest) => Promise<string> },
): void {
  const scope = plain.withTypeProvider<ZodTypeProvider>();
  const limited = async (req: FastifyRequest) => {
    const r = await deps.limit?.(clientIp(req));
    if (r && !r.ok) throw tooManyRequests('too many agent requests from this client', r.retryAfterSec);
  };
  const auth = async (req: FastifyRequest) => {
    await limited(req);
    return deps.agent.authenticate(req.headers.authorization, clientIp(req));
  };
  const tags = ['agent'];
  // a closing server waits for open requests: open long polls are answered at once
  plain.addHook('preClose', (done) => {
    deps.agent.wakeAll();
    done();
  });

  scope.get(
    '/boot/agent/:file',
    {
      schema: {
        tags,
        summary: 'The Linux client agent GGnet ships: ggnet-agent.sh, ggnet-agent.service, install.sh',
        params: z.object({ file: z.string().max(64) }),
      },
      config: { access: 'public' },
      logLevel: 'warn',
    },
    async (req, reply) => {
      await limited(req);
      const name = req.params.file;
      if (!Object.hasOwn(AGENT_ASSETS, name)) throw notFound('agent file', name);
      const text = await agentAsset(name as AgentAssetName, await deps.baseUrl(req));
      return reply
        .header('cache-control', 'no-store')
        .type(AGENT_ASSETS[name as AgentAssetName])
        .send(text);
    },
  );
  scope.post(
    '/boot/agent/claim',
    {
      schema: {
        tags,
        summary:
          "The agent token of the live boot session started from the caller's address (once per session; only its hash is stored)",
        response: { 200: AgentClaimResponse },
      },
      config: { access: 'public' },
      bodyLimit: 1024,
    },
    async (req) => {
      await limited(req);
      return deps.agent.claim(clientIp(req));
    },
  );
  scope.post(
    '/boot/agent/report',
    {
      schema: {
        tags,
        summary:
          'The agent reports (OS up, hostname, OS version, users, uptime, CPU, RAM); also the heartbeat',
        body: AgentReport,
        response: { 200: AgentReportResponse },
      },
      config: { access: 'public' },
      bodyLimit: AGENT_BODY_LIMIT,
    },
    async (req) => {
      const a = await auth(req);
      const r = await deps.agent.report(a, req.body);
      return { ok: true as const, heartbeatSec: AGENT_HEARTBEAT_SEC, osUpRecorded: r.osUpRecorded };
    },
  );
  scope.get(
    '/boot/agent/commands',
    {
      schema: {
        tags,
        summary:
          "The session's pending commands; waits up to `wait` seconds (at most 25) for one (long poll). format=text: `<id> <type> <base64 text>` lines",
        querystring: AgentPollQuery,
        response: { 200: AgentPollResponse.or(z.string()) },
      },
      config: { access: 'public' },
      logLevel: 'warn',
    },
    async (req, reply) => {
      const a = await auth(req);
      const ac = new AbortController();
      const onClose = () => ac.abort();
      req.raw.socket.once('close', onClose);
      try {
        const commands = await deps.agent.poll(a, req.query.wait, ac.signal);
        reply.header('cache-control', 'no-store');
        if (req.query.format === 'text') {
          const lines = commands.map(
            (c) => `${c.id} ${c.type} ${c.text ? Buffer.from(c.text, 'utf8').toString('base64') : '-'}\n`,
          );
          return reply.type('text/plain; charset=utf-8').send(lines.join(''));
        }
        return { commands };
      } finally {
        req.raw.socket.off('close', onClose);
      }
    },
  );
  scope.post(
    '/boot/agent/commands/:id/ack',
    {
      schema: {
        tags,
        summary:
          'The agent did (done) or could not do (failed) a command; a shutdown acknowledged ends the session at logout',
        params: z.object({ id: Id }),
        body: AgentAck,
        response: { 200: AgentCommand },
      },
      config: { access: 'public' },
      bodyLimit: AGENT_BODY_LIMIT,
    },
    async (req) => deps.agent.ack(await auth(req), req.params.id, req.body),
  );
}

export function registerAgentApiRoutes(app: App, deps: { agent: AgentService }): void {
  app.post(
    '/api/v1/machines/:id/agent/commands',
    {
      schema: {
        tags: ['machines', 'agent'],
        summary:
          "Send a command (shutdown, reboot, message) to the machine's client agent; 409 agent_offline without an online agent",
        params: IdParams,
        body: AgentCommandCreate,
        response: { 202: AgentCommand },
      },
      config: { access: 'operator', audit: 'machine.agent_command', targetType: 'machine' },
    },
    async (req, reply) =>
      reply.status(202).send(await deps.agent.send(req.params.id, req.body, req.user?.username ?? null)),
  );
  app.get(
    '/api/v1/machines/:id/agent/commands',
    {
      schema: {
        tags: ['machines', 'agent'],
        summary: "The machine's newest agent commands (20) and their state",
        params: IdParams,
        response: { 200: AgentCommandList },
      },
      config: { access: 'viewer' },
    },
    async (req) => deps.agent.commands(req.params.id),
  );
}
