import type { ImageRelease, RingRelease } from '@ggnet/contracts';
import { badRequest, conflict, notFound } from '../../errors/app-error.js';
import { nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import type { ImagesRepository } from '../images/images.repository.js';
import type { ImagesService } from '../images/images.service.js';
import type { MachinesRepository } from '../machines/machines.repository.js';
import type { EffectiveResolver } from './effective-resolver.js';
import type { GroupsRepository } from './groups.repository.js';

/**
 * Staged releases: a ready version of an image released to some groups before everyone (a ring).
 * Machines of those groups boot it at their next boot (EffectiveResolver); the others keep the
 * published version. Promote publishes it to everyone and ends the ring; roll back ends the ring
 * (its groups boot the published version again). Sessions already running keep their version.
 */
export class ReleasesService {
  constructor(
    private readonly d: {
      groups: GroupsRepository;
      images: Pick<ImagesRepository, 'findRow' | 'findVersion'>;
      imagesService: Pick<ImagesService, 'publishVersion'>;
      machines: Pick<MachinesRepository, 'inheritableOfGroups'>;
      resolver: EffectiveResolver;
      bus: EventBus;
    },
  ) {}

  private async image(imageId: string) {
    const img = await this.d.images.findRow(imageId);
    if (!img) throw notFound('image', imageId);
    return img;
  }

  private async readyVersion(imageId: string, versionId: string) {
    const v = await this.d.images.findVersion(imageId, versionId);
    if (!v) throw notFound('version', versionId);
    if (v.state !== 'ready')
      throw conflict(
        'version_not_ready',
        `version ${v.number} is ${v.state}, not ready`,
        'wait for its conversion to finish',
      );
    return v;
  }

  /** Which version each group boots of this image, and what its PCs run right now. */
  async state(imageId: string): Promise<ImageRelease> {
    const img = await this.image(imageId);
    const [groups, pins, running] = await Promise.all([
      this.d.groups.all(),
      this.d.groups.releasesOfImage(imageId),
      this.d.groups.runningVersions(imageId),
    ]);
    const members = await this.d.machines.inheritableOfGroups(groups.map((g) => g.id));
    const eff = await this.d.resolver.forMachines(members);
    const onImage = new Map<string, number>();
    members.forEach((m, i) => {
      if (eff[i]!.settings.bootImageId.value === imageId)
        onImage.set(m.group_id!, (onImage.get(m.group_id!) ?? 0) + 1);
    });
    const count = (groupId: string | null) =>
      running
        .filter((r) => r.group_id === groupId)
        .map((r) => ({ versionId: r.version_id, count: r.n }))
        .sort((a, b) => b.count - a.count);
    return {
      imageId,
      publishedVersionId: img.published_version_id,
      groups: groups.map((g) => {
        const pin = pins.find((p) => p.group_id === g.id);
        return {
          groupId: g.id,
          name: g.name,
          versionId: pin ? pin.version_id : img.published_version_id,
          source: pin ? ('ring' as const) : ('published' as const),
          releasedAt: pin?.released_at ?? null,
          machines: onImage.get(g.id) ?? 0,
          running: count(g.id),
        };
      }),
      others: count(null),
    };
  }

  async release(imageId: string, body: RingRelease, by: string | null): Promise<ImageRelease> {
    const img = await this.image(imageId);
    const v = await this.readyVersion(imageId, body.versionId);
    const ids = [...new Set(body.groupIds)];
    const found = new Set(await this.d.groups.existingIds(ids));
    const missing = ids.find((g) => !found.has(g));
    if (missing) throw notFound('group', missing);
    if (img.published_version_id === v.id)
      throw badRequest(
        'version_published',
        `version ${v.number} is already published to everyone`,
        'release a newer version to a ring',
      );
    await this.d.groups.release(ids, imageId, v.id, nowIso(), by);
    const out = await this.state(imageId);
    this.d.bus.publish('group.released', imageId, out);
    return out;
  }

  /** Publishes the ring's version to everyone and ends the ring. */
  async promote(imageId: string, versionId: string): Promise<ImageRelease> {
    await this.image(imageId);
    await this.readyVersion(imageId, versionId);
    await this.d.imagesService.publishVersion(imageId, versionId);
    await this.d.groups.endRing(imageId, versionId);
    const out = await this.state(imageId);
    this.d.bus.publish('group.promoted', imageId, out);
    return out;
  }

  /** Ends the ring: its groups boot the published version again at their next boot. */
  async rollback(imageId: string, versionId: string): Promise<ImageRelease> {
    await this.image(imageId);
    const gone = await this.d.groups.endRing(imageId, versionId);
    if (!gone.length)
      throw conflict(
        'no_ring',
        'no group has this version released',
        'GET /api/v1/images/{id}/release shows the rings',
      );
    const out = await this.state(imageId);
    this.d.bus.publish('group.rolled_back', imageId, out);
    return out;
  }
}
