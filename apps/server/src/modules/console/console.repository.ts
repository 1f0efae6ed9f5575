import type { Kysely, Selectable } from 'kysely';
import type { ConsoleVm } from '@ggnet/contracts';
import type { ConsoleVmsTable, DB } from '../../db/schema.js';

export type ConsoleVmRow = Selectable<ConsoleVmsTable>;

export const toConsoleVm = (r: ConsoleVmRow): ConsoleVm => ({
  imageId: r.image_id,
  machineId: r.machine_id,
  sessionId: r.session_id,
  state: r.state as ConsoleVm['state'],
  pid: r.pid === null ? null : Number(r.pid),
  accel: r.accel as ConsoleVm['accel'],
  memoryMiB: Number(r.memory_mib),
  cpus: Number(r.cpus),
  mediaId: r.media_id,
  error: r.error,
  startedAt: r.started_at,
  stoppedAt: r.stopped_at,
});

/** All SQL of console VMs (table `console_vms`, one row per image that ever had one). */
export class ConsoleRepository {
  constructor(private readonly db: Kysely<DB>) {}

  find(imageId: string): Promise<ConsoleVmRow | undefined> {
    return this.db.selectFrom('console_vms').selectAll().where('image_id', '=', imageId).executeTakeFirst();
  }

  running(): Promise<ConsoleVmRow[]> {
    return this.db.selectFrom('console_vms').selectAll().where('state', '=', 'running').execute();
  }

  async insert(row: ConsoleVmRow): Promise<void> {
    await this.db.insertInto('console_vms').values(row).execute();
  }

  /** Updates one image's row; with `onlyState`, only while it is in that state. Returns rows changed. */
  async update(
    imageId: string,
    patch: Partial<Omit<ConsoleVmRow, 'image_id'>>,
    onlyState?: string,
  ): Promise<number> {
    let q = this.db.updateTable('console_vms').set(patch).where('image_id', '=', imageId);
    if (onlyState) q = q.where('state', '=', onlyState);
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows);
  }
}
