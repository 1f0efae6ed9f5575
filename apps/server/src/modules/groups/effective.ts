import type { BootMode, EffectiveSettings, Settings, SettingSource } from '@ggnet/contracts';
import { parseJson } from '../../lib/json.js';

/** The inheritable columns, as a machine row and a group row both have them (null = not set there). */
export interface InheritableCols {
  boot_image_id: string | null;
  extra_image_ids: string | null;
  boot_mode: string | null;
  boot_menu: number | null;
  keep_writeback: number | null;
}

/** A ring release of the machine's group: this image boots this version instead of the published one. */
export interface ReleasePin {
  image_id: string;
  version_id: string;
}

export type EffectiveValues = Omit<EffectiveSettings, 'bootVersion'>;

function pick<T>(
  own: T | null,
  group: T | null | undefined,
  fallback: T,
): { value: T; source: SettingSource } {
  if (own !== null) return { value: own, source: 'machine' };
  if (group !== null && group !== undefined) return { value: group, source: 'group' };
  return { value: fallback, source: 'default' };
}

const flag = (v: number | null | undefined): boolean | null =>
  v === null || v === undefined ? null : v === 1;
const list = (v: string | null | undefined): string[] | null =>
  v === null || v === undefined ? null : parseJson<string[]>(v, []);

/**
 * The settings a machine boots with: its own value where it has one, else its group's, else the
 * global default (machines.defaultImageId, no extra disks, `normal`, boot.menu, no kept writeback).
 */
export function resolveSettings(
  m: InheritableCols,
  g: InheritableCols | null,
  s: Pick<Settings, 'machines' | 'boot'>,
): EffectiveValues {
  const bootImage = pick(m.boot_image_id, g?.boot_image_id, s.machines.defaultImageId);
  const extra = pick(list(m.extra_image_ids), list(g?.extra_image_ids), []);
  return {
    bootImageId: bootImage,
    // the boot disk is never also an extra disk
    extraImageIds: { ...extra, value: extra.value.filter((id) => id !== bootImage.value) },
    bootMode: pick(m.boot_mode as BootMode | null, g?.boot_mode as BootMode | null | undefined, 'normal'),
    bootMenu: pick(flag(m.boot_menu), flag(g?.boot_menu), s.boot.menu),
    keepWriteback: pick(flag(m.keep_writeback), flag(g?.keep_writeback), false),
  };
}

/** The version of `imageId` a machine boots: its group's ring release of the image, else the published one. */
export function resolveVersion(
  imageId: string,
  publishedVersionId: string | null,
  pins: readonly ReleasePin[],
): { versionId: string | null; source: 'ring' | 'published' } {
  const pin = pins.find((p) => p.image_id === imageId);
  return pin
    ? { versionId: pin.version_id, source: 'ring' }
    : { versionId: publishedVersionId, source: 'published' };
}
