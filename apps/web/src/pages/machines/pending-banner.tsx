import { Alert, Button, Group, Text } from '@mantine/core';

/** "n machines are waiting for approval", with a button that filters the list to them. */
export function PendingBanner(props: { count: number; onShow: () => void }) {
  return (
    <Alert color="yellow" mb="md" data-testid="pending-banner">
      <Group justify="space-between">
        <Text size="sm">
          {props.count} machine{props.count === 1 ? ' is' : 's are'} waiting for approval.
        </Text>
        <Button size="xs" variant="light" color="yellow" onClick={props.onShow}>
          Show pending
        </Button>
      </Group>
    </Alert>
  );
}
