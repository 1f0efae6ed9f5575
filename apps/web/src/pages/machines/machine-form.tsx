import { useEffect, useState } from 'react';
import {
  Group,
  Modal,
  Select,
  SimpleGrid,
  Stack,
  Switch,
  TagsInput,
  Text,
  TextInput,
  Textarea,
} from '@mantine/core';
import {
  HOSTNAME_RE,
  IPV4_RE,
  normalizeMac,
  TAG_RE,
  type BootMode,
  type Group as MachineGroup,
  type Image,
  type Machine,
  type MachineCreate,
  type MachineUpdate,
  type Media,
} from '@ggnet/contracts';
import { isApiError } from '../../api/api-error';
import { ModalActions } from '../../components/modal-actions';

/** A setting the machine may leave to its group (then the global default). */
export const INHERIT = 'inherit';
type Tri = typeof INHERIT | 'on' | 'off';
const tri = (v: boolean | null): Tri => (v === null ? INHERIT : v ? 'on' : 'off');
const fromTri = (v: Tri): boolean | null => (v === INHERIT ? null : v === 'on');

export interface MachineFormValues {
  name: string;
  mac: string;
  ip: string;
  description: string;
  groupId: string | null;
  /** null = inherited */
  bootImageId: string | null;
  bootMode: BootMode | typeof INHERIT;
  keepWriteback: Tri;
  bootMenu: Tri;
  /** Install mode (own boot mode maintenance only): the ISO booted with the machine's disk hooked. */
  installMediaId: string | null;
  enabled: boolean;
  tags: string[];
}

export const emptyMachine = (): MachineFormValues => ({
  name: '',
  mac: '',
  ip: '',
  description: '',
  groupId: null,
  bootImageId: null,
  bootMode: INHERIT,
  keepWriteback: INHERIT,
  bootMenu: INHERIT,
  installMediaId: null,
  enabled: true,
  tags: [],
});

export const machineToForm = (m: Machine): MachineFormValues => ({
  name: m.name,
  mac: m.mac,
  ip: m.ip ?? '',
  description: m.description,
  groupId: m.groupId,
  bootImageId: m.bootImageId,
  bootMode: m.bootMode ?? INHERIT,
  keepWriteback: tri(m.keepWriteback),
  bootMenu: tri(m.bootMenu),
  installMediaId: m.installMediaId ?? null,
  enabled: m.enabled,
  tags: m.tags,
});

/** Checks the form the way the server will, so that most mistakes never leave the browser. */
export function validateMachine(v: MachineFormValues): Record<string, string> {
  const e: Record<string, string> = {};
  const name = v.name.trim().toLowerCase();
  if (!name) e.name = 'a name is required';
  else if (!HOSTNAME_RE.test(name))
    e.name = 'use 1-63 letters, digits or hyphens, not starting or ending with a hyphen';
  if (!v.mac.trim()) e.mac = 'a MAC address is required';
  else if (!normalizeMac(v.mac))
    e.mac = 'not a unicast MAC address (e.g. 52:54:00:12:34:56, 52-54-00-12-34-56, 5254.0012.3456)';
  if (v.ip.trim() && !IPV4_RE.test(v.ip.trim())) e.ip = 'not an IPv4 address such as 192.168.1.20';
  const bad = v.tags.find((t) => !TAG_RE.test(t.trim().toLowerCase()));
  if (bad !== undefined) e.tags = `"${bad}": tags are 1-32 letters, digits, _ or -`;
  if (v.description.length > 500) e.description = 'at most 500 characters';
  return e;
}

/** What the form sends: a new machine, or the changes to an existing one. */
export type MachineSave = { id: string; body: MachineUpdate } | { id?: undefined; body: MachineCreate };

