import { describe, expect, it } from 'vitest';
import { screen, within } from '@testing-library/react';
import { aGroup, aMachine, anEffective, anImage } from '../../test/fixtures';
import { renderWithProviders } from '../../test/render';
import { EffectiveSettingsTable } from './effective-settings';

describe('<EffectiveSettingsTable>', () => {
  it('shows each effective value and where it comes from: own, the group by name, or the default', () => {
    const m = aMachine({
      groupId: 'g1',
      bootMode: 'maintenance',
      effective: anEffective({
        bootImageId: { value: 'i2', source: 'group' },
        extraImageIds: { value: ['i3'], source: 'group' },
        bootMode: { value: 'maintenance', source: 'machine' },
        keepWriteback: { value: false, source: 'default' },
        bootVersion: { versionId: 'v9', source: 'ring' },
      }),
    });
    renderWithProviders(
      <EffectiveSettingsTable
        machine={m}
        images={[anImage({ id: 'i2', name: 'win11-vip' }), anImage({ id: 'i3', name: 'games' })]}
        groups={[aGroup({ id: 'g1', name: 'VIP room' })]}
      />,
    );
    const table = screen.getByTestId('effective-settings');
    const row = (label: string) => table.querySelector<HTMLElement>(`tr[data-setting="${label}"]`)!;
    expect(row('Boot image')).toHaveTextContent('win11-vip');
    expect(within(row('Boot image')).getByText('group VIP room').closest('[data-source]')).toHaveAttribute(
      'data-source',
      'group',
    );
    expect(row('Extra disks')).toHaveTextContent('games');
    expect(row('Boot mode')).toHaveTextContent('maintenance');
    expect(within(row('Boot mode')).getByText('own').closest('[data-source]')).toHaveAttribute(
      'data-source',
      'machine',
    );
    expect(row('Keep writes')).toHaveTextContent('off');
    expect(within(row('Keep writes')).getByText('default').closest('[data-source]')).toHaveAttribute(
      'data-source',
      'default',
    );
    expect(row('Version')).toHaveTextContent('ring release of group VIP room');
  });
});
