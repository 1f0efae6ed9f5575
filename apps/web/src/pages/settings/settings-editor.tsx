import { useMemo, useState } from 'react';
import { Alert, Button, Tabs, Text } from '@mantine/core';
import { IconLock } from '@tabler/icons-react';
import type { Image, Settings, SettingsPatch, SettingsResponse } from '@ggnet/contracts';
import { isApiError } from '../../api/api-error';
import { useApiMutation } from '../../api/queries';
import { PageHeader } from '../../components/ui';
import { keys } from '../../live/apply-event';
import { notifyOk } from '../../lib/notify';
import { AlertsTab } from './alerts-tab';
import { BackupTab } from './backup-tab';
import { BootTab } from './boot-tab';
import { DhcpTab } from './dhcp-tab';
import { IscsiTab } from './iscsi-tab';
import { MachinesTab } from './machines-tab';
import { PowerTab } from './power-tab';
import { setPath, settingsDiff } from './settings-diff';
import { settingsFields } from './settings-fields';
import { StorageTab } from './storage-tab';

/**
 * A draft of the settings against the saved ones: Save sends only what changed (PUT /settings) and
 * maps the server's field errors onto the fields and their tabs; Discard goes back to the saved ones.
 */
export function SettingsEditor({ saved, images }: { saved: SettingsResponse; images: Image[] }) {
  const [draft, setDraft] = useState<Settings>(saved.settings);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const save = useApiMutation<SettingsPatch, SettingsResponse>(
    (body) => ({ path: '/settings', method: 'PUT', body }),
    // the DHCP snippet and status follow the boot address and the mode
    [keys.settings, keys.dhcp],
    { silent: true },
  );
  const locked = useMemo(() => new Set(saved.locked), [saved]);
  const diff = useMemo(() => settingsDiff(saved.settings, draft), [saved, draft]);
  const dirty = Object.keys(diff).length > 0;

  const set = (path: string, v: unknown) => {
    setDraft((o) => setPath(o, path, v));
    if (errors[path]) setErrors((e) => ({ ...e, [path]: '' }));
  };
  const f = settingsFields({ draft, locked, errors, set });

  const submit = async () => {
    setFormError(null);
    setErrors({});
    try {
      const res = await save.mutateAsync(diff);
      setDraft(res.settings);
      notifyOk('Settings saved');
    } catch (e) {
      if (isApiError(e)) {
        const fe = e.fieldErrors();
        setErrors(fe);
        setFormError(
          Object.keys(fe).length
            ? 'Some fields need fixing (see below).'
            : `${e.detail}${e.hint ? ` — ${e.hint}` : ''}`,
        );
      } else setFormError(String(e));
    }
  };

  const errorIn = (group: string) => Object.entries(errors).some(([k, v]) => v && k.startsWith(`${group}.`));
  const tab = (value: string, label: string) => (
    <Tabs.Tab value={value} color={errorIn(value) ? 'red' : undefined} c={errorIn(value) ? 'red' : undefined}>
      {label}
    </Tabs.Tab>
  );

  return (
    <>
      <PageHeader
        title="Settings"
        description="Changes apply at once; keys pinned by the server's environment are locked."
        actions={
          <>
            <Button
              variant="default"
              disabled={!dirty}
              onClick={() => {
                setDraft(saved.settings);
                setErrors({});
                setFormError(null);
              }}
            >
              Discard
            </Button>
            <Button disabled={!dirty} loading={save.isPending} onClick={submit} data-testid="save-settings">
              Save changes
            </Button>
          </>
        }
      />
      {formError && (
        <Alert color="red" mb="md" role="alert" data-testid="settings-error">
          {formError}
        </Alert>
      )}
      {locked.size > 0 && (
        <Text size="sm" c="dimmed" mb="sm">
          <IconLock size={12} /> Locked: {[...locked].join(', ')}
        </Text>
      )}
      <Tabs defaultValue="dhcp" keepMounted={false}>
        <Tabs.List mb="md">
          {tab('dhcp', 'Network & DHCP')}
          {tab('boot', 'Boot menu')}
          {tab('storage', 'Storage')}
          {tab('iscsi', 'iSCSI')}
          {tab('machines', 'Machines')}
          {tab('backup', 'Backups')}
          {tab('alerts', 'Alerts')}
          {tab('power', 'Power')}
        </Tabs.List>
        <Tabs.Panel value="dhcp">
          <DhcpTab f={f} dirty={dirty} />
        </Tabs.Panel>
        <Tabs.Panel value="boot">
          <BootTab f={f} />
        </Tabs.Panel>
        <Tabs.Panel value="storage">
          <StorageTab f={f} />
        </Tabs.Panel>
        <Tabs.Panel value="iscsi">
          <IscsiTab f={f} />
        </Tabs.Panel>
        <Tabs.Panel value="machines">
          <MachinesTab f={f} images={images} />
        </Tabs.Panel>
        <Tabs.Panel value="backup">
          <BackupTab f={f} />
        </Tabs.Panel>
        <Tabs.Panel value="alerts">
          <AlertsTab f={f} savedWebhook={!!saved.settings.alerts.webhookUrl} />
        </Tabs.Panel>
        <Tabs.Panel value="power">
          <PowerTab f={f} />
        </Tabs.Panel>
      </Tabs>
    </>
  );
}
