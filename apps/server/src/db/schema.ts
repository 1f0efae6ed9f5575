import type { Generated } from 'kysely';

// Portable column conventions (the same on SQLite and PostgreSQL):
//  - ids are text (UUIDs made by the app), except audit_log/boot_events (auto-increment);
//  - timestamps are ISO-8601 UTC text, so they sort and compare as strings;
//  - booleans are integer 0/1; JSON is text. Repositories map rows to API shapes.

export type Bool = number;

export interface UsersTable {
  id: string;
  username: string;
  password_hash: string;
  role: string;
  disabled: Bool;
  created_at: string;
  updated_at: string;
  last_login_at: string | null;
  /** Raised when every access token of the user must stop working (migration 0005). */
  token_version: Generated<number>;
}

export interface RefreshTokensTable {
  id: string;
  user_id: string;
  family_id: string;
  token_hash: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
  revoked_at: string | null;
  ip: string | null;
  user_agent: string | null;
}

export interface MachinesTable {
  id: string;
  name: string;
  mac: string;
  ip: string | null;
  description: string;
  enabled: Bool;
  pending: Bool;
  boot_image_id: string | null;
  /** JSON array; null = inherited (0016) */
  extra_image_ids: string | null;
  /** null = inherited (0016) */
  keep_writeback: Bool | null;
  /** null = inherited (0016) */
  boot_mode: string | null;
  /** null = inherited (0016) */
  boot_menu: Bool | null;
  /** The machine's group (0016). */
  group_id: string | null;
  tags: string;
  initiator_iqn: string;
  last_seen_at: string | null;
  last_ip: string | null;
  /** Install mode: the ISO (media) a machine in maintenance mode boots with its writeback hooked. */
  install_media_id: string | null;
  created_at: string;
  updated_at: string;
}

/** Groups (rooms) of machines (0016): settings at group level, null = not set there. */
export interface GroupsTable {
  id: string;
  name: string;
  description: string;
  boot_image_id: string | null;
  extra_image_ids: string | null;
  boot_mode: string | null;
  boot_menu: Bool | null;
  keep_writeback: Bool | null;
  mac_prefixes: string;
  ip_ranges: string;
  created_at: string;
  updated_at: string;
}

/** A version released to a group before everyone (0016). */
export interface GroupReleasesTable {
  group_id: string;
  image_id: string;
  version_id: string;
  released_at: string;
  released_by: string | null;
}

export interface ImagesTable {
  id: string;
  name: string;
  description: string;
  os_type: string;
  state: string;
  error: string | null;
  source_format: string | null;
  source_filename: string | null;
  source_size: number | null;
  source_sha256: string | null;
  published_version_id: string | null;
  created_by: string | null;
  created_at: string;
  updated_at: string;
  /** Stored upload (relative to the data dir) until it is converted (0002). */
  source_path: string | null;
  /** The bootloader UEFI sanboot starts, when not iPXE's default (0021); null = default. */
  uefi_boot_file: string | null;
}

export interface ImageVersionsTable {
  id: string;
  image_id: string;
  number: number;
  state: string;
  comment: string;
  author: string | null;
  size_bytes: number | null;
  sha256: string | null;
  protected: Bool;
  parent_version_id: string | null;
  /** Path relative to the storage root (or a dataset name for zfs). */
  path: string | null;
  error: string | null;
  created_at: string;
  ready_at: string | null;
}

export interface WritebacksTable {
  id: string;
  machine_id: string;
  image_id: string;
  version_id: string;
  session_id: string | null;
  path: string;
  kept: Bool;
  state: string;
  created_at: string;
  discarded_at: string | null;
  // 0003
  target_id: string | null;
  lun: number | null;
  /** Defaults to 'copy' in the database (rows made before 0003). */
  backend: Generated<string>;
  size_bytes: number | null;
  applied_version_id: string | null;
  error: string | null;
}

export interface TargetsTable {
  id: string;
  iqn: string;
  machine_id: string | null;
  session_id: string | null;
  backend: string;
  luns: string;
  initiator_iqn: string;
  chap_user: string | null;
  /** CHAP secrets of this target only: made with the row (one session or one manual target), gone with it. */
  chap_secret: string | null;
  mutual_user: string | null;
  mutual_secret: string | null;
  allowed_address: string | null;
  /** tgt: index of the daemon that serves the target (null: the first; LIO). */
  tgt_daemon: number | null;
  /** The portal port the target is served on (the daemon's). */
  portal_port: number | null;
  state: string;
  error: string | null;
  created_at: string;
  updated_at: string;
}

export interface SessionsTable {
  id: string;
  machine_id: string;
  image_id: string | null;
  version_id: string | null;
  target_id: string | null;
  writeback_id: string | null;
  mode: string;
  state: string;
  end_reason: string | null;
  error: string | null;
  client_ip: string | null;
  started_at: string;
  ready_at: string | null;
  active_at: string | null;
  ended_at: string | null;
  last_activity_at: string | null;
  // 0003: JSON [{initiator, address}] seen at the last check of the target's live state
  connections: Generated<string>;
  // 0022: JSON PersistedTraffic (byte totals and the TCP counters they come from), null until sampled
  traffic: Generated<string | null>;
}

