import type { EffectiveSettings } from '@ggnet/contracts';
import type { ImagesRepository } from '../images/images.repository.js';
import type { SettingsService } from '../settings/settings.service.js';
import { resolveSettings, resolveVersion, type EffectiveValues, type InheritableCols } from './effective.js';
import type { GroupReleaseRow, GroupRow, GroupsRepository } from './groups.repository.js';

export type MachineInheritable = InheritableCols & { group_id: string | null };

/** One disk a machine boots with: the image and the version its next boot gets (null: none published). */
export interface EffectiveDisk {
  kind: 'boot' | 'extra';
  imageId: string;
  versionId: string | null;
  source: 'ring' | 'published';
}

/** What a machine boots with after inheritance and ring releases. */
export interface EffectiveBoot {
  settings: EffectiveSettings;
  /** Boot disk first (when there is a boot image), then the extra disks. */
  disks: EffectiveDisk[];
}

/**
 * THE resolution of a machine's effective settings and versions (machine -> group -> default; ring
 * release of its group -> published version). The boot path asks `forMachine` once per boot; lists
 * ask `forMachines` for a page at a time.
 */
export class EffectiveResolver {
  constructor(
    private readonly d: {
      groups: Pick<GroupsRepository, 'findByIds' | 'releases'>;
      images: Pick<ImagesRepository, 'publishedVersions'>;
      settings: Pick<SettingsService, 'get'>;
    },
  ) {}

  async forMachine(m: MachineInheritable): Promise<EffectiveBoot> {
    return (await this.forMachines([m]))[0]!;
  }

  async forMachines(ms: MachineInheritable[]): Promise<EffectiveBoot[]> {
    if (!ms.length) return [];
    const s = await this.d.settings.get();
    const groupIds = [...new Set(ms.map((m) => m.group_id).filter((g): g is string => !!g))];
    const [groups, pins] = await Promise.all([
      this.d.groups.findByIds(groupIds),
      this.d.groups.releases(groupIds),
    ]);
    const byId = new Map<string, GroupRow>(groups.map((g) => [g.id, g]));
    const values = ms.map((m) => resolveSettings(m, m.group_id ? (byId.get(m.group_id) ?? null) : null, s));
    const imageIds = [
      ...new Set(values.flatMap((v) => [v.bootImageId.value, ...v.extraImageIds.value]).filter((x) => !!x)),
    ] as string[];
    const published = await this.d.images.publishedVersions(imageIds);
    return ms.map((m, i) => this.boot(values[i]!, m.group_id, pins, published));
  }

  private boot(
    v: EffectiveValues,
    groupId: string | null,
    allPins: GroupReleaseRow[],
    published: Map<string, string | null>,
  ): EffectiveBoot {
    const pins = groupId ? allPins.filter((p) => p.group_id === groupId) : [];
    const disks: EffectiveDisk[] = [];
    const add = (kind: 'boot' | 'extra', imageId: string) => {
      // an image deleted meanwhile is left out here; the session start reports it
      const r = resolveVersion(imageId, published.get(imageId) ?? null, pins);
      disks.push({ kind, imageId, ...r });
    };
    if (v.bootImageId.value) add('boot', v.bootImageId.value);
    for (const x of v.extraImageIds.value) add('extra', x);
    const bootDisk = disks.find((d) => d.kind === 'boot');
    return {
      settings: {
        ...v,
        bootVersion: bootDisk
          ? { versionId: bootDisk.versionId, source: bootDisk.source }
          : { versionId: null, source: 'published' },
      },
      disks,
    };
  }
}
