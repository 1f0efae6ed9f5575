import type { ReactNode } from 'react';
import type { UseQueryResult } from '@tanstack/react-query';
import { EmptyState, QueryError, TableSkeleton } from './ui';

type QueryLike<T> = Pick<UseQueryResult<T>, 'isPending' | 'isError' | 'error' | 'data' | 'refetch'>;

/** No data to show: null (an endpoint this server lacks, see useOptional) or a page without items. */
export function isEmptyData(data: unknown): boolean {
  if (data === null || data === undefined) return true;
  if (typeof data === 'object' && 'items' in data && Array.isArray(data.items))
    return data.items.length === 0;
  return false;
}

/**
 * The ladder every query on screen goes through: loading (a skeleton), error (the problem's detail
 * and hint, with Retry), empty, then the data. One place for it, so that every page and card shows
 * the same thing at each step.
 */
export function QueryState<T>(props: {
  query: QueryLike<T>;
  children: (data: T) => ReactNode;
  /** While the first answer is awaited; a table skeleton by default. */
  loading?: ReactNode;
  /** Shown instead of children when `isEmpty(data)`; without it, empty data goes to children. */
  empty?: ReactNode;
  isEmpty?: (data: T) => boolean;
  /** Offer a Retry button on errors (default true). */
  retry?: boolean;
}) {
  const q = props.query;
  if (q.isPending) return <>{props.loading ?? <TableSkeleton />}</>;
  if (q.isError)
    return <QueryError error={q.error} retry={props.retry === false ? undefined : () => void q.refetch()} />;
  const data = q.data as T;
  if (props.empty !== undefined && (props.isEmpty ?? isEmptyData)(data)) return <>{props.empty}</>;
  return <>{props.children(data)}</>;
}

/**
 * A list's ladder: a table skeleton of `cols` columns while loading, `emptyTitle` / `emptyMessage`
 * for a page without items, then the table.
 */
export function QueryTable<T>(props: {
  query: QueryLike<T>;
  children: (data: T) => ReactNode;
  cols: number;
  rows?: number;
  emptyTitle: string;
  emptyMessage?: ReactNode;
}) {
  return (
    <QueryState
      query={props.query}
      loading={<TableSkeleton cols={props.cols} rows={props.rows} />}
      empty={<EmptyState title={props.emptyTitle} message={props.emptyMessage} />}
    >
      {props.children}
    </QueryState>
  );
}
