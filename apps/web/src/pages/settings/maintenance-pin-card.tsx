import { useState } from 'react';
import { Badge, Button, Card, Group, PasswordInput, Stack, Text, Title } from '@mantine/core';
import { isApiError } from '../../api/api-error';
import { useApiMutation, useMaintenanceAccess } from '../../api/queries';
import { keys } from '../../live/apply-event';
import { notifyOk } from '../../lib/notify';

const PIN_RE = /^\d{4,12}$/;

/**
 * Settings, boot menu: the PIN that unlocks maintenance at a PC's boot menu. The server keeps only
 * its hash; the console shows whether one is set, never the PIN.
 */
export function MaintenancePinCard() {
  const q = useMaintenanceAccess();
  const [pin, setPin] = useState('');
  const [error, setError] = useState<string | null>(null);
  const set = useApiMutation<string>(
    (p) => ({ path: '/boot/maintenance/pin', method: 'PUT', body: { pin: p } }),
    [keys.boot],
    {
      silent: true,
    },
  );
  const clear = useApiMutation<void>(
    () => ({ path: '/boot/maintenance/pin', method: 'DELETE' }),
    [keys.boot],
  );
  const pinSet = q.data?.pinSet ?? false;

  const save = async () => {
    if (!PIN_RE.test(pin)) {
      setError('4 to 12 digits (6 or more recommended)');
      return;
    }
    setError(null);
    try {
      await set.mutateAsync(pin);
      setPin('');
      notifyOk('Maintenance PIN set');
    } catch (e) {
      setError(isApiError(e) ? (Object.values(e.fieldErrors())[0] ?? e.detail) : String(e));
    }
  };

  return (
    <Card withBorder mt="md" data-testid="maintenance-pin">
      <Group justify="space-between" mb="xs">
        <Title order={5}>Maintenance PIN</Title>
        <Badge color={pinSet ? 'teal' : 'gray'} variant="light" data-testid="pin-state">
          {pinSet ? 'set' : 'not set'}
        </Badge>
      </Group>
      <Text size="sm" c="dimmed" mb="sm">
        Choosing maintenance in a PC&apos;s boot menu asks for this PIN (or waits for an operator&apos;s
        approval, if that is on). With neither, the menu does not offer maintenance. Wrong PINs are
        rate-limited and written to the audit log.
      </Text>
      <Stack gap="xs">
        <PasswordInput
          label={pinSet ? 'New PIN' : 'PIN'}
          placeholder="6 to 12 digits"
          inputMode="numeric"
          autoComplete="new-password"
          value={pin}
          onChange={(e) => setPin(e.currentTarget.value.trim())}
          error={error ?? undefined}
          data-testid="pin-input"
        />
        <Group gap="xs">
          <Button
            size="xs"
            onClick={() => void save()}
            loading={set.isPending}
            disabled={!pin}
            data-testid="pin-save"
          >
            {pinSet ? 'Change PIN' : 'Set PIN'}
          </Button>
          {pinSet && (
            <Button
              size="xs"
              variant="default"
              color="red"
              loading={clear.isPending}
              onClick={() => clear.mutate()}
              data-testid="pin-clear"
            >
              Remove PIN
            </Button>
          )}
        </Group>
      </Stack>
    </Card>
  );
}
