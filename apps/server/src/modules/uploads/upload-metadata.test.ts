import { describe, expect, it } from 'vitest';
import type { AppError } from '../../errors/app-error.js';
import { displayFilename, fileStem, parseTusMetadata } from './upload-metadata.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('upload metadata', () => {
  it('parses tus Upload-Metadata; the name defaults to the file name without its extension', () => {
    expect(
      parseTusMetadata(`name ${b64('Win 11')},filename ${b64('w.vhdx')},osType ${b64('linux')}`),
    ).toMatchObject({
      name: 'Win 11',
      filename: 'w.vhdx',
      osType: 'linux',
    });
    expect(parseTusMetadata(`filename ${b64('--win11 (2025)*.vhdx')}`).name).toBe('win11 (2025)-');
  });

  it('refuses malformed pairs and invalid values, naming the key', () => {
    const err = (h: string) => {
      try {
        parseTusMetadata(h);
      } catch (e) {
        return e as AppError;
      }
      throw new Error('accepted');
    };
    expect(err(`name ${b64('a')} extra`).code).toBe('invalid_metadata');
    expect(err(`na.me ${b64('a')}`).message).toBe('Upload-Metadata is malformed');
    const missing = err(`osType ${b64('linux')}`);
    expect(missing.errors?.map((e) => e.path)).toContain('metadata.name');
  });

  it('file names for display: the last component, no control characters', () => {
    expect(displayFilename('C:\\images\\win11.vhdx')).toBe('win11.vhdx');
    expect(displayFilename('/tmp/a\u0001b.raw')).toBe('ab.raw');
    expect(displayFilename('/')).toBe('upload');
    expect(fileStem('/x/my disk#1.qcow2')).toBe('my disk-1');
  });
});