/** The request body for create (all fields) or update (only what changed). */
export function machineBody(v: MachineFormValues): MachineCreate;
export function machineBody(v: MachineFormValues, original: Machine): MachineUpdate;
export function machineBody(v: MachineFormValues, original?: Machine): MachineCreate | MachineUpdate {
  const full: MachineCreate = {
    name: v.name.trim().toLowerCase(),
    mac: normalizeMac(v.mac) ?? v.mac,
    ip: v.ip.trim() || null,
    description: v.description,
    groupId: v.groupId,
    bootImageId: v.bootImageId,
    bootMode: v.bootMode === INHERIT ? null : v.bootMode,
    keepWriteback: fromTri(v.keepWriteback),
    bootMenu: fromTri(v.bootMenu),
    // install mode exists in (the machine's own) maintenance mode only; the server ends it otherwise
    installMediaId: v.bootMode === 'maintenance' ? v.installMediaId : null,
    enabled: v.enabled,
    tags: v.tags.map((t) => t.trim().toLowerCase()),
  };
  if (!original) return full;
  const before: MachineUpdate = machineBody(machineToForm(original));
  const changed: MachineUpdate = Object.fromEntries(
    Object.entries(full).filter(
      ([k, val]) => JSON.stringify(before[k as keyof MachineUpdate]) !== JSON.stringify(val),
    ),
  );
  return changed;
}

