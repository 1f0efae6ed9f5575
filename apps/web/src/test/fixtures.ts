// Complete API objects for component tests: each a valid contracts type, with what a test changes
// passed in `extra`.
import type {
  AuditEntry,
  EffectiveSettings,
  Group,
  Image,
  ImageRelease,
  Job,
  Machine,
  Page,
  Session,
  Target,
  User,
} from '@ggnet/contracts';

const T = '2026-11-25T10:00:00.000Z';

export const page = <T>(items: T[], total = items.length): Page<T> => ({ items, total });

/** Effective settings all from the global defaults, with what a test changes in `extra`. */
export const anEffective = (extra: Partial<EffectiveSettings> = {}): EffectiveSettings => ({
  bootImageId: { value: null, source: 'default' },
  extraImageIds: { value: [], source: 'default' },
  bootMode: { value: 'normal', source: 'default' },
  bootMenu: { value: false, source: 'default' },
  keepWriteback: { value: false, source: 'default' },
  bootVersion: { versionId: null, source: 'published' },
  ...extra,
});

export const aGroup = (extra: Partial<Group> = {}): Group => ({
  id: 'g1',
  name: 'VIP room',
  description: '',
  bootImageId: null,
  extraImageIds: null,
  bootMode: null,
  bootMenu: null,
  keepWriteback: null,
  macPrefixes: [],
  ipRanges: [],
  releases: [],
  machineCount: 0,
  createdAt: T,
  updatedAt: T,
  ...extra,
});

export const aRelease = (extra: Partial<ImageRelease> = {}): ImageRelease => ({
  imageId: 'i1',
  publishedVersionId: 'v1',
  groups: [],
  others: [],
  ...extra,
});

export const aMachine = (extra: Partial<Machine> = {}): Machine => ({
  id: 'm1',
  name: 'pc-01',
  mac: '52:54:00:aa:bb:01',
  ip: null,
  description: '',
  enabled: true,
  pending: false,
  groupId: null,
  bootImageId: null,
  extraImageIds: null,
  keepWriteback: null,
  bootMode: null,
  bootMenu: null,
  effective: anEffective(),
  installMediaId: null,
  tags: [],
  initiatorIqn: 'iqn.2024-01.lan.ggnet:pc-01',
  status: 'offline',
  sessionId: null,
  lastSeenAt: null,
  lastIp: null,
  traffic: null,
  createdAt: T,
  updatedAt: T,
  ...extra,
});

export const anImage = (extra: Partial<Image> = {}): Image => ({
  id: 'i1',
  name: 'win11',
  description: '',
  osType: 'windows',
  state: 'ready',
  error: null,
  sourceFormat: 'vhdx',
  sourceFilename: 'win11.vhdx',
  sourceSize: 10 * 1024 ** 3,
  sourceSha256: null,
  publishedVersionId: 'v1',
  uefiBootFile: null,
  versionCount: 1,
  sizeBytes: 64 * 1024 ** 3,
  machineCount: 0,
  createdBy: 'admin',
  createdAt: T,
  updatedAt: T,
  ...extra,
});

export const aSession = (extra: Partial<Session> = {}): Session => ({
  id: 's1',
  machineId: 'm1',
  machineName: 'pc-01',
  imageId: 'i1',
  versionId: 'v1',
  targetId: 't1',
  writebackId: 'w1',
  mode: 'normal',
  state: 'active',
  endReason: null,
  error: null,
  clientIp: '192.168.50.101',
  startedAt: T,
  readyAt: T,
  activeAt: T,
  endedAt: null,
  connections: [],
  lastActivityAt: null,
  traffic: null,
  ...extra,
});

export const aTarget = (extra: Partial<Target> = {}): Target => ({
  id: 't1',
  iqn: 'iqn.2024-01.lan.ggnet:pc-01',
  machineId: 'm1',
  sessionId: 's1',
  backend: 'tgt',
  luns: [
    { lun: 1, kind: 'boot', imageId: 'i1', versionId: 'v1', writebackId: 'w1', sizeBytes: 64 * 1024 ** 3 },
  ],
  initiatorIqn: 'iqn.2024-01.lan.ggnet:init-pc-01',
  chapUser: 'pc-01',
  mutualChap: false,
  mutualUser: null,
  portal: '192.168.50.2:3260',
  allowedAddress: null,
  state: 'active',
  error: null,
  connections: [],
  createdAt: T,
  updatedAt: T,
  ...extra,
});

export const aUser = (extra: Partial<User> = {}): User => ({
  id: 'u1',
  username: 'olga',
  role: 'operator',
  disabled: false,
  createdAt: T,
  updatedAt: T,
  lastLoginAt: null,
  ...extra,
});

export const aJob = (extra: Partial<Job> = {}): Job => ({
  id: 'j1',
  type: 'image.convert',
  state: 'running',
  progress: null,
  attempts: 1,
  maxAttempts: 3,
  error: null,
  payload: { imageId: 'i1', name: 'win11' },
  result: null,
  cancelRequested: false,
  createdBy: 'admin',
  createdAt: T,
  runAt: T,
  startedAt: T,
  finishedAt: null,
  ...extra,
});

export const anAuditEntry = (extra: Partial<AuditEntry> = {}): AuditEntry => ({
  id: 1,
  at: T,
  userId: 'u1',
  username: 'admin',
  action: 'machine.create',
  method: 'POST',
  path: '/api/v1/machines',
  targetType: 'machine',
  targetId: 'm1',
  statusCode: 201,
  ip: '127.0.0.1',
  ...extra,
});
