import {
  SECRET_MASK,
  SECRET_SETTINGS,
  Settings,
  type SettingsPatch,
  type SettingsResponse,
} from '@ggnet/contracts';
import { IPV4_RE } from '@ggnet/contracts';
import type { FieldError } from '@ggnet/contracts';
import { AppError, badRequest, conflict } from '../../errors/app-error.js';
import { nowIso } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import type { SettingsRepository } from './settings.repository.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function deepMerge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = isObj(v) && isObj(base[k]) ? deepMerge(base[k], v) : v;
  }
  return out;
}

function dottedKeys(o: Obj, prefix = ''): string[] {
  return Object.entries(o).flatMap(([k, v]) =>
    isObj(v) ? dottedKeys(v, `${prefix}${k}.`) : v === undefined ? [] : [`${prefix}${k}`],
  );
}

const ipToInt = (ip: string) => ip.split('.').reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;

/**
 * The boot network GGnet serves DHCP on is at most a /16: 65,534 addresses, far more PCs than one
 * broadcast segment ever holds (a /20-/22 is usual), and a pool GGnet computes in milliseconds. A
 * shorter netmask (0.0.0.0 would make 1.0.0.1-223.255.255.254 one "subnet") is refused.
 */
export const DHCP_MIN_PREFIX = 16;
/** /31 and /32 leave no address for a client. */
export const DHCP_MAX_PREFIX = 30;

const NETMASK_RE =
  /^(255|254|252|248|240|224|192|128|0)\.(255|254|252|248|240|224|192|128|0)\.(255|254|252|248|240|224|192|128|0)\.(255|254|252|248|240|224|192|128|0)$/;

/** Prefix length of a contiguous netmask, or null. */
function prefixOf(netmask: string): number | null {
  if (!NETMASK_RE.test(netmask)) return null;
  const bits = ipToInt(netmask).toString(2).padStart(32, '0');
  return /^1*0*$/.test(bits) ? (bits.indexOf('0') === -1 ? 32 : bits.indexOf('0')) : null;
}

/** Rules that span keys; each problem names its field. */
export function crossCheck(s: Settings): FieldError[] {
  const errors: FieldError[] = [];
  const d = s.dhcp;
  if (d.mode !== 'off' && !d.iface && !s.network.bootAddr) {
    errors.push({
      path: 'dhcp.iface',
      message: `dhcp.mode=${d.mode} needs the boot interface (or network.bootAddr)`,
    });
  }
  if (d.mode === 'dhcp') {
    if (!d.iface)
      errors.push({ path: 'dhcp.iface', message: 'a DHCP server needs the interface of the boot network' });
    if (!d.rangeStart)
      errors.push({ path: 'dhcp.rangeStart', message: 'a DHCP server needs an address range' });
    if (!d.rangeEnd) errors.push({ path: 'dhcp.rangeEnd', message: 'a DHCP server needs an address range' });
  }
  const prefix = prefixOf(d.netmask);
  if (prefix === null) {
    errors.push({ path: 'dhcp.netmask', message: 'must be a contiguous netmask such as 255.255.255.0' });
  } else if (prefix < DHCP_MIN_PREFIX) {
    errors.push({
      path: 'dhcp.netmask',
      message: `/${prefix} is too large: GGnet serves a boot network of at most 65,534 addresses (netmask 255.255.0.0, /${DHCP_MIN_PREFIX}, or longer such as 255.255.255.0)`,
    });
  } else if (prefix > DHCP_MAX_PREFIX) {
    errors.push({
      path: 'dhcp.netmask',
      message: `/${prefix} leaves no address for a client: use /${DHCP_MAX_PREFIX} (255.255.255.252) or shorter`,
    });
  }
  if (d.rangeStart && d.rangeEnd && IPV4_RE.test(d.rangeStart) && IPV4_RE.test(d.rangeEnd)) {
    const a = ipToInt(d.rangeStart);
    const b = ipToInt(d.rangeEnd);
    const mask = ipToInt(d.netmask);
    if (a > b) errors.push({ path: 'dhcp.rangeEnd', message: 'must not be lower than dhcp.rangeStart' });
    if ((a & mask) !== (b & mask))
      errors.push({
        path: 'dhcp.rangeEnd',
        message: `must be in the same subnet as dhcp.rangeStart (netmask ${d.netmask})`,
      });
    if (prefix !== null && prefix >= DHCP_MIN_PREFIX && prefix <= DHCP_MAX_PREFIX) {
      const host = ~mask >>> 0;
      for (const [path, ip, v] of [
        ['dhcp.rangeStart', d.rangeStart, a],
        ['dhcp.rangeEnd', d.rangeEnd, b],
      ] as const) {
        if ((v & host) === 0 || (v & host) === host)
          errors.push({
            path,
            message: `${ip} is the ${(v & host) === 0 ? 'network' : 'broadcast'} address of its subnet (netmask ${d.netmask}); use an address between them`,
          });
        else if (v >>> 24 === 0 || v >>> 24 >= 224)
          errors.push({ path, message: `${ip} is not a unicast address a client can use` });
      }
    }
  }
  return errors;
}

