import { defaultSettings, type Settings } from '@ggnet/contracts';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../errors/app-error.js';
import { EventBus } from '../../events/event-bus.js';
import { AutoRegistration, autoMachineName } from './auto-registration.js';
import type { MachineRowWithSession } from './machines.repository.js';
import { RegistrationPolicy } from './registration-policy.js';

describe('autoMachineName', () => {
  it('{n}: the number after the highest one used with the same prefix and suffix', () => {
    expect(autoMachineName('pc-{n}', '52:54:00:12:34:56', 0, [])).toBe('pc-1');
    expect(autoMachineName('pc-{n}', '52:54:00:12:34:56', 0, ['pc-1', 'pc-7', 'pc-3'])).toBe('pc-8');
    // names of another shape with the same prefix do not count
    expect(autoMachineName('pc-{n}', '52:54:00:12:34:56', 0, ['pc-x', 'pc-9-old', 'pc-'])).toBe('pc-1');
    expect(autoMachineName('lab-{n}-a', '52:54:00:12:34:56', 0, ['lab-4-a', 'lab-9-b'])).toBe('lab-5-a');
    // a later attempt (the name was taken meanwhile) skips ahead
    expect(autoMachineName('pc-{n}', '52:54:00:12:34:56', 2, ['pc-4'])).toBe('pc-7');
  });

  it('{mac}: the MAC without colons, with -2, -3... on later attempts', () => {
    expect(autoMachineName('pc-{mac}', '52:54:00:12:34:56', 0, [])).toBe('pc-525400123456');
    expect(autoMachineName('pc-{mac}', '52:54:00:12:34:56', 1, [])).toBe('pc-525400123456-2');
    expect(autoMachineName('{mac}', 'aa:bb:cc:dd:ee:ff', 2, [])).toBe('aabbccddeeff-3');
    // at most 63 characters, a hostname's limit
    const long = `${'x'.repeat(55)}-{mac}`;
    expect(autoMachineName(long, 'aa:bb:cc:dd:ee:ff', 3, []).length).toBe(63);
  });
});

/** What AutoRegistration asks of the machines service and repository, in memory. */
class FakeMachines {
  rows: Array<{ name: string; mac: string; pending: number; groupId?: string }> = [];
  /** Names taken by someone else between the lookup and the insert. */
  raced = new Set<string>();
  missingGroups = new Set<string>();

  create = async (
    input: { name: string; mac: string; groupId?: string },
    extra: { pending?: number } = {},
  ) => {
    if (input.groupId && this.missingGroups.has(input.groupId))
      throw new AppError(400, 'group_not_found', 'no such group');
    if (this.raced.has(input.name) || this.rows.some((r) => r.name === input.name))
      throw new AppError(409, 'name_taken', 'taken');
    if (this.rows.some((r) => r.mac === input.mac)) throw new AppError(409, 'mac_taken', 'taken');
    const row = { ...input, pending: extra.pending ?? 0 };
    this.rows.push(row);
    return { name: row.name, pending: !!row.pending, groupId: row.groupId ?? null } as never;
  };
  findByMac = async (mac: string) => {
    const r = this.rows.find((x) => x.mac === mac);
    return r
      ? ({ id: `id-${r.name}`, name: r.name, mac: r.mac, pending: r.pending } as MachineRowWithSession)
      : undefined;
  };
  allNames = async (prefix: string) => this.rows.map((r) => r.name).filter((n) => n.startsWith(prefix));
}

function settings(m: Partial<Settings['machines']> = {}): Settings {
  const s = defaultSettings();
  return { ...s, machines: { ...s.machines, ...m } };
}

const log = pino({ level: 'silent' });

