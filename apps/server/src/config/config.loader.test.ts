import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, maskConfig } from './config.loader.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'ggnet-cfg-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const load = (env: Record<string, string>, isRoot = false) => loadConfig({ env, noSystemFile: true, isRoot });

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const c = load({});
    expect(c).toMatchObject({
      host: '0.0.0.0',
      port: 8080,
      logLevel: 'info',
      worker: true,
      trustProxy: ['127.0.0.1', '::1'],
    });
    expect(c.dataDir).toBe(join(process.cwd(), 'data'));
    expect(c.databaseUrl).toBeUndefined();
    expect(load({}, true).dataDir).toBe('/var/lib/ggnet');
  });

  it('reads GGNET_* variables, with booleans and numbers parsed', () => {
    const c = load({
      GGNET_PORT: '9090',
      GGNET_DATA_DIR: '/srv/gg',
      GGNET_WORKER: 'false',
      GGNET_TRUST_PROXY: '1',
      GGNET_LOG_LEVEL: 'debug',
    });
    expect(c).toMatchObject({
      port: 9090,
      dataDir: '/srv/gg',
      worker: false,
      trustProxy: ['127.0.0.1', '::1'],
      logLevel: 'debug',
    });
  });

  it('trusts a list of proxies (addresses, CIDRs, presets), never every hop; the old boolean still works', () => {
    expect(load({ GGNET_TRUST_PROXY: '10.0.0.5, 192.168.0.0/16,fd00::/8, loopback' }).trustProxy).toEqual([
      '10.0.0.5',
      '192.168.0.0/16',
      'fd00::/8',
      'loopback',
    ]);
    for (const off of ['false', '0', 'no', 'none'])
      expect(load({ GGNET_TRUST_PROXY: off }).trustProxy).toEqual([]);
    for (const on of ['true', '1', 'yes'])
      expect(load({ GGNET_TRUST_PROXY: on }).trustProxy).toEqual(['127.0.0.1', '::1']);
    for (const bad of [
      'everything',
      '10.0.0.0/0',
      '10.0.0.0/33',
      '::1/129',
      '10.0.0.1/8/8',
      '*',
      '10.0.0.0/x',
    ])
      expect(() => load({ GGNET_TRUST_PROXY: bad }), bad).toThrow(
        /trustProxy \(from GGNET_TRUST_PROXY\): ".*" is not an address, a CIDR/,
      );
    const d = tmp();
    const toml = join(d, 'ggnet.toml');
    writeFileSync(toml, 'trustProxy = ["10.1.1.1", "10.2.0.0/16"]\n');
    expect(load({ GGNET_CONFIG: toml }).trustProxy).toEqual(['10.1.1.1', '10.2.0.0/16']);
    writeFileSync(toml, 'trustProxy = true\n');
    expect(load({ GGNET_CONFIG: toml }).trustProxy).toEqual(['127.0.0.1', '::1']);
  });

  it('pins settings from the environment', () => {
    const c = load({
      GGNET_DHCP_MODE: 'proxy',
      GGNET_DHCP_RANGE: '10.0.0.100,10.0.0.199',
      GGNET_STORAGE_RESERVE: '1024',
    });
    expect(c.settings).toEqual({
      dhcp: { mode: 'proxy', rangeStart: '10.0.0.100', rangeEnd: '10.0.0.199' },
      storage: { reserveBytes: 1024 },
    });
  });

  it('names the key and the variable of an invalid value', () => {
    expect(() => load({ GGNET_PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => load({ GGNET_PORT: 'eighty' })).toThrow(/port \(from GGNET_PORT\)/);
    expect(() => load({ GGNET_DHCP_MODE: 'yes' })).toThrow(/settings\.dhcp\.mode \(from GGNET_DHCP_MODE\)/);
    expect(() => load({ GGNET_DATABASE_URL: 'mysql://x' })).toThrow(/databaseUrl/);
    expect(() => load({ GGNET_JWT_SECRET: 'short' })).toThrow(/jwtSecret.*32/);
    expect(() => load({ GGNET_DHCP_RANGE: '10.0.0.1' })).toThrow(/GGNET_DHCP_RANGE/);
  });

  it('reads a TOML or JSON file, with the environment winning', () => {
    const d = tmp();
    const toml = join(d, 'ggnet.toml');
    writeFileSync(toml, 'port = 7000\nhost = "127.0.0.1"\n[settings.iscsi]\nbackend = "lio"\n');
    expect(load({ GGNET_CONFIG: toml })).toMatchObject({
      port: 7000,
      host: '127.0.0.1',
      settings: { iscsi: { backend: 'lio' } },
    });
    expect(load({ GGNET_CONFIG: toml, GGNET_PORT: '7001' }).port).toBe(7001);
    const json = join(d, 'ggnet.json');
    writeFileSync(json, JSON.stringify({ port: 7002, unknownKey: 1 }));
    expect(() => load({ GGNET_CONFIG: json })).toThrow(/unknownKey|Unrecognized/);
    writeFileSync(json, '{ not json');
    expect(() => load({ GGNET_CONFIG: json })).toThrow(/not valid JSON/);
    expect(() => load({ GGNET_CONFIG: join(d, 'missing.toml') })).toThrow(/cannot read config file/);
  });

  it('accepts the shipped config template (deploy/config/ggnet.toml)', () => {
    const template = new URL('../../../../deploy/config/ggnet.toml', import.meta.url).pathname;
    expect(() => load({ GGNET_CONFIG: template })).not.toThrow();
    const d = tmp();
    const uncommented = join(d, 'ggnet.toml');
    // every commented example line, uncommented, must still be valid configuration
    const text = readFileSync(template, 'utf8')
      .split('\n')
      .map((l) => l.replace(/^# (?=\[|[a-zA-Z]+ = )/, '').replace(/\s+#.*$/, ''))
      .filter((l) => !/^#/.test(l))
      .join('\n');
    writeFileSync(uncommented, text);
    const c = load({ GGNET_CONFIG: uncommented });
    expect(c).toMatchObject({
      port: 8080,
      trustProxy: ['127.0.0.1', '::1'],
      settings: { dhcp: { mode: 'proxy', iface: 'eth1' }, iscsi: { portal: '192.168.10.1:3260' } },
    });
  });

  it('masks secrets', () => {
    const c = load({
      GGNET_ADMIN_PASSWORD: 'secret-password',
      GGNET_JWT_SECRET: 'x'.repeat(40),
      GGNET_DATABASE_URL: 'postgres://u:pw@db/ggnet',
    });
    const m = JSON.stringify(maskConfig(c));
    expect(m).not.toContain('secret-password');
    expect(m).not.toContain('x'.repeat(40));
    expect(m).not.toContain(':pw@');
    expect(m).toContain('postgres://u:********@db/ggnet');
  });
});
