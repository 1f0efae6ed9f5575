import { useEffect, useState, useSyncExternalStore } from 'react';
import { Alert, Button, Group, Stack, Text } from '@mantine/core';
import type { PreviousUpload } from 'tus-js-client';
import { discardInterrupted, interruptedUploads, serverOffset, uploads } from './upload-store';

/** Uploads a reload or a lost connection interrupted: how far the server has them, and Discard. */
export function InterruptedUploads({ refreshKey }: { refreshKey: number }) {
  const [items, setItems] = useState<Array<PreviousUpload & { offset: number | null }>>([]);
  const active = useSyncExternalStore(uploads.subscribe, uploads.get);
  useEffect(() => {
    let gone = false;
    void (async () => {
      const prev = await interruptedUploads();
      const withOffsets = await Promise.all(
        prev.map(async (p) => ({
          ...p,
          offset: p.uploadUrl ? await serverOffset(p.uploadUrl).catch(() => null) : null,
        })),
      );
      if (!gone) setItems(withOffsets);
    })();
    return () => {
      gone = true;
    };
  }, [refreshKey, active.length]);
  const waiting = items.filter((p) => !uploads.isActive(p.metadata.filename ?? '', p.size ?? -1));
  if (!waiting.length) return null;
  return (
    <Alert color="yellow" title="Interrupted uploads" data-testid="interrupted-uploads">
      <Stack gap={6}>
        {waiting.map((p) => (
          <Group key={p.urlStorageKey} justify="space-between" wrap="nowrap">
            <Text size="sm">
              <b>{p.metadata.filename}</b> —{' '}
              {p.offset !== null && p.size
                ? `${((p.offset / p.size) * 100).toFixed(1)} % on the server`
                : 'no longer on the server'}
              {' · '}drop the same file again to resume.
            </Text>
            <Button
              size="xs"
              variant="subtle"
              color="red"
              onClick={async () => {
                await discardInterrupted(p);
                setItems((xs) => xs.filter((x) => x.urlStorageKey !== p.urlStorageKey));
              }}
            >
              Discard
            </Button>
          </Group>
        ))}
      </Stack>
    </Alert>
  );
}
