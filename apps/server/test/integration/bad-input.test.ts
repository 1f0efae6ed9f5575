import { sql } from 'kysely';
import {
  AUDIT_SORT_FIELDS,
  IMAGE_SORT_FIELDS,
  JOB_SORT_FIELDS,
  MACHINE_SORT_FIELDS,
  SESSION_SORT_FIELDS,
  TARGET_SORT_FIELDS,
  USER_SORT_FIELDS,
  WRITEBACK_SORT_FIELDS,
} from '@ggnet/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';

/** Strings that break shells, SQL, paths, HTML and terminals when handled carelessly. */
const NASTY = [
  "x'; DROP TABLE machines; --",
  '" OR "1"="1',
  '$(reboot)',
  '`id`',
  'a; rm -rf /',
  'a | nc 10.0.0.1 1',
  '../../etc/passwd',
  '<script>alert(1)</script>',
  '%00',
  'a\u0000b',
  '\u001b[2J',
  'x'.repeat(5000),
  '',
  ' ',
];

interface Route {
  method: 'POST' | 'PATCH' | 'PUT';
  url: (t: TestContext) => Promise<string> | string;
  valid: Record<string, unknown>;
  /** Fields that are identifiers/patterns: nasty strings must be refused. */
  strict: string[];
  /** Free-text fields: anything printable is data (stored verbatim); control characters are refused. */
  text?: string[];
  table: 'machines' | 'users' | 'images' | 'settings';
}