export interface JobsTable {
  id: string;
  type: string;
  state: string;
  payload: string;
  result: string | null;
  progress: string | null;
  attempts: number;
  max_attempts: number;
  error: string | null;
  run_at: string;
  lease_owner: string | null;
  lease_expires_at: string | null;
  cancel_requested: Bool;
  created_by: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
  /** Unique among queued/running jobs (0002). */
  dedupe_key: string | null;
  heartbeat_at: string | null;
}

export interface SettingsTable {
  key: string;
  value: string;
  updated_at: string;
  updated_by: string | null;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: string;
  user_id: string | null;
  username: string | null;
  action: string;
  method: string;
  path: string;
  target_type: string | null;
  target_id: string | null;
  status_code: number;
  ip: string | null;
}

export interface BootEventsTable {
  id: Generated<number>;
  at: string;
  mac: string | null;
  machine_id: string | null;
  session_id: string | null;
  kind: string;
  detail: string;
}

/** 0004: every IQN prefix GGnet has named a target under (its namespace for orphan clean-up). */
export interface IqnPrefixesTable {
  prefix: string;
  first_used_at: string;
}

/** 0005: backups (database snapshot + secrets + configuration in one .tar.gz). */
export interface BackupsTable {
  id: string;
  file: string;
  trigger: string;
  state: string;
  size_bytes: number | null;
  schema: string | null;
  dialect: string;
  error: string | null;
  created_by: string | null;
  created_at: string;
  finished_at: string | null;
}

export interface MediaTable {
  id: string;
  name: string;
  filename: string | null;
  size_bytes: number;
  sha256: string;
  /** Relative to the data dir: media/<id>.iso */
  path: string;
  created_by: string | null;
  created_at: string;
}

// 0013: space alerts (issue 14 point 5)
export interface AlertsTable {
  id: string;
  kind: string;
  severity: string;
  state: string;
  key: string;
  active_key: string | null;
  subject_type: string;
  subject_id: string;
  subject_name: string | null;
  machine_id: string | null;
  value: number;
  threshold: number;
  message: string;
  raised_at: string;
  updated_at: string;
  cleared_at: string | null;
  acknowledged_at: string | null;
  acknowledged_by: string | null;
}

export interface WritebackLimitsTable {
  machine_id: string;
  limit_bytes: number | string;
  updated_at: string;
  updated_by: string | null;
}

export interface DB {
  users: UsersTable;
  refresh_tokens: RefreshTokensTable;
  machines: MachinesTable;
  groups: GroupsTable;
  group_releases: GroupReleasesTable;
  images: ImagesTable;
  image_versions: ImageVersionsTable;
  writebacks: WritebacksTable;
  targets: TargetsTable;
  sessions: SessionsTable;
  jobs: JobsTable;
  settings: SettingsTable;
  audit_log: AuditLogTable;
  boot_events: BootEventsTable;
  iqn_prefixes: IqnPrefixesTable;
  backups: BackupsTable;
  media: MediaTable;
  alerts: AlertsTable;
  writeback_limits: WritebackLimitsTable;
  power_schedules: PowerSchedulesTable;
  console_vms: ConsoleVmsTable;
  agent_sessions: AgentSessionsTable;
  agent_commands: AgentCommandsTable;
  prepared_boots: PreparedBootsTable;
}

/** 0012: power schedules (wake / shutdown at given days and times, site time zone). */
export interface PowerSchedulesTable {
  id: string;
  name: string;
  enabled: number;
  action: string;
  /** JSON array of mon..sun */
  days: string;
  /** JSON array of HH:MM */
  times: string;
  /** JSON: {"all":true} or {"machineIds":[...]} */
  target: string;
  last_slot_at: string;
  /** JSON ScheduleRun of the newest slot handled */
  last_run: string | null;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

/** 0020: console VMs (issue 15 point 3): one per image, a QEMU VM on the server editing its maintenance disk. */
export interface ConsoleVmsTable {
  image_id: string;
  /** The image's console machine: a disabled machine row that only the console VM's sessions use. */
  machine_id: string;
  session_id: string | null;
  state: string;
  pid: number | null;
  accel: string;
  memory_mib: number;
  cpus: number;
  media_id: string | null;
  error: string | null;
  started_at: string;
  stopped_at: string | null;
  updated_at: string;
}

/** 0019: the client agent's token of a boot session (sha256 only) and what it reported. */
export interface AgentSessionsTable {
  session_id: string;
  machine_id: string;
  token_hash: string;
  claimed_at: string;
  claimed_ip: string;
  last_seen_at: string;
  /** JSON AgentFacts */
  facts: string | null;
  going_down: string | null;
}

/** 0019: commands to a machine's agent. */
export interface AgentCommandsTable {
  id: string;
  machine_id: string;
  session_id: string;
  type: string;
  text: string | null;
  state: string;
  created_at: string;
  created_by: string | null;
  delivered_at: string | null;
  done_at: string | null;
  result: string | null;
}

/** A machine's next boot, made ahead of its request (migration 0018). */
export interface PreparedBootsTable {
  machine_id: string;
  /** The id the session will have once a boot request claims it. */
  session_id: string;
  target_id: string | null;
  /** `preparing` while its writebacks and target are made, then `ready`. */
  state: string;
  /** What it was made for (machine, disks, versions, ACL, CHAP mode); another one = stale. */
  fingerprint: string;
  created_at: string;
  ready_at: string | null;
}
