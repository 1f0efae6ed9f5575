import { existsSync } from 'node:fs';
import { FakeDnsmasq } from '../../src/adapters/dnsmasq/dnsmasq.fake.js';
import { FakeIscsiDriver } from '../../src/adapters/iscsi/iscsi-target.fake.js';
import type { Container, ContainerOptions } from '../../src/container.js';
import { FakeQemuStorageDaemon } from '../../src/adapters/qsd/qsd.fake.js';
import { seedImage, type SeededImage } from './iscsi.js';
import { createTestContext, type TestContext } from './test-context.js';

/**
 * The small tier's world: the whole container (composition root) on SQLite in memory, with the fakes
 * where a system tool would run: FakeIscsiDriver instead of tgtd (ContainerOptions.iscsiDriver),
 * FakeDnsmasq instead of dnsmasq. Writebacks use the `copy` backend on a temp dir (a real `cp` of a
 * 1 MiB sparse file). No root, no daemons, no sockets.
 */
export interface SmallContext {
  t: TestContext;
  c: Container;
  driver: FakeIscsiDriver;
  /** Portal clients are told to use. */
  portal: { host: string; port: number };
  close(): Promise<void>;
}

export async function smallContext(
  opts: { app?: boolean; container?: Partial<ContainerOptions> } = {},
): Promise<SmallContext> {
  const driver = new FakeIscsiDriver();
  const t = await createTestContext('sqlite', {
    app: opts.app ?? false,
    config: { databaseUrl: 'sqlite::memory:' },
    container: {
      iscsiDriver: driver,
      dnsmasq: new FakeDnsmasq(),
      qsd: new FakeQemuStorageDaemon(),
      ...opts.container,
    },
  });
  await t.container.settings.update(
    {
      iscsi: { portal: '127.0.0.1:3260' },
      storage: { backend: 'copy', reserveBytes: 0, spareClones: 0 },
    },
    null,
  );
  return { t, c: t.container, driver, portal: { host: '127.0.0.1', port: 3260 }, close: () => t.close() };
}

/** A published image (1 MiB raw file, half data) for the small tier. */
export const smallImage = (c: Container, name = 'win11'): Promise<SeededImage> =>
  seedImage(c, name, { sizeMiB: 1, dataMiB: 0 });

/** A machine that boots `imageId`; `ip` set = a fixed-IP machine (address ACL). */
export async function smallMachine(
  c: Container,
  imageId: string | null,
  o: { name?: string; mac?: string; ip?: string | null; keepWriteback?: boolean } = {},
) {
  return c.machines.create({
    name: o.name ?? 'pc-1',
    mac: o.mac ?? '52:54:00:00:00:01',
    ip: o.ip ?? null,
    bootImageId: imageId,
    keepWriteback: o.keepWriteback ?? false,
  });
}

/** Absolute path of a writeback's file (copy backend), or null when the row has none. */
export function writebackFile(c: Container, ref: string | null | undefined): string | null {
  return ref ? c.imageFiles.inside(ref) : null;
}

export const fileExists = (p: string | null): boolean => !!p && existsSync(p);