describe('AutoRegistration', () => {
  it('off: nobody is registered', async () => {
    const fake = new FakeMachines();
    const reg = new AutoRegistration({ machines: fake, machinesRepo: fake, log });
    expect(await reg.register('52:54:00:00:00:01', settings({ autoRegister: 'off' }), '10.0.0.5')).toEqual({
      refused: 'off',
    });
    expect(fake.rows).toEqual([]);
  });

  it('pending: registered as pending; auto: ready to boot; neither gets an image of its own (it inherits)', async () => {
    const fake = new FakeMachines();
    const reg = new AutoRegistration({ machines: fake, machinesRepo: fake, log });
    const img = '01HZZZZZZZZZZZZZZZZZZZZZZZ';
    const p = await reg.register('52:54:00:00:00:01', settings({ defaultImageId: img }), '10.0.0.5');
    expect(p.row?.name).toBe('pc-1');
    const a = await reg.register(
      '52:54:00:00:00:02',
      settings({ autoRegister: 'auto', defaultImageId: img }),
      '10.0.0.6',
    );
    expect(a.row?.name).toBe('pc-2');
    expect(fake.rows).toEqual([
      { name: 'pc-1', mac: '52:54:00:00:00:01', pending: 1 },
      { name: 'pc-2', mac: '52:54:00:00:00:02', pending: 0 },
    ]);
  });

  it('the group of a matching rule first, else machines.autoRegisterGroupId', async () => {
    const fake = new FakeMachines();
    const asked: string[] = [];
    const reg = new AutoRegistration({
      machines: fake,
      machinesRepo: fake,
      log,
      groupByRules: async (mac, ip) => {
        asked.push(`${mac} ${ip}`);
        return mac.startsWith('52:54:00') ? 'vip' : null;
      },
    });
    const s = settings({ autoRegister: 'auto', autoRegisterGroupId: 'hall' });
    await reg.register('52:54:00:00:00:01', s, '10.0.0.5');
    await reg.register('aa:bb:cc:00:00:02', s, '10.0.0.6');
    await reg.register('aa:bb:cc:00:00:03', settings({ autoRegister: 'auto' }), '10.0.0.7');
    expect(fake.rows.map((r) => r.groupId)).toEqual(['vip', 'hall', undefined]);
    expect(asked).toEqual([
      '52:54:00:00:00:01 10.0.0.5',
      'aa:bb:cc:00:00:02 10.0.0.6',
      'aa:bb:cc:00:00:03 10.0.0.7',
    ]);
  });

  it('a group deleted meanwhile: registered in no group', async () => {
    const fake = new FakeMachines();
    fake.missingGroups.add('gone');
    const reg = new AutoRegistration({ machines: fake, machinesRepo: fake, log });
    const r = await reg.register(
      '52:54:00:00:00:01',
      settings({ autoRegister: 'auto', autoRegisterGroupId: 'gone' }),
      '10.0.0.5',
    );
    expect(r.row?.name).toBe('pc-1');
    expect(fake.rows[0]).toEqual({ name: 'pc-1', mac: '52:54:00:00:00:01', pending: 0 });
  });

  it('a name taken concurrently: the next one; a MAC registered concurrently: that machine', async () => {
    const fake = new FakeMachines();
    fake.raced.add('pc-1').add('pc-2');
    const reg = new AutoRegistration({ machines: fake, machinesRepo: fake, log });
    expect((await reg.register('52:54:00:00:00:01', settings(), '10.0.0.5')).row?.name).toBe('pc-3');
    // the same MAC again (a second request that lost the race): the machine the first one made
    expect((await reg.register('52:54:00:00:00:01', settings(), '10.0.0.5')).row?.name).toBe('pc-3');
    expect(fake.rows).toHaveLength(1);
  });

  it('no free name after 8 attempts: a clear error', async () => {
    const fake = new FakeMachines();
    for (let i = 0; i < 9; i++) fake.raced.add(`pc-${i}`);
    const reg = new AutoRegistration({ machines: fake, machinesRepo: fake, log });
    const err = await reg.register('52:54:00:00:00:01', settings(), '10.0.0.5').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'name_taken', hint: 'change machines.namePattern' });
  });

  it('caps of the registration policy: pending_full and the others', async () => {
    const fake = new FakeMachines();
    const policy = new RegistrationPolicy({
      repo: { count: async () => 0, stalePending: async () => [], deletePending: async () => [] },
      bus: new EventBus(),
      log,
    });
    const reg = new AutoRegistration({ machines: fake, machinesRepo: fake, log, registration: policy });
    expect(await reg.register('52:54:00:00:00:01', settings({ pendingMax: 0 }), '10.0.0.5')).toEqual({
      refused: 'pending_full',
    });
    expect(
      (await reg.register('52:54:00:00:00:02', settings({ registerPerHour: 1 }), '10.0.0.5')).row?.name,
    ).toBe('pc-1');
    expect(await reg.register('52:54:00:00:00:03', settings({ registerPerHour: 1 }), '10.0.0.5')).toEqual({
      refused: 'capped',
    });
    expect(fake.rows.map((r) => r.mac)).toEqual(['52:54:00:00:00:02']);
  });
});
