import type { Kysely, Migration, MigrationProvider } from 'kysely';
import * as m0001 from './0001-initial.js';
import * as m0002 from './0002-images.js';
import * as m0003 from './0003-iscsi.js';
import * as m0004 from './0004-iqn-prefixes.js';
import * as m0005 from './0005-backups.js';
import * as m0006 from './0006-session-chap.js';
import * as m0007 from './0007-user-token-version.js';
import * as m0012 from './0012-power-schedules.js';
import * as m0013 from './0013-alerts.js';
import * as m0015 from './0015-media.js';
import * as m0016 from './0016-groups.js';
import * as m0017 from './0017-target-daemon.js';
import * as m0018 from './0018-prepared-boots.js';
import * as m0019 from './0019-agent.js';
import * as m0020 from './0020-console.js';
import * as m0021 from './0021-uefi-boot-file.js';
import * as m0022 from './0022-session-traffic.js';
import type { MigrationContext } from './context.js';

export type { Dialect, MigrationContext } from './context.js';

type MigrationModule = {
  up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void>;
  down?(db: Kysely<unknown>, ctx: MigrationContext): Promise<void>;
};

/** Every migration, in order. Add a new file and a line here; never edit a released one. */
const MIGRATIONS: Record<string, MigrationModule> = {
  '0001-initial': m0001,
  '0002-images': m0002,
  '0003-iscsi': m0003,
  '0004-iqn-prefixes': m0004,
  '0005-backups': m0005,
  '0006-session-chap': m0006,
  '0007-user-token-version': m0007,
  '0012-power-schedules': m0012,
  '0013-alerts': m0013,
  '0015-media': m0015,
  '0016-groups': m0016,
  '0017-target-daemon': m0017,
  '0018-prepared-boots': m0018,
  '0019-agent': m0019,
  '0020-console': m0020,
  '0021-uefi-boot-file': m0021,
  '0022-session-traffic': m0022,
};

/** Names of every migration this build knows, in order (a backup with another one is from a newer GGnet). */
export const MIGRATION_NAMES: readonly string[] = Object.keys(MIGRATIONS);

/** Migrations compiled into the bundle (no directory scanning, so it works from dist/ and from tests). */
export class StaticMigrationProvider implements MigrationProvider {
  constructor(private readonly ctx: MigrationContext) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return Object.fromEntries(
      Object.entries(MIGRATIONS).map(([name, mod]) => [
        name,
        {
          up: (db: Kysely<unknown>) => mod.up(db, this.ctx),
          down: mod.down ? (db: Kysely<unknown>) => mod.down!(db, this.ctx) : undefined,
        },
      ]),
    );
  }
}
