import type { GateDecision } from './maintenance-gate.js';

/** What the script told the client to do (recorded in the `script` boot event). */
export type ScriptResult =
  | 'identify'
  | 'boot'
  | 'menu'
  | 'pending'
  | 'unknown'
  | 'registration_closed'
  | 'registration_capped'
  | 'maintenance'
  | 'rate_limited'
  | 'preparing'
  | 'disabled'
  | 'local'
  | 'no_image'
  | 'refused'
  | 'error';

export type MachineBootMode = 'normal' | 'maintenance' | 'local';

/** A maintenance gate that did not let the client in (it gets the gate's own script). */
export type GateRefusal = Exclude<GateDecision, { kind: 'granted' } | { kind: 'not_offered' }>;

export interface ScriptDecisionInput {
  /** The registered machine asking (its own state and mode). */
  machine: { pending: boolean; enabled: boolean; bootMode: MachineBootMode };
  /** settings.boot.menu: the boot menu is shown, and its choice honoured. */
  menu: boolean;
  /** The mode chosen in the boot menu (`mode=` of the request), if any. */
  requestedMode?: MachineBootMode;
}

export interface ScriptDecisionSteps<I> {
  /** The machine's boot image (looked up only for a machine that may boot). */
  image: () => Promise<I | undefined>;
  /** The maintenance gate, asked only when the menu asks for maintenance the machine is not in. */
  gate: () => Promise<GateDecision>;
}

export type ScriptDecision<I> =
  | { result: 'pending' | 'disabled' | 'local' }
  | { result: 'menu'; image: I | undefined }
  | { result: 'maintenance'; gate: GateRefusal }
  | { result: 'no_image'; image: I | undefined }
  | { result: 'boot'; mode: 'normal' | 'maintenance'; image: I };

/**
 * Which script a registered machine gets for its state: waiting for approval, disabled, the boot
 * menu, the maintenance gate, the local disk, no image, or a boot in a mode. Session starts,
 * records and script texts are the caller's.
 */
export async function decideScript<I extends { published_version_id: string | null }>(
  input: ScriptDecisionInput,
  steps: ScriptDecisionSteps<I>,
): Promise<ScriptDecision<I>> {
  const { machine } = input;
  if (machine.pending) return { result: 'pending' };
  if (!machine.enabled) return { result: 'disabled' };
  const image = await steps.image();
  if (input.menu && !input.requestedMode) return { result: 'menu', image };
  // the menu is the only way a client picks its mode; without it, the machine's setting decides
  let mode = input.menu && input.requestedMode ? input.requestedMode : machine.bootMode;
  if (mode === 'maintenance' && machine.bootMode !== 'maintenance') {
    // maintenance from the menu: the PIN or an operator's approval, never a keypress alone
    const gate = await steps.gate();
    if (gate.kind === 'not_offered') mode = machine.bootMode;
    else if (gate.kind !== 'granted') return { result: 'maintenance', gate };
  }
  if (mode === 'local') return { result: 'local' };
  if (!image || !image.published_version_id) return { result: 'no_image', image };
  return { result: 'boot', mode, image };
}
