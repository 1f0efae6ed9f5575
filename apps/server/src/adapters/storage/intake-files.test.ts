import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyHashed, createStagingFile, fileInRoot } from './intake-files.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'ggnet-intake-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('fileInRoot', () => {
  it('a regular file inside the root, by relative or absolute path', async () => {
    const root = tmp();
    mkdirSync(join(root, 'sub'));
    writeFileSync(join(root, 'sub', 'disk.vhdx'), 'x'.repeat(10));
    expect(await fileInRoot(root, 'sub/disk.vhdx')).toEqual({
      ok: true,
      real: join(root, 'sub', 'disk.vhdx'),
      size: 10,
    });
    expect(await fileInRoot(root, join(root, 'sub/disk.vhdx'))).toMatchObject({ ok: true, size: 10 });
  });

  it('refuses what is outside, also through a symbolic link; missing files; directories', async () => {
    const root = tmp();
    const elsewhere = tmp();
    writeFileSync(join(elsewhere, 'secret'), 'no');
    symlinkSync(join(elsewhere, 'secret'), join(root, 'link'));
    mkdirSync(join(root, 'dir'));
    expect(await fileInRoot(root, '../x')).toEqual({ ok: false, reason: 'outside' });
    expect(await fileInRoot(root, join(elsewhere, 'secret'))).toEqual({ ok: false, reason: 'outside' });
    expect(await fileInRoot(root, 'link')).toEqual({ ok: false, reason: 'outside' });
    expect(await fileInRoot(root, '.')).toEqual({ ok: false, reason: 'outside' });
    expect(await fileInRoot(root, 'nothing.raw')).toEqual({ ok: false, reason: 'not_found' });
    expect(await fileInRoot(root, 'dir')).toEqual({ ok: false, reason: 'not_a_file' });
    expect(await fileInRoot(join(root, 'missing'), 'x')).toEqual({ ok: false, reason: 'root_missing' });
  });
});

describe('staging files', () => {
  it('creates the staging file 0600 in a 0700 directory and copies a file into it with its sha256', async () => {
    const root = tmp();
    const src = join(root, 'disk.raw');
    const data = Buffer.alloc(5 * 1024 * 1024 + 3, 7);
    writeFileSync(src, data);
    const dir = join(root, 'uploads');
    const staging = join(dir, 'import-1');
    await createStagingFile(dir, staging);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(staging).mode & 0o777).toBe(0o600);
    const progress: number[] = [];
    const r = await copyHashed(src, staging, { onProgress: (n) => progress.push(n) });
    expect(r).toEqual({ size: data.length, sha256: createHash('sha256').update(data).digest('hex') });
    expect(readFileSync(staging).equals(data)).toBe(true);
    expect(progress.at(-1)).toBe(data.length);
  });

  it('does not follow a symbolic link swapped in after the check, and leaves no staging file', async () => {
    const root = tmp();
    writeFileSync(join(root, 'real'), 'data');
    symlinkSync(join(root, 'real'), join(root, 'swapped'));
    const staging = join(root, 'staging');
    await createStagingFile(root, staging);
    await expect(copyHashed(join(root, 'swapped'), staging, {})).rejects.toMatchObject({ code: 'ELOOP' });
    expect(() => statSync(staging)).toThrow();
  });
});
