import {
  MachineCreate as MachineCreateSchema,
  type Machine,
  type MachineBulk,
  type MachineCreate,
  type MachineCreateData,
  type MachineImportResult,
  type MachineListQuery,
  type MachineUpdate,
  type Page,
} from '@ggnet/contracts';
import { AppError, badRequest, conflict, notFound } from '../../errors/app-error.js';
import { isUniqueViolation, nowIso, uniqueViolationColumn } from '../../db/database.js';
import type { EventBus } from '../../events/event-bus.js';
import { newId } from '../../lib/ids.js';
import { initiatorIqn } from '../../lib/iqn.js';
import type { SettingsService } from '../settings/settings.service.js';
import type { ImagesRepository } from '../images/images.repository.js';
import type { LiveTraffic } from '../traffic/live-traffic.js';
import type { EffectiveResolver } from '../groups/effective-resolver.js';
import type { GroupsRepository } from '../groups/groups.repository.js';
import {
  toMachine,
  type MachineRow,
  type MachineRowWithSession,
  type MachinesRepository,
} from './machines.repository.js';

type CreateData = MachineCreateData;

const boolCol = (v: boolean | null | undefined): number | null =>
  v === null || v === undefined ? null : v ? 1 : 0;

function duplicateError(err: unknown, name: string, mac: string): AppError {
  const col = uniqueViolationColumn(err);
  if (col === 'mac')
    return conflict(
      'mac_taken',
      `a machine with MAC ${mac} already exists`,
      'each MAC belongs to one machine; edit that machine instead',
    );
  return conflict('name_taken', `a machine named ${name} already exists`, 'choose another name');
}

export class MachinesService {
  constructor(
    private readonly repo: MachinesRepository,
    private readonly images: ImagesRepository,
    private readonly settings: SettingsService,
    private readonly bus: EventBus,
    private readonly groups: Pick<GroupsRepository, 'existingIds' | 'all'>,
    private readonly resolver: EffectiveResolver,
    private readonly traffic: LiveTraffic | null = null,
    private readonly media?: { exists(id: string): Promise<boolean> },
  ) {}

  /**
   * Install mode: the medium exists, and the machine's own boot mode is (or becomes) maintenance.
   * Its own, not an inherited one: install mode is one machine's job, and a group that leaves
   * maintenance must not leave a machine booting an installer.
   */
  private async checkInstallMedia(
    mediaId: string | null | undefined,
    bootMode: string | null,
  ): Promise<void> {
    if (!mediaId) return;
    if (bootMode !== 'maintenance') {
      throw badRequest(
        'install_needs_maintenance',
        'install mode works in maintenance mode: the installer writes to the maintenance writeback',
        "set the machine's own bootMode to maintenance together with installMediaId",
        [{ path: 'body.installMediaId', message: 'needs bootMode maintenance' }],
      );
    }
    if (!(await this.media?.exists(mediaId))) {
      throw badRequest(
        'media_not_found',
        `install medium ${JSON.stringify(mediaId)} does not exist`,
        'pick one from GET /api/v1/media',
        [{ path: 'body.installMediaId', message: 'unknown medium' }],
      );
    }
  }

  /** API shapes of machine rows, with their effective settings (one resolution for the whole page). */
  async toApi(rows: MachineRowWithSession[]): Promise<Machine[]> {
    const eff = await this.resolver.forMachines(rows);
    return rows.map((r, i) => {
      const m = toMachine(r, eff[i]!.settings);
      return this.traffic ? { ...m, traffic: this.traffic.ofSession(m.sessionId) } : m;
    });
  }

  private async one(row: MachineRowWithSession): Promise<Machine> {
    return (await this.toApi([row]))[0]!;
  }

  async list(q: MachineListQuery): Promise<Page<Machine>> {
    const page = await this.repo.list(q);
    return { items: await this.toApi(page.items), total: page.total };
  }

