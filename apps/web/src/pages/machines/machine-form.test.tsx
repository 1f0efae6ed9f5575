import { describe, expect, it, vi } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { ApiError } from '../../api/api-error';
import { aMachine } from '../../test/fixtures';
import { renderWithProviders } from '../../test/render';
import { emptyMachine, MachineFormModal, machineBody, validateMachine } from './machine-form';

const existing = aMachine();

describe('machine form rules', () => {
  it('accepts every common MAC form and refuses the rest', () => {
    for (const mac of ['52:54:00:AA:BB:01', '52-54-00-aa-bb-01', '5254.00aa.bb01', '525400AABB01']) {
      expect(validateMachine({ ...emptyMachine(), name: 'pc-1', mac }).mac).toBeUndefined();
      expect(machineBody({ ...emptyMachine(), name: 'PC-1', mac }).mac).toBe('52:54:00:aa:bb:01');
    }
    for (const mac of [
      '52:54:00:aa:bb',
      '52:54-00:aa:bb:01',
      'ff:ff:ff:ff:ff:ff',
      '01:00:5e:00:00:01',
      'zz',
    ]) {
      expect(validateMachine({ ...emptyMachine(), name: 'pc-1', mac }).mac).toBeDefined();
    }
  });
  it('checks names, IPs and tags like the server', () => {
    const e = validateMachine({
      ...emptyMachine(),
      name: '-bad-',
      mac: '52:54:00:00:00:01',
      ip: '10.0.0.256',
      tags: ['ok', 'not ok'],
    });
    expect(Object.keys(e).sort()).toEqual(['ip', 'name', 'tags']);
    expect(
      validateMachine({ ...emptyMachine(), name: 'PC-01', mac: '52:54:00:00:00:01', ip: '10.0.0.25' }),
    ).toEqual({});
  });
  it('an edit sends only what changed', () => {
    expect(
      machineBody({ ...emptyMachine(), name: 'pc-01', mac: '52-54-00-AA-BB-01', ip: '10.0.0.9' }, existing),
    ).toEqual({ ip: '10.0.0.9' });
  });
  it('install mode: the medium goes along in maintenance mode only', () => {
    const v = { ...emptyMachine(), name: 'pc-01', mac: '52:54:00:aa:bb:01', installMediaId: 'md1' };
    expect(machineBody({ ...v, bootMode: 'maintenance' })).toMatchObject({
      bootMode: 'maintenance',
      installMediaId: 'md1',
    });
    expect(machineBody({ ...v, bootMode: 'normal' }).installMediaId).toBeNull();
    const installing = aMachine({ bootMode: 'maintenance', installMediaId: 'md1' });
    expect(machineBody({ ...v, bootMode: 'maintenance', installMediaId: null }, installing)).toEqual({
      installMediaId: null,
    });
  });
});

describe('<MachineFormModal>', () => {
  it(
    'shows field errors before sending, then maps a server conflict onto the MAC field',
    { timeout: 20_000 },
    async () => {
      const user = userEvent.setup();
      const onSubmit = vi.fn().mockRejectedValueOnce(
        new ApiError({
          status: 409,
          code: 'mac_taken',
          detail: 'a machine with MAC 52:54:00:aa:bb:01 already exists',
        }),
      );
      renderWithProviders(
        <MachineFormModal
          opened
          machine={null}
          images={[]}
          groups={[]}
          onClose={() => undefined}
          onSubmit={onSubmit}
        />,
      );
      await user.click(screen.getByRole('button', { name: 'Add machine' }));
      expect(await screen.findByText('a name is required')).toBeInTheDocument();
      expect(screen.getByText('a MAC address is required')).toBeInTheDocument();
      expect(onSubmit).not.toHaveBeenCalled();

      await user.type(screen.getByLabelText(/Name/), 'pc-02');
      await user.type(screen.getByLabelText(/MAC address/), '5254.00AA.BB01');
      expect(screen.getByText('will be saved as 52:54:00:aa:bb:01')).toBeInTheDocument();
      await user.click(screen.getByRole('button', { name: 'Add machine' }));
      await waitFor(() => expect(onSubmit).toHaveBeenCalledTimes(1));
      expect(onSubmit.mock.calls[0]![0]).toMatchObject({
        body: { name: 'pc-02', mac: '52:54:00:aa:bb:01', ip: null },
      });
      expect(await screen.findByText(/already exists/)).toBeInTheDocument();
    },
  );
});
