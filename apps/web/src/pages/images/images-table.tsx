import { Anchor, Table, Text, Tooltip } from '@mantine/core';
import { Link } from '@tanstack/react-router';
import type { Image, Job } from '@ggnet/contracts';
import { JobProgress } from '../../components/job-progress';
import { StatusBadge, TableHead } from '../../components/ui';
import { formatBytes, formatDateTime, formatRelative } from '../../lib/format';
import { jobForImage } from './job-for-image';

/** The images, with the progress of their conversion; a click opens one. */
export function ImagesTable(props: { images: Image[]; jobs: Job[]; onOpen: (image: Image) => void }) {
  return (
    <Table.ScrollContainer minWidth={800}>
      <Table highlightOnHover verticalSpacing={8} data-testid="images-table">
        <TableHead columns={['Name', 'State', 'OS', 'Size', 'Versions', 'Machines', 'Updated']} />
        <Table.Tbody>
          {props.images.map((img) => {
            const job = jobForImage(props.jobs, img);
            return (
              <Table.Tr
                key={img.id}
                style={{ cursor: 'pointer' }}
                onClick={() => props.onOpen(img)}
                data-image={img.name}
              >
                <Table.Td>
                  <Text size="sm" fw={500}>
                    {img.name}
                  </Text>
                  {img.description && (
                    <Text size="xs" c="dimmed" lineClamp={1}>
                      {img.description}
                    </Text>
                  )}
                </Table.Td>
                <Table.Td miw={180}>
                  <StatusBadge status={img.state} />
                  {job &&
                    (img.state === 'converting' || img.state === 'uploaded' || job.state === 'running') && (
                      <JobProgress job={job} compact />
                    )}
                  {img.state === 'failed' && img.error && (
                    <Text size="xs" c="red" lineClamp={2}>
                      {img.error}
                    </Text>
                  )}
                </Table.Td>
                <Table.Td fz="sm">{img.osType}</Table.Td>
                <Table.Td fz="sm">{formatBytes(img.sizeBytes)}</Table.Td>
                <Table.Td fz="sm">{img.versionCount}</Table.Td>
                <Table.Td fz="sm">
                  <Anchor
                    renderRoot={(props) => <Link to="/machines" search={{ imageId: img.id }} {...props} />}
                    onClick={(e: React.MouseEvent) => e.stopPropagation()}
                    size="sm"
                  >
                    {img.machineCount}
                  </Anchor>
                </Table.Td>
                <Table.Td fz="sm">
                  <Tooltip label={formatDateTime(img.updatedAt)}>
                    <span>{formatRelative(img.updatedAt)}</span>
                  </Tooltip>
                </Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
