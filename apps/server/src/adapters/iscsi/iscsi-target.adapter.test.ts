import { describe, expect, it } from 'vitest';
import { FakeIscsiDriver } from './iscsi-target.fake.js';
import { createTargetFromSpec, hasDrift, targetDrift, type TargetSpec } from './iscsi-target.adapter.js';

const spec: TargetSpec = {
  iqn: 'iqn.2024-01.lan.ggnet:pc-01',
  luns: [
    { lun: 1, path: '/d/writebacks/a.raw', serial: 'a1' },
    { lun: 2, path: '/d/writebacks/b.raw', serial: 'b2' },
  ],
  initiatorIqn: 'iqn.2024-01.lan.ggnet:initiator.pc-01',
  chap: { user: 'pc-01', secret: 'Secret1234567890' },
  mutual: null,
};

describe('createTargetFromSpec', () => {
  it('creates target, LUNs, CHAP and the ACL last', async () => {
    const d = new FakeIscsiDriver();
    await createTargetFromSpec(d, spec);
    expect(d.calls).toEqual([
      `create ${spec.iqn}`,
      `lun ${spec.iqn} 1`,
      `lun ${spec.iqn} 2`,
      `chap ${spec.iqn}`,
      `bind ${spec.iqn} ${spec.initiatorIqn}`,
    ]);
    expect(hasDrift(targetDrift(spec, (await d.list())[0]!, 1))).toBe(false);
  });

  it('removes the half-made target when a step fails', async () => {
    const d = new FakeIscsiDriver();
    d.failOn = 'chap';
    await expect(createTargetFromSpec(d, spec)).rejects.toThrow(/injected failure/);
    expect(d.calls.at(-1)).toBe(`delete ${spec.iqn}`);
    expect(d.targets.size).toBe(0);
  });
});

describe('targetDrift', () => {
  it('finds missing, wrong and extra LUNs, ACL and CHAP differences', () => {
    const d = targetDrift(
      spec,
      {
        iqn: spec.iqn,
        luns: [
          { lun: 0, path: 'None' },
          { lun: 1, path: '/d/writebacks/OTHER.raw' },
          { lun: 3, path: '/d/writebacks/c.raw' },
        ],
        initiators: ['iqn.2024-01.lan.ggnet:initiator.intruder'],
        addresses: [],
        chapUsers: [],
        mutualUser: null,
        connections: [],
      },
      1,
    );
    expect(d.missingLuns.map((l) => l.lun)).toEqual([2]);
    expect(d.wrongLuns.map((l) => l.lun)).toEqual([1]);
    expect(d.extraLuns).toEqual([3]);
    expect(d.missingInitiator).toBe(true);
    expect(d.extraInitiators).toEqual(['iqn.2024-01.lan.ggnet:initiator.intruder']);
    expect(d.chapMismatch).toBe(true);
  });
});

describe('targets of machines with a fixed IP', () => {
  const fixed: TargetSpec = { ...spec, allowedAddress: '10.0.0.21' };

  it('are bound to the address only (tgt ORs name and address entries), last, after CHAP', async () => {
    const d = new FakeIscsiDriver();
    await createTargetFromSpec(d, fixed);
    expect(d.calls.at(-1)).toBe(`bind-address ${spec.iqn} 10.0.0.21`);
    expect(d.calls.some((c) => c.startsWith('bind '))).toBe(false);
    const live = (await d.list())[0]!;
    expect(live).toMatchObject({ addresses: ['10.0.0.21'], initiators: [] });
    expect(hasDrift(targetDrift(fixed, live, 1, true))).toBe(false);
  });

  it('drift: a name entry next to the address, a missing address, a foreign address', () => {
    const live = {
      iqn: spec.iqn,
      luns: spec.luns.map((l) => ({ lun: l.lun, path: l.path })),
      initiators: [spec.initiatorIqn],
      addresses: ['10.0.0.66'],
      chapUsers: ['pc-01'],
      mutualUser: null,
      connections: [],
    };
    const d = targetDrift(fixed, live, 1, true);
    expect(d).toMatchObject({
      missingInitiator: false,
      extraInitiators: [spec.initiatorIqn],
      missingAddress: '10.0.0.21',
      extraAddresses: ['10.0.0.66'],
    });
    // a driver without address ACLs (LIO) keeps the name ACL
    expect(targetDrift(fixed, { ...live, addresses: [] }, 1, false)).toMatchObject({
      missingInitiator: false,
      extraInitiators: [],
      missingAddress: null,
    });
  });

  it('drift: accounts of older sessions bound to the target, and a wrong mutual user', () => {
    const d = targetDrift(
      {
        ...spec,
        chap: { user: 'pc-01.s2', secret: 'Secret1234567890' },
        mutual: { user: 'tgt.pc-01.s2', secret: 'x' },
      },
      {
        iqn: spec.iqn,
        luns: spec.luns.map((l) => ({ lun: l.lun, path: l.path })),
        initiators: [spec.initiatorIqn],
        addresses: [],
        chapUsers: ['pc-01.s1'],
        mutualUser: 'tgt.pc-01.s1',
        connections: [],
      },
      1,
    );
    expect(d).toMatchObject({
      missingChapUsers: ['pc-01.s2'],
      extraChapUsers: ['pc-01.s1'],
      mutualMismatch: true,
      chapMismatch: true,
    });
  });
});
