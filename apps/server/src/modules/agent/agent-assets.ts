import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The Linux agent GGnet ships (apps/server/assets/agent), served at /boot/agent/<name>. */
export const AGENT_ASSETS = {
  'ggnet-agent.sh': 'text/x-shellscript; charset=utf-8',
  'ggnet-agent.service': 'text/plain; charset=utf-8',
  'install.sh': 'text/x-shellscript; charset=utf-8',
} as const;
export type AgentAssetName = keyof typeof AGENT_ASSETS;

/** apps/server/assets/agent, from src/modules/agent and from dist/modules/agent alike. */
export const AGENT_ASSETS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../assets/agent');

const cache = new Map<string, string>();

/**
 * One asset's text; install.sh gets the URL the PC reached GGnet by (`@GGNET_URL@`), so the
 * installed agent knows its server (an address, not a secret).
 */
export async function agentAsset(name: AgentAssetName, baseUrl: string): Promise<string> {
  let text = cache.get(name);
  if (text === undefined) {
    text = await readFile(join(AGENT_ASSETS_DIR, name), 'utf8');
    cache.set(name, text);
  }
  return name === 'install.sh' ? text.replaceAll('@GGNET_URL@', baseUrl) : text;
}