export function MachineFormModal(props: {
  opened: boolean;
  machine: Machine | null;
  images: Image[];
  groups: MachineGroup[];
  /** Install media (ISO files) for install mode. */
  media?: Media[];
  onClose: () => void;
  onSubmit: (save: MachineSave) => Promise<unknown>;
}) {
  const [v, setV] = useState<MachineFormValues>(emptyMachine);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const group = props.groups.find((g) => g.id === v.groupId) ?? null;
  const imageName = (id: string | null) =>
    id ? (props.images.find((i) => i.id === id)?.name ?? id) : 'none';
  /** What "inherit" means for this machine right now: the group's value, else the global default. */
  const inherits = (groupValue: string | null, fallback: string) =>
    groupValue !== null && group
      ? `inherit: ${groupValue} (group ${group.name})`
      : `inherit: ${fallback} (default)`;
  const onOff = (b: boolean | null | undefined) => (b === null || b === undefined ? null : b ? 'on' : 'off');
  const triData = (groupValue: boolean | null | undefined, fallback: string) => [
    { value: INHERIT, label: inherits(onOff(groupValue), fallback) },
    { value: 'on', label: 'on' },
    { value: 'off', label: 'off' },
  ];

  useEffect(() => {
    if (props.opened) {
      setV(props.machine ? machineToForm(props.machine) : emptyMachine());
      setErrors({});
      setFormError(null);
    }
  }, [props.opened, props.machine]);

  const set = <K extends keyof MachineFormValues>(k: K, val: MachineFormValues[K]) => {
    setV((o) => ({ ...o, [k]: val }));
    if (errors[k]) setErrors((o) => ({ ...o, [k]: '' }));
  };

  const submit = async (ev: React.FormEvent) => {
    ev.preventDefault();
    const e = validateMachine(v);
    setErrors(e);
    if (Object.values(e).some(Boolean)) return;
    setBusy(true);
    setFormError(null);
    try {
      await props.onSubmit(
        props.machine
          ? { id: props.machine.id, body: machineBody(v, props.machine) }
          : { body: machineBody(v) },
      );
      props.onClose();
    } catch (err) {
      if (isApiError(err)) {
        const fe = err.fieldErrors();
        // conflicts name the field in their code (mac_taken, name_taken)
        if (err.code === 'mac_taken') fe.mac = err.detail;
        if (err.code === 'name_taken') fe.name = err.detail;
        setErrors(fe);
        if (!Object.keys(fe).length) setFormError(err.hint ? `${err.detail} — ${err.hint}` : err.detail);
      } else setFormError(String(err));
    } finally {
      setBusy(false);
    }
  };

  const normalized = v.mac.trim() ? normalizeMac(v.mac) : null;
  return (
    <Modal
      opened={props.opened}
      onClose={props.onClose}
      title={props.machine ? `Edit ${props.machine.name}` : 'Add a machine'}
      size="lg"
    >
      <form onSubmit={submit} noValidate data-testid="machine-form">
        <Stack>
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <TextInput
              label="Name"
              placeholder="pc-01"
              value={v.name}
              onChange={(e) => set('name', e.currentTarget.value)}
              error={errors.name}
              required
              data-autofocus
            />
            <TextInput
              label="MAC address"
              placeholder="52:54:00:12:34:56"
              value={v.mac}
              onChange={(e) => set('mac', e.currentTarget.value)}
              onBlur={() => normalized && normalized !== v.mac && set('mac', normalized)}
              error={errors.mac}
              description={
                normalized && normalized !== v.mac.trim()
                  ? `will be saved as ${normalized}`
                  : 'aa:bb:cc:dd:ee:ff, aa-bb-…, aabb.ccdd.eeff'
              }
              required
            />
            <TextInput
              label="Fixed IP address"
              placeholder="optional, e.g. 192.168.1.20"
              value={v.ip}
              onChange={(e) => set('ip', e.currentTarget.value)}
              error={errors.ip}
            />
            <Select
              label="Group"
              placeholder="no group"
              clearable
              data={props.groups.map((g) => ({ value: g.id, label: g.name }))}
              value={v.groupId}
              onChange={(val) => set('groupId', val)}
              error={errors.groupId}
            />
            <Select
              label="Boot image"
              placeholder={inherits(
                group?.bootImageId ? imageName(group.bootImageId) : null,
                'default image',
              )}
              clearable
              data={props.images.map((i) => ({
                value: i.id,
                label: `${i.name}${i.state !== 'ready' ? ` (${i.state})` : ''}`,
              }))}
              value={v.bootImageId}
              onChange={(val) => set('bootImageId', val)}
              error={errors.bootImageId}
            />
            <Select
              label="Boot mode"
              data={[
                { value: INHERIT, label: inherits(group?.bootMode ?? null, 'normal') },
                { value: 'normal', label: 'Normal (writes discarded at reboot)' },
                { value: 'maintenance', label: 'Maintenance (writes can become a new version)' },
                { value: 'local', label: 'Local disk' },
              ]}
              value={v.bootMode}
              onChange={(val) => set('bootMode', (val ?? INHERIT) as MachineFormValues['bootMode'])}
              allowDeselect={false}
            />
            <Select
              label="Keep writes across reboots"
              data={triData(group?.keepWriteback, 'off')}
              value={v.keepWriteback}
              onChange={(val) => set('keepWriteback', (val ?? INHERIT) as Tri)}
              allowDeselect={false}
            />
            <Select
              label="Boot menu"
              data={triData(group?.bootMenu, 'the boot.menu setting')}
              value={v.bootMenu}
              onChange={(val) => set('bootMenu', (val ?? INHERIT) as Tri)}
              allowDeselect={false}
            />
            {v.bootMode === 'maintenance' && (
              <Select
                label="Install from (install mode)"
                placeholder="no: boot the image"
                description="boots this ISO with the image's maintenance disk as the first hard disk"
                clearable
                data={(props.media ?? []).map((m) => ({ value: m.id, label: m.name }))}
                value={v.installMediaId}
                onChange={(val) => set('installMediaId', val)}
                error={errors.installMediaId}
              />
            )}
            <TagsInput
              label="Tags"
              placeholder="e.g. row-a, vip"
              value={v.tags}
              onChange={(t) => set('tags', t)}
              error={errors.tags}
            />
          </SimpleGrid>
          <Textarea
            label="Description"
            autosize
            minRows={2}
            value={v.description}
            onChange={(e) => set('description', e.currentTarget.value)}
            error={errors.description}
          />
          <Group>
            <Switch
              label="Enabled"
              checked={v.enabled}
              onChange={(e) => set('enabled', e.currentTarget.checked)}
            />
          </Group>
          {formError && (
            <Text c="red" size="sm" role="alert">
              {formError}
            </Text>
          )}
          <ModalActions
            onCancel={props.onClose}
            label={props.machine ? 'Save' : 'Add machine'}
            loading={busy}
            submit
          />
        </Stack>
      </form>
    </Modal>
  );
}
