import { describe, expect, it, vi } from 'vitest';
import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Table } from '@mantine/core';
import { renderWithProviders } from '../test/render';
import { ModalActions } from './modal-actions';
import { TableHead } from './ui';

describe('<TableHead> and <ModalActions>', () => {
  it('TableHead: titled, untitled and sized columns; falsy ones left out', () => {
    renderWithProviders(
      <Table>
        <TableHead columns={[{ w: 30 }, 'Name', false, null, undefined, '']} />
      </Table>,
    );
    const ths = screen.getAllByRole('columnheader');
    expect(ths.map((t) => t.textContent)).toEqual(['', 'Name', '']);
    expect(ths[0]!.style.width).not.toBe('');
  });

  it('ModalActions: Cancel, and the action (or a submit button in a form)', async () => {
    const onCancel = vi.fn();
    const onConfirm = vi.fn();
    const onSubmit = vi.fn((e: React.FormEvent) => e.preventDefault());
    renderWithProviders(
      <>
        <ModalActions onCancel={onCancel} label="Remove" color="red" onConfirm={onConfirm} />
        <form onSubmit={onSubmit}>
          <ModalActions onCancel={onCancel} label="Save" submit />
        </form>
      </>,
    );
    const u = userEvent.setup();
    await u.click(screen.getAllByRole('button', { name: 'Cancel' })[0]!);
    await u.click(screen.getByRole('button', { name: 'Remove' }));
    await u.click(screen.getByRole('button', { name: 'Save' }));
    expect(onCancel).toHaveBeenCalledTimes(1);
    expect(onConfirm).toHaveBeenCalledTimes(1);
    expect(onSubmit).toHaveBeenCalledTimes(1);
  });
});
