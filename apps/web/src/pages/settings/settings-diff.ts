import type { Settings, SettingsPatch } from '@ggnet/contracts';

type Obj = Record<string, unknown>;

/** The value at a dotted path (`dhcp.mode`) of the settings. */
export function getPath(o: Settings, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>((a, k) => (a && typeof a === 'object' ? (a as Obj)[k] : undefined), o);
}

/** A copy of the settings with the value at a dotted path replaced. */
export function setPath(o: Settings, path: string, v: unknown): Settings {
  const set = (x: Obj, keys: string[]): Obj => {
    const [head, ...rest] = keys as [string, ...string[]];
    return { ...x, [head]: rest.length ? set((x[head] as Obj) ?? {}, rest) : v };
  };
  return set(o, path.split('.')) as unknown as Settings;
}

/** Only the keys that differ from the saved settings, grouped as PUT /settings wants them. */
export function settingsDiff(saved: Settings, draft: Settings): SettingsPatch {
  const before: Obj = saved;
  const out: Obj = {};
  for (const [g, obj] of Object.entries(draft)) {
    for (const [k, v] of Object.entries(obj as Obj)) {
      if (JSON.stringify(v) !== JSON.stringify((before[g] as Obj | undefined)?.[k])) {
        out[g] = { ...(out[g] ?? {}), [k]: v };
      }
    }
  }
  return out;
}