/** A copy of the settings with every set write-only key replaced by SECRET_MASK. */
export function maskSecrets(s: Settings): Settings {
  const out = structuredClone(s) as unknown as Record<string, Obj>;
  for (const [g, k] of SECRET_SETTINGS) {
    const group = out[g];
    if (group && group[k] !== null && group[k] !== undefined) group[k] = SECRET_MASK;
  }
  return out as unknown as Settings;
}

/** A patch that sends back SECRET_MASK (a form that shows the masked value) leaves the secret as it is. */
function withoutMaskedSecrets(patch: SettingsPatch): SettingsPatch {
  let out = patch as Obj;
  for (const [g, k] of SECRET_SETTINGS) {
    const group = out[g];
    if (isObj(group) && group[k] === SECRET_MASK) {
      const { [k]: _masked, ...rest } = group;
      out = { ...out, [g]: rest };
    }
  }
  return out;
}

/**
 * Effective settings = defaults <- what admins stored <- pins from env/config file.
 * Cached for a few seconds so a separate `ggnet worker` sees changes soon without a round trip per use.
 */
export class SettingsService {
  private cache: { value: Settings; until: number } | null = null;
  private readonly lockedKeys: string[];

  constructor(
    private readonly repo: SettingsRepository,
    private readonly pins: SettingsPatch,
    private readonly bus: EventBus,
    private readonly validators: Array<(s: Settings) => Promise<FieldError[]>> = [],
  ) {
    this.lockedKeys = dottedKeys(pins);
  }

  get locked(): string[] {
    return this.lockedKeys;
  }

  /** Extra checks that need other modules (e.g. machines.defaultImageId must exist). */
  addValidator(v: (s: Settings) => Promise<FieldError[]>): void {
    this.validators.push(v);
  }

  async get(): Promise<Settings> {
    if (this.cache && this.cache.until > Date.now()) return this.cache.value;
    const stored = await this.repo.all();
    const merged = deepMerge(stored, this.pins);
    const parsed = Settings.safeParse(this.withGroups(merged));
    // stored values that no longer validate (older version, hand edits) fall back to defaults group by group
    const value = parsed.success ? parsed.data : this.salvage(stored);
    this.cache = { value, until: Date.now() + 3000 };
    return value;
  }

  /** What the API and the settings.updated event show: write-only keys (SECRET_SETTINGS) masked. */
  async response(): Promise<SettingsResponse> {
    return { settings: maskSecrets(await this.get()), locked: this.lockedKeys };
  }

  private withGroups(o: Obj): Obj {
    const out: Obj = {};
    for (const g of Object.keys(Settings.shape)) out[g] = isObj(o[g]) ? o[g] : {};
    return out;
  }

  private salvage(stored: Obj): Settings {
    const out: Obj = {};
    for (const [g, schema] of Object.entries(Settings.shape)) {
      const merged = deepMerge(
        isObj(stored[g]) ? stored[g] : {},
        isObj((this.pins as Obj)[g]) ? ((this.pins as Obj)[g] as Obj) : {},
      );
      const r = schema.safeParse(merged);
      out[g] = r.success ? r.data : schema.parse(isObj((this.pins as Obj)[g]) ? (this.pins as Obj)[g] : {});
    }
    return out as Settings;
  }

  async update(patch: SettingsPatch, by: string | null): Promise<SettingsResponse> {
    patch = withoutMaskedSecrets(patch);
    const touched = dottedKeys(patch);
    const locked = touched.filter((k) => this.lockedKeys.includes(k));
    if (locked.length) {
      throw conflict(
        'setting_locked',
        `${locked.join(', ')} ${locked.length === 1 ? 'is' : 'are'} set by the server's environment or config file`,
        'change it where GGnet is configured (GGNET_* variables or /etc/ggnet/ggnet.toml) and restart',
      );
    }
    const stored = await this.repo.all();
    const nextStored = deepMerge(stored, patch);
    const candidate = Settings.safeParse(this.withGroups(deepMerge(nextStored, this.pins)));
    if (!candidate.success) {
      const errors = candidate.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
      throw badRequest(
        'validation_failed',
        `invalid settings: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
        'fix the fields listed in errors',
        errors,
      );
    }
    const errors = crossCheck(candidate.data);
    for (const v of this.validators) errors.push(...(await v(candidate.data)));
    if (errors.length) {
      throw new AppError(
        422,
        'invalid_settings',
        `settings do not fit together: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
        {
          hint: errors.some((e) => e.path === 'dhcp.netmask' && /too large/.test(e.message))
            ? 'use the netmask of the boot network (e.g. 255.255.255.0) and a range inside it; fix the fields listed in errors'
            : 'fix the fields listed in errors',
          errors,
        },
      );
    }
    const groups = Object.fromEntries(Object.keys(patch).map((g) => [g, nextStored[g]]));
    await this.repo.put(groups, by, nowIso());
    this.cache = null;
    const res = await this.response();
    this.bus.publish('settings.updated', 'settings', res.settings);
    return res;
  }

  invalidate(): void {
    this.cache = null;
  }
}
