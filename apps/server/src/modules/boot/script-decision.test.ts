import { describe, expect, it } from 'vitest';
import type { GateDecision } from './maintenance-gate.js';
import { decideScript, type MachineBootMode, type ScriptDecisionInput } from './script-decision.js';

const published = { id: 'img', name: 'win11', published_version_id: 'v1' };
const unpublished = { id: 'img', name: 'win11', published_version_id: null };

/** Decides with the given image and gate, and says which steps were asked. */
async function decide(
  input: Partial<ScriptDecisionInput> & { mode?: MachineBootMode; pending?: boolean; enabled?: boolean },
  /** null: the machine has no image */
  image: typeof published | typeof unpublished | null = published,
  gate: GateDecision = { kind: 'not_offered' },
) {
  const asked: string[] = [];
  const decision = await decideScript(
    {
      machine: {
        pending: input.pending ?? false,
        enabled: input.enabled ?? true,
        bootMode: input.mode ?? 'normal',
      },
      menu: input.menu ?? false,
      requestedMode: input.requestedMode,
    },
    {
      image: async () => {
        asked.push('image');
        return image ?? undefined;
      },
      gate: async () => {
        asked.push('gate');
        return gate;
      },
    },
  );
  return { decision, asked };
}

describe('decideScript', () => {
  it('pending and disabled machines boot nothing (their image is not even looked up)', async () => {
    expect(await decide({ pending: true, enabled: false })).toEqual({
      decision: { result: 'pending' },
      asked: [],
    });
    expect(await decide({ enabled: false })).toEqual({ decision: { result: 'disabled' }, asked: [] });
  });

  it("without the menu the machine's mode decides; a mode in the request is ignored", async () => {
    expect((await decide({})).decision).toEqual({ result: 'boot', mode: 'normal', image: published });
    expect((await decide({ mode: 'maintenance' })).decision).toEqual({
      result: 'boot',
      mode: 'maintenance',
      image: published,
    });
    expect((await decide({ mode: 'local' })).decision).toEqual({ result: 'local' });
    const r = await decide({ requestedMode: 'maintenance' }, published, { kind: 'granted', by: 'pin' });
    expect(r).toEqual({ decision: { result: 'boot', mode: 'normal', image: published }, asked: ['image'] });
  });

  it('the menu first, then the mode chosen in it', async () => {
    expect((await decide({ menu: true })).decision).toEqual({ result: 'menu', image: published });
    expect((await decide({ menu: true }, null)).decision).toEqual({ result: 'menu', image: undefined });
    expect((await decide({ menu: true, requestedMode: 'local' })).decision).toEqual({ result: 'local' });
    expect((await decide({ menu: true, mode: 'local', requestedMode: 'normal' })).decision).toEqual({
      result: 'boot',
      mode: 'normal',
      image: published,
    });
  });

  it('maintenance from the menu goes through the gate', async () => {
    const ask = { kind: 'ask_pin', wrong: false, approval: true } as const;
    expect(await decide({ menu: true, requestedMode: 'maintenance' }, published, ask)).toEqual({
      decision: { result: 'maintenance', gate: ask },
      asked: ['image', 'gate'],
    });
    const granted = await decide({ menu: true, requestedMode: 'maintenance' }, published, {
      kind: 'granted',
      by: 'operator',
    });
    expect(granted.decision).toEqual({ result: 'boot', mode: 'maintenance', image: published });
    // not offered: the machine's own mode instead
    const off = await decide({ menu: true, mode: 'local', requestedMode: 'maintenance' });
    expect(off.decision).toEqual({ result: 'local' });
    // a machine in maintenance mode needs no gate
    const own = await decide(
      { menu: true, mode: 'maintenance', requestedMode: 'maintenance' },
      published,
      ask,
    );
    expect(own).toEqual({
      decision: { result: 'boot', mode: 'maintenance', image: published },
      asked: ['image'],
    });
  });

  it('no image, or one without a published version: no_image', async () => {
    expect((await decide({}, null)).decision).toEqual({ result: 'no_image', image: undefined });
    expect((await decide({}, unpublished)).decision).toEqual({ result: 'no_image', image: unpublished });
    // local wins over a missing image
    expect((await decide({ mode: 'local' }, null)).decision).toEqual({ result: 'local' });
  });
});
