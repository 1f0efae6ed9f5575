import { useState } from 'react';
import { ActionIcon, Code, CopyButton, Group, Stack, Text, Tooltip } from '@mantine/core';
import { IconCheck, IconCopy, IconEye, IconEyeOff } from '@tabler/icons-react';
import type { Target } from '@ggnet/contracts';
import { api } from '../../api/client';
import { useCan } from '../../api/use-auth';
import { notifyError } from '../../lib/notify';

/** CHAP secret: hidden; an admin can reveal it (GET /targets/{id}?reveal=true) and copy it. */
export function ChapSecret({ target }: { target: Target }) {
  const isAdmin = useCan('admin');
  const [secret, setSecret] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (!target.chapUser)
    return (
      <Text size="sm" c="dimmed">
        no CHAP
      </Text>
    );
  return (
    <Stack gap={2}>
      <Text size="sm" ff="monospace">
        {target.chapUser}
      </Text>
      <Group gap={4} wrap="nowrap">
        <Code data-testid="chap-secret">{secret ?? '••••••••••••'}</Code>
        {isAdmin && (
          <Tooltip label={secret ? 'Hide' : 'Reveal the secret (admins only)'}>
            <ActionIcon
              variant="subtle"
              size="sm"
              loading={busy}
              aria-label={secret ? 'Hide secret' : 'Reveal secret'}
              onClick={async () => {
                if (secret) return setSecret(null);
                setBusy(true);
                try {
                  const t = await api<Target>(`/targets/${target.id}`, { query: { reveal: 'true' } });
                  setSecret(t.chapSecret ?? '(none)');
                } catch (e) {
                  notifyError(e);
                } finally {
                  setBusy(false);
                }
              }}
            >
              {secret ? <IconEyeOff size={14} /> : <IconEye size={14} />}
            </ActionIcon>
          </Tooltip>
        )}
        {secret && (
          <CopyButton value={secret}>
            {({ copied, copy }) => (
              <ActionIcon variant="subtle" size="sm" onClick={copy} aria-label="Copy secret">
                {copied ? <IconCheck size={14} /> : <IconCopy size={14} />}
              </ActionIcon>
            )}
          </CopyButton>
        )}
      </Group>
    </Stack>
  );
}