  async get(id: string): Promise<Machine> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('machine', id);
    return this.one(row);
  }

  async findByMac(mac: string): Promise<Machine | null> {
    const row = await this.repo.findByMac(mac);
    return row ? this.one(row) : null;
  }

  private async checkGroup(groupId: string | null | undefined): Promise<void> {
    if (!groupId) return;
    if (!(await this.groups.existingIds([groupId])).length)
      throw badRequest(
        'group_not_found',
        `group ${JSON.stringify(groupId)} does not exist`,
        'pick a group from GET /api/v1/groups',
        [{ path: 'body.groupId', message: 'unknown group' }],
      );
  }

  private async checkImages(
    bootImageId: string | null | undefined,
    extra: string[] | null | undefined,
  ): Promise<void> {
    const ids = [...(bootImageId ? [bootImageId] : []), ...(extra ?? [])];
    if (!ids.length) return;
    const found = new Set(await this.images.existingIds(ids));
    const missing = ids.filter((i) => !found.has(i));
    if (missing.length) {
      throw badRequest(
        'image_not_found',
        `image ${missing.map((m) => JSON.stringify(m)).join(', ')} does not exist`,
        'pick an image from GET /api/v1/images',
        [
          {
            path: bootImageId && missing.includes(bootImageId) ? 'body.bootImageId' : 'body.extraImageIds',
            message: 'unknown image',
          },
        ],
      );
    }
    if (bootImageId && extra?.includes(bootImageId)) {
      throw badRequest('validation_failed', 'the boot image cannot also be an extra disk', undefined, [
        { path: 'body.extraImageIds', message: 'contains the boot image' },
      ]);
    }
  }

  private async newRow(d: CreateData, extra: Partial<MachineRow> = {}): Promise<MachineRow> {
    const iscsi = (await this.settings.get()).iscsi;
    const now = nowIso();
    return {
      id: newId(),
      name: d.name,
      mac: d.mac,
      ip: d.ip ?? null,
      description: d.description ?? '',
      enabled: d.enabled === false ? 0 : 1,
      pending: 0,
      group_id: d.groupId ?? null,
      // left out = inherited (group, then the global default)
      boot_image_id: d.bootImageId ?? null,
      extra_image_ids: d.extraImageIds ? JSON.stringify([...new Set(d.extraImageIds)]) : null,
      keep_writeback: boolCol(d.keepWriteback),
      boot_mode: d.bootMode ?? null,
      boot_menu: boolCol(d.bootMenu),
      install_media_id: d.installMediaId ?? null,
      tags: JSON.stringify([...new Set(d.tags ?? [])]),
      initiator_iqn: initiatorIqn(iscsi, d.name),
      last_seen_at: null,
      last_ip: null,
      created_at: now,
      updated_at: now,
      ...extra,
    };
  }

  async create(input: MachineCreate, extra: Partial<MachineRow> = {}): Promise<Machine> {
    const d = MachineCreateSchema.parse(input);
    await this.checkImages(d.bootImageId, d.extraImageIds);
    await this.checkGroup(d.groupId);
    await this.checkInstallMedia(d.installMediaId, d.bootMode ?? null);
    const row = await this.newRow(d, extra);
    try {
      await this.repo.insert(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw duplicateError(err, d.name, d.mac);
      throw err;
    }
    const m = await this.one({ ...row, session_id: null, session_state: null });
    this.bus.publish('machine.created', m.id, m);
    return m;
  }

  async update(id: string, p: MachineUpdate): Promise<Machine> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('machine', id);
    await this.checkImages(p.bootImageId === undefined ? undefined : p.bootImageId, p.extraImageIds);
    await this.checkGroup(p.groupId);
    if (
      p.bootImageId &&
      p.extraImageIds === undefined &&
      row.extra_image_ids !== null &&
      (JSON.parse(row.extra_image_ids) as string[]).includes(p.bootImageId)
    ) {
      throw badRequest('validation_failed', 'the boot image cannot also be an extra disk');
    }
    const changes: Partial<MachineRow> = { updated_at: nowIso() };
    if (p.name !== undefined && p.name !== row.name) {
      changes.name = p.name;
      changes.initiator_iqn = initiatorIqn((await this.settings.get()).iscsi, p.name);
    }
    if (p.mac !== undefined) changes.mac = p.mac;
    if (p.ip !== undefined) changes.ip = p.ip;
    if (p.description !== undefined) changes.description = p.description;
    if (p.enabled !== undefined) changes.enabled = p.enabled ? 1 : 0;
    if (p.pending === false) changes.pending = 0;
    if (p.groupId !== undefined) changes.group_id = p.groupId;
    if (p.bootImageId !== undefined) changes.boot_image_id = p.bootImageId;
    if (p.extraImageIds !== undefined)
      changes.extra_image_ids =
        p.extraImageIds === null ? null : JSON.stringify([...new Set(p.extraImageIds)]);
    if (p.keepWriteback !== undefined) changes.keep_writeback = boolCol(p.keepWriteback);
    if (p.bootMode !== undefined) changes.boot_mode = p.bootMode;
    if (p.bootMenu !== undefined) changes.boot_menu = boolCol(p.bootMenu);
    const mode = p.bootMode !== undefined ? p.bootMode : row.boot_mode;
    if (p.installMediaId !== undefined) {
      await this.checkInstallMedia(p.installMediaId, mode);
      changes.install_media_id = p.installMediaId;
    }
    // leaving maintenance mode ends install mode
    if (mode !== 'maintenance' && row.install_media_id) changes.install_media_id = null;
    if (p.tags !== undefined) changes.tags = JSON.stringify([...new Set(p.tags)]);
    try {
      await this.repo.update(id, changes);
    } catch (err) {
      if (isUniqueViolation(err)) throw duplicateError(err, p.name ?? row.name, p.mac ?? row.mac);
      throw err;
    }
    const m = await this.one({ ...row, ...changes });
    this.bus.publish('machine.updated', id, m);
    return m;
  }

  async delete(id: string): Promise<void> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('machine', id);
    await this.deleteMany([id]);
  }

  private async deleteMany(ids: string[]): Promise<number> {
    const live = await this.repo.idsWithLiveSession(ids);
    if (live.length) {
      throw conflict(
        'machine_in_session',
        `${live.length} machine(s) have a running session`,
        'stop their sessions first (POST /api/v1/sessions/{id}/stop)',
      );
    }
    const n = await this.repo.delete(ids);
    for (const id of ids) this.bus.publish('machine.deleted', id, null);
    return n;
  }

  async bulk(req: MachineBulk): Promise<{ affected: number }> {
    const ids = [...new Set(req.ids)];
    const found = await this.repo.findByIds(ids);
    if (found.length !== ids.length) {
      const have = new Set(found.map((r) => r.id));
      throw notFound(
        'machine',
        ids.find((i) => !have.has(i))!,
      );
    }
    const now = nowIso();
    let affected: number;
    switch (req.action) {
      case 'enable':
      case 'disable':
        affected = await this.repo.updateMany(ids, {
          enabled: req.action === 'enable' ? 1 : 0,
          updated_at: now,
        });
        break;
      case 'approve':
        affected = await this.repo.updateMany(ids, { pending: 0, updated_at: now });
        break;
      case 'assignImage':
        if (req.bootImageId === undefined)
          throw badRequest('validation_failed', 'assignImage needs bootImageId (null to clear)', undefined, [
            { path: 'body.bootImageId', message: 'required for assignImage' },
          ]);
        await this.checkImages(req.bootImageId, undefined);
        affected = await this.repo.updateMany(ids, { boot_image_id: req.bootImageId, updated_at: now });
        break;
      case 'setBootMode':
        if (req.bootMode === undefined)
          throw badRequest('validation_failed', 'setBootMode needs bootMode (null to inherit)', undefined, [
            { path: 'body.bootMode', message: 'required for setBootMode' },
          ]);
        affected = await this.repo.updateMany(ids, {
          boot_mode: req.bootMode,
          // leaving maintenance mode ends install mode
          ...(req.bootMode !== 'maintenance' ? { install_media_id: null } : {}),
          updated_at: now,
        });
        break;
      case 'moveToGroup':
        if (req.groupId === undefined)
          throw badRequest(
            'validation_failed',
            'moveToGroup needs groupId (null: out of any group)',
            undefined,
            [{ path: 'body.groupId', message: 'required for moveToGroup' }],
          );
        await this.checkGroup(req.groupId);
        affected = await this.repo.updateMany(ids, { group_id: req.groupId, updated_at: now });
        break;
      case 'delete':
        return { affected: await this.deleteMany(ids) };
    }
    for (const m of await this.toApi(await this.repo.findByIds(ids)))
      this.bus.publish('machine.updated', m.id, m);
    return { affected };
  }

  /**
   * CSV import, all or nothing: every line is validated (format, duplicates inside the file and
   * against existing machines, image names) before anything is stored.
   */
  async importCsv(csv: string, dryRun: boolean): Promise<MachineImportResult> {
    const lines = csv.replace(/^\uFEFF/, '').split(/\r?\n/);
    const header = parseCsvLine(lines[0] ?? '').map((h) => h.trim().toLowerCase());
    if (!header.includes('name') || !header.includes('mac')) {
      throw badRequest(
        'invalid_csv',
        'the first line must be a header with at least the columns name and mac',
        'e.g. name,mac,ip,description,bootMode,tags,image,group',
      );
    }
    const known = new Set([
      'name',
      'mac',
      'ip',
      'description',
      'bootmode',
      'tags',
      'image',
      'enabled',
      'keepwriteback',
      'group',
    ]);
    const unknown = header.filter((h) => !known.has(h));
    if (unknown.length)
      throw badRequest(
        'invalid_csv',
        `unknown column(s): ${unknown.join(', ')}`,
        `columns: ${[...known].join(', ')}`,
      );
    const imageNames = new Map((await this.images.allNames()).map((i) => [i.name.toLowerCase(), i.id]));
    const groupNames = new Map((await this.groups.all()).map((g) => [g.name.toLowerCase(), g.id]));
    const errors: { line: number; message: string }[] = [];
    const rows: CreateData[] = [];
    const seenNames = new Map<string, number>();
    const seenMacs = new Map<string, number>();
    for (let i = 1; i < lines.length; i++) {
      const raw = lines[i]!;
      if (!raw.trim()) continue;
      const lineNo = i + 1;
      const cells = parseCsvLine(raw);
      if (cells.length !== header.length) {
        errors.push({ line: lineNo, message: `expected ${header.length} fields, found ${cells.length}` });
        continue;
      }
      const rec = Object.fromEntries(header.map((h, j) => [h, cells[j]!.trim()]));
      let bootImageId: string | undefined;
      if (rec.image) {
        bootImageId = imageNames.get(rec.image.toLowerCase());
        if (!bootImageId) {
          errors.push({ line: lineNo, message: `image ${JSON.stringify(rec.image)} does not exist` });
          continue;
        }
      }
      let groupId: string | undefined;
      if (rec.group) {
        groupId = groupNames.get(rec.group.toLowerCase());
        if (!groupId) {
          errors.push({ line: lineNo, message: `group ${JSON.stringify(rec.group)} does not exist` });
          continue;
        }
      }
      const parsed = MachineCreateSchema.safeParse({
        name: rec.name,
        mac: rec.mac,
        ...(rec.ip ? { ip: rec.ip } : {}),
        ...(rec.description ? { description: rec.description } : {}),
        ...(rec.bootmode ? { bootMode: rec.bootmode } : {}),
        ...(rec.tags ? { tags: rec.tags.split(';').filter(Boolean) } : {}),
        ...(rec.enabled ? { enabled: !/^(0|false|no)$/i.test(rec.enabled) } : {}),
        ...(rec.keepwriteback ? { keepWriteback: /^(1|true|yes)$/i.test(rec.keepwriteback) } : {}),
        ...(bootImageId ? { bootImageId } : {}),
        ...(groupId ? { groupId } : {}),
      });
      if (!parsed.success) {
        errors.push({
          line: lineNo,
          message: parsed.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; '),
        });
        continue;
      }
      const d = parsed.data;
      if (seenNames.has(d.name))
        errors.push({ line: lineNo, message: `name ${d.name} is also on line ${seenNames.get(d.name)}` });
      else if (seenMacs.has(d.mac))
        errors.push({ line: lineNo, message: `MAC ${d.mac} is also on line ${seenMacs.get(d.mac)}` });
      else {
        seenNames.set(d.name, lineNo);
        seenMacs.set(d.mac, lineNo);
        rows.push(d);
      }
    }
    if (rows.length > 5000)
      throw badRequest('invalid_csv', 'at most 5000 machines per import', 'split the file');
    const existing = await this.repo.existingNamesAndMacs(
      rows.map((r) => r.name),
      rows.map((r) => r.mac),
    );
    for (const d of rows) {
      if (existing.names.has(d.name))
        errors.push({ line: seenNames.get(d.name)!, message: `a machine named ${d.name} already exists` });
      else if (existing.macs.has(d.mac))
        errors.push({ line: seenMacs.get(d.mac)!, message: `a machine with MAC ${d.mac} already exists` });
    }
    errors.sort((a, b) => a.line - b.line);
    if (errors.length) {
      throw new AppError(
        422,
        'invalid_csv',
        `${errors.length} line(s) of the CSV are not valid; nothing was imported`,
        {
          hint: 'fix the lines listed in errors and import again',
          errors: errors.map((e) => ({ path: `csv.line.${e.line}`, message: e.message })),
        },
      );
    }
    if (!rows.length)
      throw badRequest('invalid_csv', 'the CSV has no machines', 'add one line per machine after the header');
    if (dryRun) return { created: rows.length, errors: [], dryRun: true };
    const newRows = await Promise.all(rows.map((d) => this.newRow(d)));
    try {
      await this.repo.transaction(async (trx) => {
        for (const r of newRows) await this.repo.insert(r, trx);
      });
    } catch (err) {
      if (isUniqueViolation(err))
        throw conflict(
          'duplicate',
          'a machine of the CSV was created by someone else meanwhile; nothing was imported',
          'import again',
        );
      throw err;
    }
    const created = await this.toApi(newRows.map((r) => ({ ...r, session_id: null, session_state: null })));
    for (const m of created) this.bus.publish('machine.created', m.id, m);
    return { created: newRows.length, errors: [], dryRun: false };
  }
}

/** RFC 4180 fields: commas, double quotes around fields, "" inside quotes. */
export function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"' && cur === '') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}
