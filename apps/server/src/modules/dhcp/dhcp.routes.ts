import { DhcpSnippet, DhcpSnippetQuery, DhcpStatus } from '@ggnet/contracts';
import type { App } from '../../http/types.js';
import type { DhcpService } from './dhcp.service.js';

export function registerDhcpRoutes(app: App, deps: { dhcp: DhcpService }) {
  const tags = ['dhcp'];
  app.get(
    '/api/v1/dhcp/status',
    {
      schema: {
        tags,
        summary: 'DHCP/TFTP (dnsmasq): mode, daemon state, boot address, script URL, problems',
        response: { 200: DhcpStatus },
      },
      config: { access: 'viewer' },
    },
    async () => deps.dhcp.status(),
  );
  app.get(
    '/api/v1/dhcp/snippet',
    {
      schema: {
        tags,
        summary:
          "Configuration for the site's own DHCP server (dhcp.mode=off): ISC dhcpd, Kea, dnsmasq or a generic router",
        querystring: DhcpSnippetQuery,
        response: { 200: DhcpSnippet },
      },
      config: { access: 'viewer' },
    },
    async (req) => deps.dhcp.snippet(req.query.format),
  );
}
