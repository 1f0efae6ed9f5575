import { describe, expect, it } from 'vitest';
import { act, screen } from '@testing-library/react';
import { Notifications } from '@mantine/notifications';
import { ApiError } from '../api/api-error';
import { notifyError } from '../lib/notify';
import type { Job } from '@ggnet/contracts';
import { renderWithProviders } from '../test/render';
import { TimelineBar } from './boot-timeline';
import { JobProgress, jobLabel } from './job-progress';
import { EmptyState, StatusBadge } from './ui';

describe('components', () => {
  it('TimelineBar draws one segment per phase with widths proportional to time', () => {
    renderWithProviders(
      <TimelineBar
        phases={[
          { key: 'dhcp', label: 'DHCP', startMs: 0, endMs: 1000 },
          { key: 'iscsi', label: 'iSCSI login', startMs: 1000, endMs: 4000 },
        ]}
      />,
    );
    const bar = screen.getByTestId('boot-timeline');
    const segs = bar.querySelectorAll<HTMLElement>('[data-phase]');
    expect([...segs].map((s) => s.dataset.phase)).toEqual(['dhcp', 'iscsi']);
    expect(Number(segs[1]!.style.flexGrow)).toBeCloseTo(0.75);
    expect(bar).toHaveTextContent('total 4.0 s');
  });

  it('JobProgress shows percent, speed and ETA', () => {
    const job = {
      id: 'j',
      type: 'image.convert',
      state: 'running',
      payload: { name: 'win11' },
      progress: {
        percent: 42,
        bytesDone: 420 * 1024 ** 2,
        bytesTotal: 1000 * 1024 ** 2,
        bytesPerSec: 50 * 1024 ** 2,
        etaSec: 12,
        stage: 'convert',
      },
    } as unknown as Job;
    renderWithProviders(<JobProgress job={job} />);
    const el = screen.getByTestId('job-progress');
    expect(el).toHaveTextContent('42 %');
    expect(el).toHaveTextContent('50.0 MiB/s');
    expect(el).toHaveTextContent('12 s left');
    expect(jobLabel(job)).toBe('Convert image win11');
  });

  it('StatusBadge and EmptyState', () => {
    renderWithProviders(
      <>
        <StatusBadge status="online" />
        <EmptyState title="No machines yet" message="Add one." />
      </>,
    );
    expect(screen.getByText('online').closest('[data-status]')).toHaveAttribute('data-status', 'online');
    expect(screen.getByTestId('empty-state')).toHaveTextContent('No machines yet');
  });

  it('an error toast carries the problem+json detail and hint', async () => {
    renderWithProviders(<Notifications />);
    act(() =>
      notifyError(
        new ApiError({
          status: 409,
          code: 'machine_in_session',
          detail: '2 machine(s) have a running session',
          hint: 'stop their sessions first',
        }),
      ),
    );
    expect(await screen.findByText('2 machine(s) have a running session')).toBeInTheDocument();
    expect(screen.getByText('stop their sessions first')).toBeInTheDocument();
  });
});
