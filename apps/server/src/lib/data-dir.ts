import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

/**
 * The data dir holds the database (password hashes, CHAP secrets), the JWT secret, images and every
 * client's writeback: all of it is for GGnet's user only. Two exceptions, because dnsmasq drops root
 * and must still read them: the TFTP root (iPXE binaries, served to anyone on the boot network
 * anyway) and dnsmasq's hosts file (MAC -> address of registered machines), which dnsmasq re-reads
 * on SIGHUP. So the data dir and the dnsmasq dir are 0711 (others may pass through, never list or
 * read), tftp/ is 0755 with 0644 files, dnsmasq/hosts is 0644, and everything else 0700 / 0600.
 * tgtd and qemu-img run as root / as GGnet and need nothing more.
 * When GGnet does not run as root (the installed service runs as user `ggnet`), dnsmasq runs as that
 * same user and there is no exception at all: everything is 0700 / 0600.
 */
export const DATA_DIR_MODE = 0o711;
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** dnsmasq drops root to another user only when GGnet runs as root. */
const runsAsRoot = (): boolean => process.getuid?.() === 0;

/**
 * Mode an entry of the data dir must have (path relative to the data dir, `/`-separated).
 * `shared`: dnsmasq runs as another user and must read its two files (GGnet runs as root).
 */
export function modeFor(rel: string, isDir: boolean, shared = runsAsRoot()): number {
  if (!shared) return isDir ? PRIVATE_DIR_MODE : PRIVATE_FILE_MODE;
  const [top, ...rest] = rel.split('/');
  if (top === 'tftp') return isDir ? 0o755 : 0o644;
  if (top === 'dnsmasq') {
    if (rest.length === 0) return DATA_DIR_MODE;
    if (rest.join('/') === 'hosts') return 0o644;
  }
  return isDir ? PRIVATE_DIR_MODE : PRIVATE_FILE_MODE;
}

/** Creates the data dir (owner only, traversable for dnsmasq) and sets its mode. Cheap. */
export function prepareDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(dataDir, runsAsRoot() ? DATA_DIR_MODE : PRIVATE_DIR_MODE);
}

/** At most this many entries are looked at (a data dir holds images and writebacks: thousands). */
const MAX_ENTRIES = 500_000;
const MAX_DEPTH = 12;

/**
 * Fixes the modes of everything in the data dir (an older GGnet created files 0644 in a 0755 dir).
 * Symbolic links are never followed or changed; modes that are already right are left alone.
 * Returns how many entries were changed.
 */
export function secureDataDir(dataDir: string, log?: Logger): number {
  prepareDataDir(dataDir);
  let changed = 0;
  let seen = 0;
  const walk = (abs: string, rel: string, depth: number): void => {
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch {
      return;
    }
    for (const name of names) {
      if (++seen > MAX_ENTRIES) return;
      const p = join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      let st;
      try {
        st = lstatSync(p);
      } catch {
        continue; // removed meanwhile
      }
      if (st.isSymbolicLink() || !(st.isDirectory() || st.isFile())) continue;
      const want = modeFor(r, st.isDirectory());
      if ((st.mode & 0o7777) !== want) {
        try {
          chmodSync(p, want);
          changed++;
        } catch (err) {
          log?.warn({ err, path: p }, 'cannot set the mode of a file in the data dir');
        }
      }
      if (st.isDirectory() && depth < MAX_DEPTH) walk(p, r, depth + 1);
    }
  };
  walk(dataDir, '', 0);
  if (seen > MAX_ENTRIES)
    log?.warn({ dataDir }, `data dir has more than ${MAX_ENTRIES} entries; modes checked for the first ones`);
  if (changed) log?.info({ dataDir, changed }, 'data dir: made files readable by GGnet only');
  return changed;
}
