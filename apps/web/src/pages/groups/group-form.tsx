import { useEffect, useState } from 'react';
import {
  Modal,
  MultiSelect,
  Select,
  SimpleGrid,
  Stack,
  TagsInput,
  Text,
  TextInput,
  Textarea,
} from '@mantine/core';
import { IPV4_RE, type BootMode, type Group, type GroupCreate, type Image } from '@ggnet/contracts';
import { isApiError } from '../../api/api-error';
import { ModalActions } from '../../components/modal-actions';

const NOT_SET = 'default';
type Tri = typeof NOT_SET | 'on' | 'off';
const tri = (v: boolean | null): Tri => (v === null ? NOT_SET : v ? 'on' : 'off');
const fromTri = (v: Tri): boolean | null => (v === NOT_SET ? null : v === 'on');
const MAC_PREFIX_RE = /^[0-9a-f]{2}([:-][0-9a-f]{2}){0,4}$/i;

export interface GroupFormValues {
  name: string;
  description: string;
  bootImageId: string | null;
  extraImageIds: string[];
  bootMode: BootMode | typeof NOT_SET;
  bootMenu: Tri;
  keepWriteback: Tri;
  macPrefixes: string[];
  /** `start-end` each */
  ipRanges: string[];
}

export const groupToForm = (g: Group | null): GroupFormValues => ({
  name: g?.name ?? '',
  description: g?.description ?? '',
  bootImageId: g?.bootImageId ?? null,
  extraImageIds: g?.extraImageIds ?? [],
  bootMode: g?.bootMode ?? NOT_SET,
  bootMenu: tri(g?.bootMenu ?? null),
  keepWriteback: tri(g?.keepWriteback ?? null),
  macPrefixes: g?.macPrefixes ?? [],
  ipRanges: (g?.ipRanges ?? []).map((r) => `${r.start}-${r.end}`),
});

/** Checks what the server checks, so that most mistakes never leave the browser. */
export function validateGroup(v: GroupFormValues): Record<string, string> {
  const e: Record<string, string> = {};
  if (!v.name.trim()) e.name = 'a name is required';
  else if (v.name.trim().length > 64) e.name = 'at most 64 characters';
  const badPrefix = v.macPrefixes.find((p) => !MAC_PREFIX_RE.test(p.trim()));
  if (badPrefix !== undefined) e.macPrefixes = `"${badPrefix}": 1-5 bytes of a MAC such as 52:54:00`;
  const badRange = v.ipRanges.find((r) => {
    const [a, b, ...rest] = r.split('-').map((x) => x.trim());
    return rest.length > 0 || !a || !b || !IPV4_RE.test(a) || !IPV4_RE.test(b);
  });
  if (badRange !== undefined) e.ipRanges = `"${badRange}": write a range as 10.0.5.1-10.0.5.99`;
  return e;
}

export function groupBody(v: GroupFormValues): GroupCreate {
  return {
    name: v.name.trim(),
    description: v.description,
    bootImageId: v.bootImageId,
    extraImageIds: v.extraImageIds.length ? v.extraImageIds : null,
    bootMode: v.bootMode === NOT_SET ? null : v.bootMode,
    bootMenu: fromTri(v.bootMenu),
    keepWriteback: fromTri(v.keepWriteback),
    macPrefixes: v.macPrefixes.map((p) => p.trim().toLowerCase()),
    ipRanges: v.ipRanges.map((r) => {
      const [start, end] = r.split('-').map((x) => x.trim());
      return { start: start!, end: end! };
    }),
  };
}

