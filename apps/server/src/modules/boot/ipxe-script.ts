import { IPV4_RE, IQN_RE, UEFI_BOOT_FILE_RE } from '@ggnet/contracts';

// iPXE scripts are built only from the templates below. Values that become command arguments are
// checked against strict patterns (a failure is a bug, not user input); free text shown to the
// user is reduced to characters iPXE prints literally: no ${...} expansion, no || && operators,
// no line breaks that would start a new command.

export class IpxeValueError extends Error {}

const HOST_RE =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const CHAP_RE = /^[A-Za-z0-9._:-]{1,223}$/;
/** Base URL of GGnet's HTTP endpoint as the client reaches it, e.g. http://10.0.0.1:8080 */
const BASE_URL_RE = /^http:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/;

function need(value: string, re: RegExp, what: string): string {
  if (!re.test(value)) throw new IpxeValueError(`refusing to put an invalid ${what} into an iPXE script`);
  return value;
}

/** Text for `echo`/`menu`: printable ASCII only, without $ { } | & \ # and quotes; at most `max` chars. */
export function ipxeText(s: string, max = 120): string {
  const cleaned = s
    .normalize('NFKD')
    // eslint-disable-next-line no-control-regex
    .replace(/[\x00-\x1f\x7f]/g, ' ')
    .replace(/[^\x20-\x7e]/g, '')
    .replace(/[${}|&\\#"'`]/g, '')
    .replace(/\s+/g, ' ')
    .trim();
  return cleaned.length > max ? `${cleaned.slice(0, max - 3)}...` : cleaned;
}

/** `iscsi:<server>::<port>:<lun>:<target>`; iPXE reads the LUN as hex. */
export function iscsiUri(host: string, port: number, lun: number, iqn: string): string {
  if (!IPV4_RE.test(host) && !HOST_RE.test(host)) throw new IpxeValueError('invalid iSCSI portal host');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new IpxeValueError('invalid iSCSI port');
  if (!Number.isInteger(lun) || lun < 0 || lun > 255) throw new IpxeValueError('invalid LUN');
  return `iscsi:${host}::${port}:${lun.toString(16)}:${need(iqn, IQN_RE, 'target IQN')}`;
}

/** The URL a script chains to for the next attempt; iPXE fills in its own MAC, arch and platform. */
export function selfUrl(baseUrl: string, extra: Record<string, string> = {}): string {
  need(baseUrl, BASE_URL_RE, 'base URL');
  const q = Object.entries(extra)
    .map(
      ([k, v]) => `&${need(k, /^[a-z]{1,16}$/, 'query key')}=${need(v, /^[a-z0-9_-]{1,32}$/, 'query value')}`,
    )
    .join('');
  return `${baseUrl}/boot/ipxe?mac=\${netX/mac}&arch=\${buildarch}&platform=\${platform}${q}`;
}

const header = (title: string) => ['#!ipxe', `# GGnet: ${ipxeText(title)}`];

/** Asks again with MAC, arch and platform (for a bare /boot/ipxe from an external DHCP server). */
export function chainScript(baseUrl: string): string {
  return [...header('identify this client'), `chain --replace --autofree ${selfUrl(baseUrl)}`, ''].join('\n');
}

export interface WaitScriptOptions {
  baseUrl: string;
  title: string;
  lines: string[];
  retrySec: number;
  /** Extra query of the next request (e.g. the mode chosen in the boot menu). */
  query?: Record<string, string>;
}

/** Shows a message and asks again after a while (pending approval, temporary errors). */
export function waitScript(o: WaitScriptOptions): string {
  const sec = Math.max(1, Math.min(3600, Math.round(o.retrySec)));
  return [
    ...header(o.title),
    'echo',
    `echo ======== GGnet: ${ipxeText(o.title, 80)} ========`,
    ...o.lines.map((l) => `echo ${ipxeText(l)}`),
    `echo Asking again in ${sec} s...`,
    ':retry',
    `sleep ${sec}`,
    `chain --replace --autofree ${selfUrl(o.baseUrl, o.query)} || goto retry`,
    '',
  ].join('\n');
}

/** Leaves network boot so that the firmware boots the next device (the local disk). */
export function exitScript(title: string, lines: string[], pauseSec = 0): string {
  return [
    ...header(title),
    `echo GGnet: ${ipxeText(title, 100)}`,
    ...lines.map((l) => `echo ${ipxeText(l)}`),
    ...(pauseSec > 0 ? [`sleep ${Math.min(60, Math.round(pauseSec))}`] : []),
    'exit 1',
    '',
  ].join('\n');
}

export interface MenuScriptOptions {
  baseUrl: string;
  machineName: string;
  imageName: string | null;
  defaultMode: 'normal' | 'maintenance' | 'local';
  timeoutSec: number;
  /**
   * Maintenance for a machine whose own mode is not maintenance: `gated` (offered; it needs the
   * maintenance PIN or an operator's approval) or `off` (default: not offered). A machine that an
   * operator put in maintenance mode always has it, as its default.
   */
  maintenance?: 'gated' | 'off';
}

/** Boot menu: normal / maintenance / local disk, with a timeout on the machine's own mode. */
export function menuScript(o: MenuScriptOptions): string {
  const img = o.imageName ? ipxeText(o.imageName, 60) : 'no image';
  const maintenance = o.defaultMode === 'maintenance' ? 'open' : o.maintenance === 'gated' ? 'gated' : 'off';
  return [
    ...header(`boot menu of ${o.machineName}`),
    `menu GGnet - ${ipxeText(o.machineName, 63)} (${img})`,
    'item normal Boot the image',
    ...(maintenance === 'open'
      ? ['item maintenance Maintenance: changes can become a new image version']
      : maintenance === 'gated'
        ? ['item maintenance Maintenance (needs the PIN or an operator approval)']
        : []),
    'item local Boot from the local disk',
    `choose --timeout ${Math.max(0, Math.round(o.timeoutSec)) * 1000} --default ${o.defaultMode} mode || set mode ${o.defaultMode}`,
    `chain --replace --autofree ${selfUrl(o.baseUrl)}&mode=\${mode}`,
    '',
  ].join('\n');
}

export interface SanbootScriptOptions {
  baseUrl: string;
  machineName: string;
  mac: string;
  sessionId: string;
  imageLabel: string;
  mode: 'normal' | 'maintenance';
  initiatorIqn: string;
  portalHost: string;
  portalPort: number;
  targetIqn: string;
  /** Boot disk first, then extra disks. */
  luns: Array<{ lun: number; kind: 'boot' | 'extra' }>;
  chap: { username: string; password: string };
  reverseChap: { username: string; password: string } | null;
  /** Extra attempts after the first failed sanboot. */
  retries: number;
  retryDelaySec?: number;
  /**
   * Install mode: the installer ISO (an install medium's id) booted over HTTP from GGnet, with the
   * boot disk hooked as drive 0x80 (described to the OS in the iBFT, so the installer finds it).
   */
  installMediaId?: string | null;
  /** The image's UEFI bootloader path (`san-filename`, UEFI only); null = iPXE's default. */
  uefiBootFile?: string | null;
}

const MEDIA_ID_RE = /^[0-9a-f-]{36}$/;

/**
 * The boot itself: initiator name and CHAP for the target GGnet made for this boot, extra disks
 * hooked, the boot disk sanbooted; failed attempts are retried, then a readable error screen asks
 * GGnet again (a fresh session) after a pause.
 */
export function sanbootScript(o: SanbootScriptOptions): string {
  const boot = o.luns.find((l) => l.kind === 'boot');
  if (!boot) throw new IpxeValueError('a boot session without a boot disk');
  const extras = o.luns.filter((l) => l.kind === 'extra').slice(0, 8);
  const uri = (lun: number) => iscsiUri(o.portalHost, o.portalPort, lun, o.targetIqn);
  const iso = o.installMediaId
    ? `${need(o.baseUrl, BASE_URL_RE, 'base URL')}/boot/media/${need(o.installMediaId, MEDIA_ID_RE, 'media id')}.iso`
    : null;
  const isoDrive = 0x81 + extras.length;
  const attempts = Math.max(1, Math.min(21, o.retries + 1));
  const delay = Math.max(1, Math.min(60, o.retryDelaySec ?? 3));
  const L = [
    ...header(`${o.machineName} ${o.mac} session ${o.sessionId}`),
    o.installMediaId
      ? `echo GGnet: ${ipxeText(o.machineName, 63)} INSTALLS onto ${ipxeText(o.imageLabel, 80)} (install mode)`
      : `echo GGnet: ${ipxeText(o.machineName, 63)} boots ${ipxeText(o.imageLabel, 80)}${o.mode === 'maintenance' ? ' in MAINTENANCE mode' : ''}`,
    `set initiator-iqn ${need(o.initiatorIqn, IQN_RE, 'initiator IQN')}`,
    `set username ${need(o.chap.username, CHAP_RE, 'CHAP user')}`,
    `set password ${need(o.chap.password, CHAP_RE, 'CHAP secret')}`,
  ];
  if (o.uefiBootFile && !iso) {
    // UEFI only (the setting is what `sanboot --filename` sets); BIOS boots the disk's MBR as always
    L.push(
      `iseq \${platform} efi && set san-filename ${need(o.uefiBootFile, UEFI_BOOT_FILE_RE, 'UEFI boot file')} || echo -n`,
    );
  }
  if (o.reverseChap) {
    L.push(
      `set reverse-username ${need(o.reverseChap.username, CHAP_RE, 'mutual CHAP user')}`,
      `set reverse-password ${need(o.reverseChap.password, CHAP_RE, 'mutual CHAP secret')}`,
    );
  }
  for (let i = 1; i <= attempts; i++) {
    L.push(`:try${i}`);
    if (i > 1) L.push(`echo GGnet: attempt ${i} of ${attempts}...`);
    if (iso) {
      // the network disk first (hooked and described in the iBFT), then the installer ISO from
      // GGnet's HTTP, read by ranges; --no-describe: an HTTP disk has no iBFT entry of its own
      L.push(`sanhook --drive 0x80 ${uri(boot.lun)} || goto fail${i}`);
      extras.forEach((e, j) =>
        L.push(`sanhook --drive 0x${(0x81 + j).toString(16)} ${uri(e.lun)} || goto fail${i}`),
      );
      L.push(`sanboot --no-describe --drive 0x${isoDrive.toString(16)} ${iso} || goto fail${i}`);
    } else if (extras.length) {
      L.push(`sanhook --drive 0x80 ${uri(boot.lun)} || goto fail${i}`);
      extras.forEach((e, j) =>
        L.push(`sanhook --drive 0x${(0x81 + j).toString(16)} ${uri(e.lun)} || goto fail${i}`),
      );
      L.push(`sanboot --drive 0x80 || goto fail${i}`);
    } else {
      L.push(`sanboot ${uri(boot.lun)} || goto fail${i}`);
    }
    L.push(`:fail${i}`, 'set ggnet-err ${errno}');
    if (iso) L.push(`sanunhook --drive 0x${isoDrive.toString(16)} || echo -n`);
    if (extras.length || iso) {
      // unhook what the attempt hooked, so that the next one starts clean
      for (let j = extras.length - 1; j >= 0; j--)
        L.push(`sanunhook --drive 0x${(0x81 + j).toString(16)} || echo -n`);
      L.push('sanunhook --drive 0x80 || echo -n');
    }
    if (i < attempts) L.push(`sleep ${delay}`);
  }
  L.push(
    'echo',
    'echo ======== GGnet: the network disk could not be booted ========',
    `echo Machine:  ${ipxeText(o.machineName, 63)} (${ipxeText(o.mac, 17)})`,
    `echo Target:   ${o.targetIqn} at ${o.portalHost}:${o.portalPort}`,
    'echo Error:    ${ggnet-err} (details: https://ipxe.org/${ggnet-err})',
    'echo Check that the machine is enabled and its image is published; GGnet lists the session',
    `echo ${ipxeText(o.sessionId, 64)} with its timeline. Asking GGnet again in 30 s...`,
    ':again',
    'sleep 30',
    `chain --replace --autofree ${selfUrl(o.baseUrl)} || goto again`,
    '',
  );
  return L.join('\n');
}

export interface PinPromptOptions {
  baseUrl: string;
  machineName: string;
  /** The previous PIN was wrong. */
  wrong: boolean;
  /** An empty PIN asks an operator instead (boot.maintenanceApproval). */
  approval: boolean;
}

/**
 * Maintenance needs the PIN the admin set: iPXE's `login` form reads it as the password (masked on
 * screen, unlike `read`) and it travels URI-encoded to GGnet. Esc goes back to the boot menu. The
 * settings are cleared before and after, so the PIN does not stay in iPXE's memory.
 */
export function pinPromptScript(o: PinPromptOptions): string {
  const url = selfUrl(o.baseUrl);
  return [
    ...header(`maintenance PIN for ${o.machineName}`),
    'echo',
    `echo ======== GGnet: maintenance of ${ipxeText(o.machineName, 63)} ========`,
    ...(o.wrong ? ['echo Wrong PIN. Every attempt is recorded in the audit log.'] : []),
    'echo Enter the maintenance PIN as the password (the user name is not used).',
    ...(o.approval
      ? ['echo Leave the password empty to ask an operator to approve it in the GGnet console.']
      : []),
    'echo Esc: back to the boot menu.',
    'clear username',
    'clear password',
    'login || goto menu',
    `chain --replace --autofree ${url}&mode=maintenance&pin=\${password:uristring} || goto menu`,
    ':menu',
    'clear username',
    'clear password',
    'sleep 1',
    `chain --replace --autofree ${url} || goto menu`,
    '',
  ].join('\n');
}