describeEachDialect('bad input', (dialect) => {
  let t: TestContext;
  let h: Record<string, string>;
  let machineId: string;
  let imageId: string;
  let userId: string;

  beforeAll(async () => {
    t = await createTestContext(dialect);
    h = await t.auth();
    machineId = (await t.container.machines.create({ name: 'pc-base', mac: '52:54:00:00:01:01' })).id;
    imageId = (await t.container.images.create({ name: 'Base Image' }, 'admin')).id;
    userId = (await t.container.users.create({ username: 'someone', password: 'someone-pw', role: 'viewer' }))
      .id;
  });
  afterAll(async () => t.close());

  const count = async (table: Route['table']) => {
    const r = await sql<{ n: number }>`select count(*) as n from ${sql.table(table)}`.execute(
      t.container.database.db,
    );
    return Number(r.rows[0]!.n);
  };
  const snapshot = async (table: Route['table']) =>
    JSON.stringify(
      (await sql`select * from ${sql.table(table)} order by 1`.execute(t.container.database.db)).rows,
    );

  const routes = (): Route[] => [
    {
      method: 'POST',
      url: () => '/api/v1/machines',
      valid: { name: 'pc-new', mac: '52:54:00:00:02:01', ip: '10.0.0.5', tags: ['row1'] },
      strict: ['name', 'mac', 'ip', 'bootImageId', 'bootMode'],
      text: ['description'],
      table: 'machines',
    },
    {
      method: 'PATCH',
      url: () => `/api/v1/machines/${machineId}`,
      valid: { name: 'pc-renamed' },
      strict: ['name', 'mac', 'ip', 'bootMode'],
      text: ['description'],
      table: 'machines',
    },
    {
      method: 'POST',
      url: () => '/api/v1/users',
      valid: { username: 'newuser', password: 'new-password', role: 'viewer' },
      strict: ['username', 'role'],
      table: 'users',
    },
    {
      method: 'PATCH',
      url: () => `/api/v1/users/${userId}`,
      valid: { role: 'operator' },
      strict: ['role'],
      table: 'users',
    },
    {
      method: 'POST',
      url: () => '/api/v1/images',
      valid: { name: 'Image Two', osType: 'windows' },
      strict: ['name', 'osType'],
      text: ['description'],
      table: 'images',
    },
    {
      method: 'PATCH',
      url: () => `/api/v1/images/${imageId}`,
      valid: { name: 'Renamed' },
      strict: ['name', 'osType'],
      text: ['description'],
      table: 'images',
    },
    {
      method: 'PUT',
      url: () => '/api/v1/settings',
      valid: { iscsi: { iqnDomain: 'lan.example' } },
      strict: [
        'iscsi.iqnDomain',
        'iscsi.portal',
        'dhcp.iface',
        'dhcp.mode',
        'network.bootAddr',
        'machines.namePattern',
        'storage.zfsDataset',
      ],
      table: 'settings',
    },
  ];

  const setPath = (obj: Record<string, unknown>, path: string, value: unknown) => {
    const out = structuredClone(obj);
    const parts = path.split('.');
    let cur = out;
    for (const p of parts.slice(0, -1)) cur = (cur[p] ??= {}) as Record<string, unknown>;
    cur[parts.at(-1)!] = value;
    return out;
  };

  const expectRefusedUnchanged = async (r: Route, payload: unknown, label: string, raw = false) => {
    const before = await snapshot(r.table);
    const url = await r.url(t);
    const res = raw
      ? await t.app.inject({
          method: r.method,
          url,
          headers: { ...h, 'content-type': 'application/json' },
          body: payload as string,
        })
      : await t.app.inject({ method: r.method, url, headers: h, payload: payload as object });
    expect(res.statusCode, `${r.method} ${url} ${label}: ${res.body.slice(0, 200)}`).toBeGreaterThanOrEqual(
      400,
    );
    expect(res.statusCode, label).toBeLessThan(500);
    expect(res.headers['content-type'], label).toContain('application/problem+json');
    const body = res.json();
    expect(typeof body.code, label).toBe('string');
    expect(typeof body.detail, label).toBe('string');
    expect(await snapshot(r.table), `${label}: nothing stored`).toBe(before);
    return body;
  };

  it('answers malformed JSON, non-object bodies and wrong content types with 4xx and stores nothing', async () => {
    for (const r of routes()) {
      expect((await expectRefusedUnchanged(r, '{"name": "pc-x", ', 'malformed JSON', true)).code).toBe(
        'invalid_json',
      );
      await expectRefusedUnchanged(r, '[]', 'array body', true);
      await expectRefusedUnchanged(r, '"text"', 'string body', true);
      await expectRefusedUnchanged(r, '42', 'number body', true);
      await expectRefusedUnchanged(r, 'null', 'null body', true);
      const url = await r.url(t);
      const form = await t.app.inject({
        method: r.method,
        url,
        headers: { ...h, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'name=x',
      });
      expect(form.statusCode).toBe(415);
      expect(form.json().code).toBe('unsupported_media_type');
    }
  });

  it('refuses unknown fields and wrong types, listing the fields', async () => {
    for (const r of routes()) {
      const unknown = await expectRefusedUnchanged(
        r,
        r.method === 'PUT' ? { ...r.valid, hacker: { x: 1 } } : { ...r.valid, isAdmin: true },
        'unknown field',
      );
      expect(unknown.code).toBe('validation_failed');
      expect(unknown.errors.length).toBeGreaterThan(0);
      for (const f of r.strict) {
        for (const wrong of [123, true, null, ['a'], { a: 1 }]) {
          if (
            wrong === null &&
            [
              'ip',
              'bootImageId',
              'bootMode',
              'network.bootAddr',
              'dhcp.iface',
              'storage.zfsDataset',
            ].includes(f)
          )
            continue; // nullable by design
          const body = await expectRefusedUnchanged(
            r,
            setPath(r.valid, f, wrong),
            `${f}=${JSON.stringify(wrong)}`,
          );
          expect(body.errors?.map((e: { path: string }) => e.path).join(' ') ?? body.detail).toMatch(
            new RegExp(f.split('.').at(-1)!),
          );
        }
      }
    }
  });

  it('refuses SQL/shell/path metacharacters in every identifier field', async () => {
    for (const r of routes()) {
      for (const f of r.strict) {
        for (const s of NASTY)
          await expectRefusedUnchanged(r, setPath(r.valid, f, s), `${f}=${JSON.stringify(s.slice(0, 30))}`);
      }
    }
  });

  it('stores metacharacters in free text verbatim (data, never code) but refuses control characters', async () => {
    const tablesBefore = await count('machines');
    let n = 0;
    for (const s of [
      "x'; DROP TABLE machines; --",
      '$(reboot) `id` | ; & > /dev/sda',
      '<b>&amp;</b>',
      'ümlaut 日本 🎮',
    ]) {
      n++;
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/machines',
        headers: h,
        payload: { name: `pc-text-${n}`, mac: `52:54:00:00:03:0${n}`, description: s },
      });
      expect(res.statusCode).toBe(201);
      const got = await t.app.inject({ method: 'GET', url: `/api/v1/machines/${res.json().id}`, headers: h });
      expect(got.json().description).toBe(s);
    }
    expect(await count('machines')).toBe(tablesBefore + n);
    const r = routes()[0]!;
    for (const bad of ['a\u0000b', '\u001b[2J', 'bell\u0007'])
      await expectRefusedUnchanged(r, { ...r.valid, description: bad }, 'control char');
  });

  it('refuses bodies over the limit with 413', async () => {
    const r = routes()[0]!;
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/machines',
      headers: { ...h, 'content-type': 'application/json' },
      body: JSON.stringify({ ...r.valid, description: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('payload_too_large');
    expect(
      await t.app
        .inject({ method: 'GET', url: '/api/v1/machines?q=pc-new', headers: h })
        .then((x) => x.json().total),
    ).toBe(0);
  });

  describe('machines edge cases', () => {
    it('treats the same MAC in another notation as a duplicate (409, nothing stored)', async () => {
      const r = routes()[0]!;
      for (const mac of [
        '52-54-00-00-01-01',
        '5254.0000.0101',
        '525400000101',
        '52:54:00:00:01:01'.toUpperCase(),
      ]) {
        const body = await expectRefusedUnchanged(
          r,
          { name: `pc-dup-${mac.length}`, mac },
          `duplicate ${mac}`,
        );
        expect(body.code).toBe('mac_taken');
      }
      const dupName = await expectRefusedUnchanged(
        r,
        { name: 'PC-BASE', mac: '52:54:00:00:09:09' },
        'duplicate name',
      );
      expect(dupName.code).toBe('name_taken');
    });

    it('refuses an unknown image and a boot image that is also an extra disk', async () => {
      const r = routes()[0]!;
      expect(
        (
          await expectRefusedUnchanged(
            r,
            { ...r.valid, bootImageId: '00000000-0000-4000-8000-000000000000' },
            'unknown image',
          )
        ).code,
      ).toBe('image_not_found');
      await expectRefusedUnchanged(
        r,
        { ...r.valid, bootImageId: imageId, extraImageIds: [imageId] },
        'boot=extra',
      );
    });

    it('takes only the sort keys each list names; every one of them sorts (both directions)', async () => {
      const lists: Array<[string, readonly string[]]> = [
        ['/api/v1/machines', MACHINE_SORT_FIELDS],
        ['/api/v1/users', USER_SORT_FIELDS],
        ['/api/v1/images', IMAGE_SORT_FIELDS],
        ['/api/v1/sessions', SESSION_SORT_FIELDS],
        ['/api/v1/jobs', JOB_SORT_FIELDS],
        ['/api/v1/writebacks', WRITEBACK_SORT_FIELDS],
        ['/api/v1/targets', TARGET_SORT_FIELDS],
        ['/api/v1/audit', AUDIT_SORT_FIELDS],
      ];
      // names every JavaScript object has (a lookup in a plain object finds them), and unknown ones
      const bad = [
        'constructor',
        '-constructor',
        'toString',
        'valueOf',
        'hasOwnProperty',
        'isPrototypeOf',
        '__proto__',
        '-__proto__',
        'prototype',
        'doesNotExist',
        '-doesNotExist',
        'name;drop',
        '--name',
        'NAME',
        '',
      ];
      for (const [url, fields] of lists) {
        for (const key of bad) {
          const res = await t.app.inject({
            method: 'GET',
            url: `${url}?sort=${encodeURIComponent(key)}`,
            headers: h,
          });
          expect(res.statusCode, `${url}?sort=${key}: ${res.body.slice(0, 200)}`).toBe(400);
          expect(res.headers['content-type']).toContain('application/problem+json');
          const body = res.json();
          expect(body.code).toBe('validation_failed');
          expect(body.errors.map((e: { path: string }) => e.path).join(' ')).toMatch(/sort/);
          expect(body.detail, `${url}?sort=${key}`).toContain(`sort must be one of ${fields.join(', ')}`);
        }
        for (const f of fields) {
          for (const key of [f, `-${f}`]) {
            const res = await t.app.inject({ method: 'GET', url: `${url}?sort=${key}`, headers: h });
            expect(res.statusCode, `${url}?sort=${key}: ${res.body.slice(0, 200)}`).toBe(200);
          }
        }
      }
    });

    it('refuses a ZFS dataset that climbs out of its pool (tank/../..) naming the field', async () => {
      const r = routes().find((x) => x.method === 'PUT')!;
      for (const ds of ['tank/../..', 'tank/..', 'tank//x', '/tank', 'tank/.', 'tank/ggnet/']) {
        const body = await expectRefusedUnchanged(r, { storage: { zfsDataset: ds } }, `zfsDataset=${ds}`);
        expect(body.code).toBe('validation_failed');
        expect(body.hint).toBeTruthy();
        expect(body.errors).toContainEqual({
          path: 'body.storage.zfsDataset',
          message: expect.stringContaining('must be a ZFS dataset such as tank/ggnet'),
        });
      }
      const ok = await t.app.inject({
        method: 'PUT',
        url: '/api/v1/settings',
        headers: h,
        payload: { storage: { zfsDataset: 'tank/ggnet' } },
      });
      expect(ok.statusCode, ok.body).toBe(200);
      expect(ok.json().settings.storage.zfsDataset).toBe('tank/ggnet');
      await t.app.inject({
        method: 'PUT',
        url: '/api/v1/settings',
        headers: h,
        payload: { storage: { zfsDataset: null } },
      });
    });

    it('answers unknown ids with 404 problem+json', async () => {
      for (const [method, url] of [
        ['GET', '/api/v1/machines/nope'],
        ['PATCH', '/api/v1/machines/nope'],
        ['DELETE', '/api/v1/machines/nope'],
        ['GET', '/api/v1/images/nope'],
        ['GET', '/api/v1/users/nope'],
        ['POST', '/api/v1/jobs/nope/cancel'],
        ['POST', '/api/v1/sessions/nope/stop'],
      ] as const) {
        const res = await t.app.inject({
          method,
          url,
          headers: h,
          payload: method === 'PATCH' ? { description: 'x' } : undefined,
        });
        expect(res.statusCode, `${method} ${url}`).toBe(404);
        expect(res.json().code).toBe('not_found');
      }
    });

    it('refuses NUL characters anywhere (query, path, body) with 400 instead of a database error', async () => {
      for (const [method, url, payload] of [
        ['GET', '/api/v1/machines?q=a%00b', undefined],
        ['GET', '/api/v1/machines/a%00b', undefined],
        ['POST', '/api/v1/auth/login', { username: 'ad\u0000min', password: 'x' }],
        ['GET', '/api/v1/audit?username=a%00', undefined],
      ] as const) {
        const res = await t.app.inject({ method, url, headers: h, payload });
        expect(res.statusCode, url).toBe(400);
        expect(res.json().code).toMatch(/invalid_characters|validation_failed/);
      }
    });

    it('validates query strings: limits, sort fields and filters', async () => {
      for (const q of [
        'limit=0',
        'limit=100000',
        'offset=-1',
        'limit=abc',
        'sort=name;drop',
        'bootMode=turbo',
        'enabled=maybe',
      ]) {
        const res = await t.app.inject({ method: 'GET', url: `/api/v1/machines?${q}`, headers: h });
        expect(res.statusCode, q).toBe(400);
        expect(res.json().code).toBe('validation_failed');
      }
      // search text with LIKE wildcards and quotes is data
      const res = await t.app.inject({
        method: 'GET',
        url: `/api/v1/machines?q=${encodeURIComponent("%' OR 1=1 --")}`,
        headers: h,
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().total).toBe(0);
    });
  });
});
