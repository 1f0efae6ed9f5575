import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { modeFor, secureDataDir } from './data-dir.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const mode = (p: string) => statSync(p).mode & 0o7777;

describe('data dir modes', () => {
  it('owner only, except what dnsmasq reads after dropping root', () => {
    expect(modeFor('ggnet.db', false, true)).toBe(0o600);
    expect(modeFor('secrets', true, true)).toBe(0o700);
    expect(modeFor('writebacks/x.raw', false, true)).toBe(0o600);
    expect(modeFor('tftp', true, true)).toBe(0o755);
    expect(modeFor('tftp/undionly.kpxe', false, true)).toBe(0o644);
    expect(modeFor('dnsmasq', true, true)).toBe(0o711);
    expect(modeFor('dnsmasq/hosts', false, true)).toBe(0o644);
    expect(modeFor('dnsmasq/dnsmasq.conf', false, true)).toBe(0o600);
    expect(modeFor('dnsmasq/leases', false, true)).toBe(0o600);
    // not root (the installed service's user): dnsmasq runs as that user too, no exception at all
    expect(modeFor('tftp', true, false)).toBe(0o700);
    expect(modeFor('dnsmasq/hosts', false, false)).toBe(0o600);
    expect(modeFor('dnsmasq', true, false)).toBe(0o700);
    expect(modeFor('images/tftp', true, true)).toBe(0o700);
  });

  it('fixes what an older GGnet left readable, leaves symlinks and their targets alone', () => {
    const root = mkdtempSync(join(tmpdir(), 'ggnet-modes-'));
    dirs.push(root);
    const data = join(root, 'data');
    const outside = join(root, 'outside.txt');
    writeFileSync(outside, 'not ours');
    chmodSync(outside, 0o644);
    for (const d of ['', 'secrets', 'images/i1/versions', 'writebacks', 'tftp', 'dnsmasq']) {
      mkdirSync(join(data, d), { recursive: true });
      chmodSync(join(data, d), 0o755);
    }
    const files: Record<string, number> = {
      'ggnet.db': 0o644,
      'ggnet.db-wal': 0o644,
      'secrets/jwt-secret': 0o644,
      'images/i1/versions/v1.raw': 0o644,
      'writebacks/w1.raw': 0o666,
      'tftp/undionly.kpxe': 0o600,
      'dnsmasq/hosts': 0o600,
      'dnsmasq/dnsmasq.conf': 0o644,
    };
    for (const [f, m] of Object.entries(files)) {
      writeFileSync(join(data, f), 'x');
      chmodSync(join(data, f), m);
    }
    symlinkSync(outside, join(data, 'import-link'));
    expect(secureDataDir(data)).toBeGreaterThan(10);
    expect(mode(data)).toBe(0o711);
    expect(mode(join(data, 'secrets'))).toBe(0o700);
    expect(mode(join(data, 'images/i1/versions'))).toBe(0o700);
    expect(mode(join(data, 'tftp'))).toBe(0o755);
    expect(mode(join(data, 'dnsmasq'))).toBe(0o711);
    for (const f of Object.keys(files)) expect(mode(join(data, f)), f).toBe(modeFor(f, false));
    expect(lstatSync(join(data, 'import-link')).isSymbolicLink()).toBe(true);
    expect(mode(outside)).toBe(0o644);
    // nothing left to change
    expect(secureDataDir(data)).toBe(0);
  });
});
