import { describe, expect, it } from 'vitest';
import { AppError } from '../../errors/app-error.js';
import { fakeSessionInfo } from './boot-session.fake.js';
import { nonBootScript, preparingScript, sessionBootScript, startErrorScript } from './boot-messages.js';

const ctx = {
  baseUrl: 'http://10.0.0.1:8080',
  mac: '52:54:00:12:34:56',
  machineName: 'pc-7',
  pendingRetrySec: 20,
};

/** The lines iPXE prints. */
const echoes = (script: string) =>
  script
    .split('\n')
    .filter((l) => l.startsWith('echo '))
    .map((l) => l.slice(5));

describe('boot messages', () => {
  it('pending: who the PC is and what the admin does; asks again after pendingRetrySec', () => {
    const s = nonBootScript('pending', ctx);
    expect(echoes(s)).toContain(
      'This PC (52:54:00:12:34:56) is registered as pc-7 and waits for an administrator.',
    );
    expect(echoes(s)).toContain('Approve it in the GGnet console (Machines) and it boots by itself.');
    expect(s).toContain('sleep 20\n');
    expect(s).toContain('chain --replace --autofree http://10.0.0.1:8080/boot/ipxe?mac=${netX/mac}');
  });

  it('unregistered PCs: the MAC and why, then the local disk', () => {
    const unknown = nonBootScript('unknown', { ...ctx, machineName: null });
    expect(echoes(unknown)).toContain(
      'MAC 52:54:00:12:34:56 is unknown to GGnet and automatic registration is off.',
    );
    expect(unknown).toMatch(/sleep 3\nexit 1\n$/);
    expect(echoes(nonBootScript('registration_closed', { ...ctx, machineName: null }))).toContain(
      'Too many PCs wait for approval; 52:54:00:12:34:56 was not registered. Booting the local disk.',
    );
    expect(echoes(nonBootScript('registration_capped', { ...ctx, machineName: null }))).toContain(
      'GGnet registers no more new PCs right now (limit reached); 52:54:00:12:34:56 was not registered.',
    );
  });

  it('disabled, local and no image name the machine', () => {
    expect(echoes(nonBootScript('disabled', ctx))[0]).toBe('GGnet: pc-7 is disabled');
    expect(nonBootScript('local', ctx)).toBe(
      '#!ipxe\n# GGnet: pc-7 boots from its local disk\necho GGnet: pc-7 boots from its local disk\nexit 1\n',
    );
    expect(echoes(nonBootScript('no_image', ctx))).toContain(
      'Assign an image to this machine in the GGnet console.',
    );
    expect(echoes(nonBootScript('no_image', { ...ctx, imageName: 'win11' }))).toContain(
      'Image win11 has no published version yet.',
    );
  });

  it('text from names is made safe for iPXE', () => {
    const s = nonBootScript('disabled', { ...ctx, machineName: 'pc-${x}||reboot' });
    expect(s).not.toContain('${x}');
    expect(s).not.toContain('||');
  });

  it('preparing: how many starts run, asks again in 2 s with the chosen mode', () => {
    const s = preparingScript({
      baseUrl: ctx.baseUrl,
      machineName: 'pc-7',
      inFlight: 12,
      query: { mode: 'maintenance' },
    });
    expect(echoes(s)).toContain('12 machine(s) are being prepared right now.');
    expect(s).toContain('sleep 2\n');
    expect(s).toContain('&mode=maintenance || goto retry');
  });

  it('a failed start: the error and its hint, or an internal error; asks again in 30 s', () => {
    const app = new AppError(507, 'no_space', 'not enough space for a writeback', {
      hint: 'free some space',
    });
    const s = startErrorScript({ baseUrl: ctx.baseUrl, machineName: 'pc-7', error: app });
    expect(echoes(s)).toEqual(
      expect.arrayContaining([
        'not enough space for a writeback',
        'Hint: free some space',
        'Asking again in 30 s...',
      ]),
    );
    expect(echoes(startErrorScript({ baseUrl: ctx.baseUrl, machineName: 'pc-7', error: null }))).toContain(
      'GGnet could not prepare the disk of this machine (internal error, see the server log).',
    );
  });

  it("the boot script carries the session's target, LUN and CHAP", () => {
    const s = sessionBootScript(fakeSessionInfo('01HSESSION'), {
      baseUrl: ctx.baseUrl,
      machineName: 'pc-7',
      mac: ctx.mac,
      imageLabel: 'win11 v2',
      mode: 'normal',
      retries: 0,
    });
    expect(s).toContain('echo GGnet: pc-7 boots win11 v2\n');
    expect(s).toContain('set initiator-iqn iqn.2025-01.org.ggnet:pc-7\n');
    expect(s).toContain('set password secret1\n');
    expect(s).toContain('sanboot iscsi:10.0.0.1::3260:1:iqn.2025-01.org.ggnet:s-1 || goto fail1');
  });
});
