import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import {
  TargetCreate as TargetCreateSchema,
  type Lun,
  type Page,
  type Target,
  type TargetCreate,
  type TargetListQuery,
} from '@ggnet/contracts';
import { conflict, notFound, unprocessable } from '../../errors/app-error.js';
import type { EventBus } from '../../events/event-bus.js';
import { targetIqn } from '../../lib/iqn.js';
import type { LiveTarget } from '../../adapters/iscsi/iscsi-target.adapter.js';
import type { IscsiRuntime } from './iscsi.runtime.js';
import type { ImagesRepository } from '../images/images.repository.js';
import type { MachinesRepository } from '../machines/machines.repository.js';
import type { SettingsService } from '../settings/settings.service.js';
import type { StorageService } from '../writebacks/storage.service.js';
import type { WritebackRow, WritebacksRepository } from '../writebacks/writebacks.repository.js';
import type { EffectiveResolver } from '../groups/effective-resolver.js';
import type { TargetManager } from './target-manager.js';
import { toTarget, type TargetRow, type TargetsRepository } from './targets.repository.js';

export interface TargetsDeps {
  repo: TargetsRepository;
  machines: MachinesRepository;
  images: ImagesRepository;
  writebacks: WritebacksRepository;
  storage: StorageService;
  manager: TargetManager;
  iscsi: IscsiRuntime;
  settings: SettingsService;
  bus: EventBus;
  log: Logger;
  /** What the machine boots after inheritance (its group's image and ring release). */
  resolver: Pick<EffectiveResolver, 'forMachine'>;
}

/** Targets: the API view (with live connections from the target's actual state) and manual targets. */
export class TargetsService {
  constructor(private readonly d: TargetsDeps) {}

  private async view(rows: TargetRow[], reveal: boolean): Promise<Target[]> {
    let live: LiveTarget[] = [];
    try {
      live = await this.d.iscsi.live();
    } catch (err) {
      this.d.log.warn({ err }, 'cannot read the live iSCSI state');
    }
    const byIqn = new Map(live.map((t) => [t.iqn, t]));
    const portal = await this.d.iscsi.clientPortal().catch(() => null);
    // a boot prepared ahead keeps its secrets to itself until its script hands them out
    const unclaimed = reveal ? await this.d.repo.unclaimed(rows.map((r) => r.id)) : new Set<string>();
    return rows.map((r) =>
      toTarget(
        r,
        (byIqn.get(r.iqn)?.connections ?? []).map((c) => ({ initiator: c.initiator, address: c.address })),
        reveal && !unclaimed.has(r.id),
        // each target on its daemon's portal port
        portal ? `${portal.host}:${r.portal_port ?? portal.port}` : null,
      ),
    );
  }

  async list(q: TargetListQuery, canReveal: boolean): Promise<Page<Target>> {
    const page = await this.d.repo.list(q);
    return { items: await this.view(page.items, canReveal && q.reveal === 'true'), total: page.total };
  }

  async get(id: string, reveal: boolean): Promise<Target> {
    const row = await this.d.repo.findById(id);
    if (!row) throw notFound('target', id);
    return (await this.view([row], reveal))[0]!;
  }

  /**
   * POST /targets: a manual target (no session) for a machine: a fresh writeback of an image version,
   * ACL for the machine's (or the given) initiator, CHAP with the machine's secret. All or nothing.
   */
  async create(input: TargetCreate): Promise<Target> {
    const d = TargetCreateSchema.parse(input);
    const m = await this.d.machines.findById(d.machineId);
    if (!m) throw notFound('machine', d.machineId);
    const s = await this.d.settings.get();
    const driver = await this.d.iscsi.driver();
    if (d.allowedAddress && driver.backend === 'lio')
      throw unprocessable(
        'ip_restriction_unsupported',
        'the LIO backend cannot restrict a target to one client address',
        'leave allowedAddress empty (ACL and CHAP still apply) or use the tgt backend',
      );
    // by default what the machine boots: its own image, else its group's, else the default image,
    // in the version its group's ring release gives it
    const boot = (await this.d.resolver.forMachine(m)).disks.find((x) => x.kind === 'boot');
    const imageId = d.imageId ?? boot?.imageId ?? null;
    if (!imageId)
      throw unprocessable('no_image', 'no imageId given and the machine has no boot image', 'pass imageId');
    const img = await this.d.images.findRow(imageId);
    if (!img) throw notFound('image', imageId);
    const versionId =
      d.versionId ?? (boot?.imageId === imageId ? boot.versionId : null) ?? img.published_version_id;
    if (!versionId)
      throw conflict('image_not_published', `image ${img.name} has no published version`, 'pass versionId');
    await this.d.storage.readyVersion(imageId, versionId);

    const suffix = `m${randomBytes(3).toString('hex')}`;
    const iqn = targetIqn(s.iscsi, m.name, suffix);
    const lun = driver.firstLun;
    let wb: WritebackRow | null = null;
    let row: TargetRow | null = null;
    try {
      row = await this.d.manager.newRow(m.id, {
        iqn,
        chapUser: `${m.name}.${suffix}`,
        sessionId: null,
        luns: [],
        initiatorIqn: d.initiatorIqn ?? m.initiator_iqn,
        allowedAddress: d.allowedAddress ?? null,
        mutual: d.mutualChap ?? false,
        backend: driver.backend,
      });
      wb = await this.d.storage.create({
        machineId: m.id,
        imageId,
        versionId,
        sessionId: null,
        targetId: row.id,
        lun,
      });
      const luns: Lun[] = [
        {
          lun,
          kind: 'boot',
          imageId,
          versionId,
          writebackId: wb.id,
          sizeBytes: wb.size_bytes === null ? null : Number(wb.size_bytes),
        },
      ];
      row.luns = JSON.stringify(luns);
      await this.d.repo.insert(row);
      await this.d.manager.provision(row);
      await this.d.repo.setState(row.id, 'active', ['pending']);
    } catch (err) {
      if (row) {
        await this.d.manager.unprovision(row.iqn).catch(() => undefined);
        await this.d.repo.delete(row.id).catch(() => undefined);
      }
      if (wb) await this.d.storage.discard(wb.id).catch(() => undefined);
      throw err;
    }
    const out = await this.get(row.id, true);
    this.d.bus.publish('target.created', row.id, { ...out, chapSecret: undefined, mutualSecret: undefined });
    return out;
  }

  /** DELETE /targets/{id}: removes a manual target and (unless kept) its writeback. */
  async delete(id: string, keepWriteback: boolean): Promise<void> {
    const row = await this.d.repo.findById(id);
    if (!row) throw notFound('target', id);
    if (row.session_id)
      throw conflict(
        'target_owned_by_session',
        'this target belongs to a boot session',
        `stop the session instead: POST /api/v1/sessions/${row.session_id}/stop`,
      );
    await this.d.repo.setState(id, 'deleting', ['pending', 'active', 'error', 'deleting']);
    await this.d.manager.unprovision(row.iqn);
    for (const w of await this.d.writebacks.byTarget(id)) {
      if (keepWriteback) await this.d.storage.keep(w.id);
      else await this.d.storage.discard(w.id);
    }
    await this.d.repo.delete(id);
    this.d.bus.publish('target.deleted', id, { id, iqn: row.iqn });
  }
}