/** Create or edit a group: its settings (unset = the global default) and auto-registration rules. */
export function GroupFormModal(props: {
  opened: boolean;
  group: Group | null;
  images: Image[];
  onClose: () => void;
  onSubmit: (body: GroupCreate) => Promise<unknown>;
}) {
  const [v, setV] = useState<GroupFormValues>(() => groupToForm(null));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (props.opened) {
      setV(groupToForm(props.group));
      setErrors({});
      setFormError(null);
    }
  }, [props.opened, props.group]);
  const set = <K extends keyof GroupFormValues>(k: K, val: GroupFormValues[K]) => {
    setV((o) => ({ ...o, [k]: val }));
    if (errors[k]) setErrors((o) => ({ ...o, [k]: '' }));
  };
  const images = props.images.map((i) => ({ value: i.id, label: i.name }));
  const triData = (fallback: string) => [
    { value: NOT_SET, label: `default (${fallback})` },
    { value: 'on', label: 'on' },
    { value: 'off', label: 'off' },
  ];
  const submit = async (ev: React.FormEvent) => {
    ev.preventDefault();
    const e = validateGroup(v);
    setErrors(e);
    if (Object.values(e).some(Boolean)) return;
    setBusy(true);
    setFormError(null);
    try {
      await props.onSubmit(groupBody(v));
      props.onClose();
    } catch (err) {
      if (isApiError(err)) {
        const fe = err.fieldErrors();
        if (err.code === 'group_name_taken') fe.name = err.detail;
        setErrors(fe);
        if (!Object.keys(fe).length) setFormError(err.hint ? `${err.detail} — ${err.hint}` : err.detail);
      } else setFormError(String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal
      opened={props.opened}
      onClose={props.onClose}
      title={props.group ? `Edit ${props.group.name}` : 'New group'}
      size="lg"
    >
      <form onSubmit={submit} noValidate data-testid="group-form">
        <Stack>
          <TextInput
            label="Name"
            placeholder="VIP room"
            value={v.name}
            onChange={(e) => set('name', e.currentTarget.value)}
            error={errors.name}
            required
            data-autofocus
          />
          <Textarea
            label="Description"
            autosize
            minRows={1}
            value={v.description}
            onChange={(e) => set('description', e.currentTarget.value)}
          />
          <Text size="sm" c="dimmed">
            The group&apos;s machines boot with these unless a machine sets its own; what is left at default
            comes from the global settings.
          </Text>
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <Select
              label="Boot image"
              placeholder="default (machines.defaultImageId)"
              clearable
              data={images}
              value={v.bootImageId}
              onChange={(val) => set('bootImageId', val)}
              error={errors.bootImageId}
            />
            <MultiSelect
              label="Extra disks"
              placeholder="default (none)"
              data={images}
              value={v.extraImageIds}
              onChange={(val) => set('extraImageIds', val)}
              error={errors.extraImageIds}
            />
            <Select
              label="Boot mode"
              data={[{ value: NOT_SET, label: 'default (normal)' }, 'normal', 'maintenance', 'local']}
              value={v.bootMode}
              onChange={(val) => set('bootMode', (val ?? NOT_SET) as GroupFormValues['bootMode'])}
              allowDeselect={false}
            />
            <Select
              label="Boot menu"
              data={triData('boot.menu setting')}
              value={v.bootMenu}
              onChange={(val) => set('bootMenu', (val ?? NOT_SET) as Tri)}
              allowDeselect={false}
            />
            <Select
              label="Keep writes across reboots"
              data={triData('off')}
              value={v.keepWriteback}
              onChange={(val) => set('keepWriteback', (val ?? NOT_SET) as Tri)}
              allowDeselect={false}
            />
          </SimpleGrid>
          <Text size="sm" fw={500}>
            Auto-registration: new PCs that match join this group
          </Text>
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <TagsInput
              label="MAC prefixes"
              placeholder="52:54:00"
              value={v.macPrefixes}
              onChange={(val) => set('macPrefixes', val)}
              error={errors.macPrefixes}
            />
            <TagsInput
              label="Address ranges"
              placeholder="10.0.5.1-10.0.5.99"
              value={v.ipRanges}
              onChange={(val) => set('ipRanges', val)}
              error={errors.ipRanges}
            />
          </SimpleGrid>
          {formError && (
            <Text c="red" size="sm" role="alert">
              {formError}
            </Text>
          )}
          <ModalActions
            onCancel={props.onClose}
            label={props.group ? 'Save' : 'Create group'}
            loading={busy}
            submit
          />
        </Stack>
      </form>
    </Modal>
  );
}
