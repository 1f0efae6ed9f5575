import type { ReactElement } from 'react';
import { Group, NumberInput, Switch, TextInput, Tooltip } from '@mantine/core';
import { IconLock } from '@tabler/icons-react';
import type { Settings } from '@ggnet/contracts';
import { getPath } from './settings-diff';

/** What every tab gets: the draft, its locked keys, and inputs bound to dotted paths of it. */
export interface SettingsFields {
  draft: Settings;
  locked: Set<string>;
  set: (path: string, v: unknown) => void;
  /** Common props of a field: error, and the lock when the environment pins the key. */
  field: (path: string) => {
    disabled: boolean;
    error: string | undefined;
    rightSection: ReactElement | undefined;
    'data-locked': true | undefined;
  };
  text: (path: string, label: string, placeholder?: string, description?: string) => ReactElement;
  num: (
    path: string,
    label: string,
    opts?: { min?: number; max?: number; suffix?: string; description?: string },
  ) => ReactElement;
  bool: (path: string, label: string, description?: string) => ReactElement;
}

export function settingsFields(args: {
  draft: Settings;
  locked: Set<string>;
  errors: Record<string, string>;
  set: (path: string, v: unknown) => void;
}): SettingsFields {
  const { draft, locked, errors, set } = args;
  const field = (path: string) => {
    const isLocked = locked.has(path);
    return {
      disabled: isLocked,
      error: errors[path] || undefined,
      rightSection: isLocked ? (
        <Tooltip label="Set by the server's environment (GGNET_*) or config file; change it there">
          <IconLock size={14} data-testid={`locked-${path}`} />
        </Tooltip>
      ) : undefined,
      'data-locked': isLocked || undefined,
    } as const;
  };
  return {
    draft,
    locked,
    set,
    field,
    text: (path, label, placeholder, description) => (
      <TextInput
        label={label}
        placeholder={placeholder}
        description={description}
        value={(getPath(draft, path) as string | null) ?? ''}
        onChange={(e) => set(path, e.currentTarget.value.trim() === '' ? null : e.currentTarget.value)}
        {...field(path)}
      />
    ),
    num: (path, label, opts = {}) => (
      <NumberInput
        label={label}
        description={opts.description}
        min={opts.min}
        max={opts.max}
        suffix={opts.suffix}
        value={(getPath(draft, path) as number | null) ?? ''}
        onChange={(v) => set(path, v === '' ? null : Number(v))}
        {...field(path)}
      />
    ),
    bool: (path, label, description) => (
      <Switch
        label={
          <Group gap={4}>
            {label}
            {locked.has(path) && <IconLock size={12} data-testid={`locked-${path}`} />}
          </Group>
        }
        description={description}
        checked={!!getPath(draft, path)}
        onChange={(e) => set(path, e.currentTarget.checked)}
        disabled={locked.has(path)}
        error={errors[path] || undefined}
      />
    ),
  };
}
