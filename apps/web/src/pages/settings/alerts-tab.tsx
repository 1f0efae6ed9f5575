import {
  Button,
  Card,
  Group,
  NumberInput,
  PasswordInput,
  SimpleGrid,
  Stack,
  Text,
  Title,
} from '@mantine/core';
import { SECRET_MASK, type Job } from '@ggnet/contracts';
import { useApiMutation } from '../../api/queries';
import { keys } from '../../live/apply-event';
import { notifyOk } from '../../lib/notify';
import type { SettingsFields } from './settings-fields';

const GiB = 1024 ** 3;

/**
 * Space alerts (thresholds, soft limits), the webhook (URL, write-only secret, test call) and the
 * cleanup of old kept writebacks. The secret shows as set, never in clear (the server masks it).
 */
export function AlertsTab({ f, savedWebhook }: { f: SettingsFields; savedWebhook: boolean }) {
  const a = f.draft.alerts;
  const test = useApiMutation<void, Job>(
    () => ({ path: '/alerts/webhook/test', method: 'POST' }),
    [keys.jobs],
  );
  const gib = (path: string, label: string, value: number | null, description: string, nullable = true) => (
    <NumberInput
      label={label}
      description={description}
      suffix=" GiB"
      min={0}
      decimalScale={1}
      placeholder={nullable ? 'no limit' : undefined}
      value={value === null ? '' : value / GiB}
      onChange={(v) => f.set(path, v === '' && nullable ? null : Math.round(Number(v || 0) * GiB))}
      {...f.field(path)}
    />
  );
  return (
    <Stack>
      <Card withBorder>
        <Title order={5} mb="sm">
          Thresholds
        </Title>
        <SimpleGrid cols={{ base: 1, sm: 2 }}>
          {f.num('alerts.arrayUsedPercent', 'Array used', {
            min: 1,
            max: 100,
            suffix: ' %',
            description: 'Alert when the storage filesystem is fuller than this',
          })}
          {gib(
            'alerts.reserveWarnBytes',
            'Warn before the reserve',
            a.reserveWarnBytes,
            'Alert when free space is within this of the reserve (Storage tab)',
            false,
          )}
          {gib(
            'alerts.writebackLimitBytes',
            'Writeback soft limit',
            a.writebackLimitBytes,
            'Per writeback, for machines without their own limit',
          )}
          {gib(
            'alerts.writebacksTotalLimitBytes',
            'All writebacks',
            a.writebacksTotalLimitBytes,
            'Bytes of all live writebacks together',
          )}
          {gib(
            'alerts.imageLimitBytes',
            'Image size',
            a.imageLimitBytes,
            'Versions and writebacks of one image',
          )}
          {f.num('alerts.hysteresisPercent', 'Hysteresis', {
            min: 0,
            max: 50,
            suffix: ' %',
            description: 'An alert clears once its measure is this far back (no flapping)',
          })}
          {f.num('alerts.intervalSec', 'Check every', { min: 5, max: 3600, suffix: ' s' })}
        </SimpleGrid>
      </Card>
      <Card withBorder>
        <Title order={5} mb="sm">
          Webhook
        </Title>
        <Text size="sm" c="dimmed" mb="sm">
          Raised and cleared alerts are POSTed as JSON, signed with HMAC-SHA256 (header X-GGnet-Signature; see
          the admin guide).
        </Text>
        <SimpleGrid cols={{ base: 1, sm: 2 }}>
          {f.text(
            'alerts.webhookUrl',
            'Webhook URL',
            'https://hooks.example.com/ggnet',
            'http:// or https:// only',
          )}
          <PasswordInput
            label="Signing secret"
            description={
              a.webhookSecret === SECRET_MASK
                ? 'Set (write-only); type a new one to replace it'
                : '16-256 characters'
            }
            placeholder={a.webhookSecret === SECRET_MASK ? 'unchanged' : 'not set'}
            value={a.webhookSecret === SECRET_MASK ? '' : (a.webhookSecret ?? '')}
            onChange={(e) =>
              f.set(
                'alerts.webhookSecret',
                e.currentTarget.value === '' ? SECRET_MASK : e.currentTarget.value,
              )
            }
            data-testid="webhook-secret"
            {...f.field('alerts.webhookSecret')}
          />
          {f.num('alerts.webhookTimeoutSec', 'Timeout', { min: 1, max: 60, suffix: ' s' })}
        </SimpleGrid>
        <Group mt="md">
          <Button
            variant="light"
            disabled={!savedWebhook}
            loading={test.isPending}
            onClick={() =>
              test.mutate(undefined, { onSuccess: () => notifyOk('Test call queued (see Jobs)') })
            }
            data-testid="webhook-test"
          >
            Send a test call
          </Button>
        </Group>
      </Card>
      <Card withBorder>
        <Title order={5} mb="sm">
          Old kept writebacks
        </Title>
        <SimpleGrid cols={{ base: 1, sm: 2 }}>
          {f.num('alerts.cleanupAfterDays', 'Unused for', { min: 1, max: 3650, suffix: ' days' })}
        </SimpleGrid>
        <Stack mt="md">
          {f.bool(
            'alerts.cleanupEnabled',
            'Discard them every hour',
            'Off by default; each discard is in the audit log. The Alerts page lists them either way.',
          )}
        </Stack>
      </Card>
    </Stack>
  );
}
