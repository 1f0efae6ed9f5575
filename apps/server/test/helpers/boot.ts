import type { LiveEvent } from '@ggnet/contracts';
import { FakeDnsmasq } from '../../src/adapters/dnsmasq/dnsmasq.fake.js';
import type { ContainerOptions } from '../../src/container.js';
import { nowIso } from '../../src/db/database.js';
import { newId } from '../../src/lib/ids.js';
import { FakeBootSessionStarter } from '../../src/modules/boot/boot-session.fake.js';
import { createTestContext, type Dialect, type TestContext } from './test-context.js';

export interface BootTestContext {
  t: TestContext;
  /** Stands in for the iSCSI side; writes session rows into the test's database. */
  starter: FakeBootSessionStarter;
  /** What was published on the event bus (WebSocket events). */
  events: LiveEvent[];
  /** The clock of the limits, registration caps and maintenance grants (starts at Date.now()). */
  clock: { now: number };
}

/** A test context for the boot endpoint: fake dnsmasq, fake session starter, a clock tests move. */
export async function bootTestContext(
  dialect: Dialect,
  container: Partial<ContainerOptions> = {},
): Promise<BootTestContext> {
  const clock = { now: Date.now() }; // moved by hand; DB timestamps stay on the real clock
  let starter: FakeBootSessionStarter | null = null;
  const t = await createTestContext(dialect, {
    container: {
      dnsmasq: new FakeDnsmasq(),
      bootSessions: { startSession: (r) => starter!.startSession(r) },
      now: () => clock.now,
      ...container,
    },
  });
  starter = new FakeBootSessionStarter(t.container.database.db);
  const events: LiveEvent[] = [];
  t.container.bus.subscribe((e) => events.push(e));
  return { t, starter, events, clock };
}

/**
 * An image with a ready (fake) version `number` in the database, published unless `published` is
 * false, for tests with a fake session starter.
 */
export async function publishedImage(
  t: TestContext,
  name = 'Win 11',
  opts: { number?: number; published?: boolean } = {},
): Promise<{ id: string; versionId: string }> {
  const number = opts.number ?? 1;
  const id = newId();
  const versionId = newId();
  const now = nowIso();
  await t.container.repos.images.insert({
    id,
    name,
    description: '',
    os_type: 'windows',
    state: 'ready',
    error: null,
    source_format: 'vhdx',
    source_filename: 'x.vhdx',
    source_path: null,
    source_size: 1,
    source_sha256: null,
    published_version_id: null,
    uefi_boot_file: null,
    created_by: null,
    created_at: now,
    updated_at: now,
  });
  await t.container.repos.images.insertVersion({
    id: versionId,
    image_id: id,
    number,
    state: 'ready',
    comment: '',
    author: null,
    size_bytes: 1,
    sha256: null,
    protected: 0,
    parent_version_id: null,
    path: `images/${id}/v${number}.raw`,
    error: null,
    created_at: now,
    ready_at: now,
  });
  if (opts.published !== false)
    await t.container.repos.images.update(id, { published_version_id: versionId });
  return { id, versionId };
}

/** GET /boot/ipxe as iPXE asks it, from a given client address (through app.inject). */
export function bootClient(t: TestContext, host = '10.0.0.1:8080') {
  const get = (query: string, ip: string) =>
    t.app.inject({ method: 'GET', url: `/boot/ipxe${query}`, remoteAddress: ip, headers: { host } });
  return {
    /** `extra` is appended to the query, e.g. `&mode=maintenance`. */
    boot: (mac: string, ip: string, extra = '') =>
      get(`?mac=${encodeURIComponent(mac)}&arch=x86_64&platform=efi${extra}`, ip),
    /** The bare URL an external DHCP server hands out. */
    identify: (ip: string) => get('', ip),
  };
}

export const result = (r: { headers: Record<string, unknown> }): string =>
  String(r.headers['x-ggnet-boot-result']);

/** Ends a machine's live session in the database (the PC was switched off), so that the boot guard no longer protects it. */
export async function endLiveSessions(t: TestContext, machineId: string): Promise<void> {
  await t.container.database.db
    .updateTable('sessions')
    .set({ state: 'ended', end_reason: 'stopped', ended_at: nowIso() })
    .where('machine_id', '=', machineId)
    .where('state', '!=', 'ended')
    .execute();
}
