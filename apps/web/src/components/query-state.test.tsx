import { describe, expect, it, vi } from 'vitest';
import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { UseQueryResult } from '@tanstack/react-query';
import { ApiError } from '../api/api-error';
import { renderWithProviders } from '../test/render';
import { isEmptyData, QueryState } from './query-state';

type Q<T> = Pick<UseQueryResult<T>, 'isPending' | 'isError' | 'error' | 'data' | 'refetch'>;
const q = <T,>(over: Partial<Q<T>>): Q<T> => ({
  isPending: false,
  isError: false,
  error: null,
  data: undefined,
  refetch: vi.fn(),
  ...over,
});

describe('<QueryState>', () => {
  it('loading: the given skeleton, or a table skeleton', () => {
    const { rerender } = renderWithProviders(
      <QueryState query={q({ isPending: true })} loading={<p>wait</p>}>
        {() => 'data'}
      </QueryState>,
    );
    expect(screen.getByText('wait')).toBeInTheDocument();
    rerender(<QueryState query={q({ isPending: true })}>{() => 'data'}</QueryState>);
    expect(screen.getByTestId('table-skeleton')).toBeInTheDocument();
    expect(screen.queryByText('data')).toBeNull();
  });

  it("error: the problem's detail and hint, and Retry refetches", async () => {
    const refetch = vi.fn();
    const error = new ApiError({
      status: 503,
      code: 'no_boot_address',
      detail: 'no address',
      hint: 'set one',
    });
    const { rerender } = renderWithProviders(
      <QueryState query={q({ isError: true, error, refetch })}>{() => 'data'}</QueryState>,
    );
    expect(screen.getByText('no address')).toBeInTheDocument();
    expect(screen.getByText('set one')).toBeInTheDocument();
    await userEvent.setup().click(screen.getByRole('button', { name: 'Retry' }));
    expect(refetch).toHaveBeenCalledTimes(1);
    rerender(
      <QueryState query={q({ isError: true, error, refetch })} retry={false}>
        {() => 'data'}
      </QueryState>,
    );
    expect(screen.queryByRole('button', { name: 'Retry' })).toBeNull();
  });

  it('empty: the empty state for no items or null; children otherwise', () => {
    const { rerender } = renderWithProviders(
      <QueryState query={q({ data: { items: [], total: 0 } })} empty={<p>nothing</p>}>
        {() => 'data'}
      </QueryState>,
    );
    expect(screen.getByText('nothing')).toBeInTheDocument();
    rerender(
      <QueryState query={q({ data: null })} empty={<p>not on this server</p>}>
        {() => 'data'}
      </QueryState>,
    );
    expect(screen.getByText('not on this server')).toBeInTheDocument();
    rerender(
      <QueryState query={q({ data: { items: [1, 2], total: 2 } })} empty={<p>nothing</p>}>
        {(d) => `${d.items.length} items`}
      </QueryState>,
    );
    expect(screen.getByText('2 items')).toBeInTheDocument();
    // a custom test of emptiness; without `empty`, empty data goes to the children
    rerender(
      <QueryState query={q({ data: 0 })} empty={<p>zero</p>} isEmpty={(n) => n === 0}>
        {(n) => `n=${n}`}
      </QueryState>,
    );
    expect(screen.getByText('zero')).toBeInTheDocument();
    rerender(
      <QueryState query={q({ data: { items: [], total: 0 } })}>{(d) => `total ${d.total}`}</QueryState>,
    );
    expect(screen.getByText('total 0')).toBeInTheDocument();
  });

  it('isEmptyData', () => {
    expect([null, undefined, { items: [] }].map(isEmptyData)).toEqual([true, true, true]);
    expect([{ items: [1] }, 0, '', { total: 0 }].map(isEmptyData)).toEqual([false, false, false, false]);
  });
});
