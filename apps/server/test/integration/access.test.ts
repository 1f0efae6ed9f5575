import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';

interface Operation {
  security?: unknown[];
}
type Spec = { paths: Record<string, Record<string, Operation>> };

const MUTATING = ['post', 'put', 'patch', 'delete'];
const ADMIN_ONLY_PREFIXES = ['/api/v1/users', '/api/v1/settings', '/api/v1/audit'];
const fill = (path: string) => path.replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000');

describeEachDialect('access control (walks the OpenAPI spec)', (dialect) => {
  let t: TestContext;
  let spec: Spec;
  beforeAll(async () => {
    t = await createTestContext(dialect);
    spec = (await t.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
  });
  afterAll(async () => t.close());

  const operations = () =>
    Object.entries(spec.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([m]) => ['get', ...MUTATING].includes(m))
        .map(([method, op]) => ({
          path,
          method: method.toUpperCase(),
          op,
          public: Array.isArray(op.security) && op.security.length === 0,
        })),
    );

  it('documents every /api/v1 route, with the public ones marked', () => {
    const ops = operations();
    expect(ops.length).toBeGreaterThan(30);
    expect(
      ops
        .filter((o) => o.public)
        .map((o) => `${o.method} ${o.path}`)
        .sort(),
    ).toEqual(
      expect.arrayContaining([
        'POST /api/v1/auth/login',
        'POST /api/v1/auth/refresh',
        'POST /api/v1/auth/logout',
      ]),
    );
  });

  it('refuses every mutating route without a token (401) and for a viewer (403)', async () => {
    const viewer = await t.auth('viewer');
    const checked: string[] = [];
    for (const o of operations().filter(
      (x) => MUTATING.includes(x.method.toLowerCase()) && !x.public && x.path.startsWith('/api/v1/'),
    )) {
      const url = fill(o.path);
      const anon = await t.app.inject({ method: o.method as 'POST', url, payload: {} });
      expect(anon.statusCode, `${o.method} ${o.path} without token`).toBe(401);
      expect(anon.headers['content-type']).toContain('application/problem+json');
      const asViewer = await t.app.inject({ method: o.method as 'POST', url, payload: {}, headers: viewer });
      expect(asViewer.statusCode, `${o.method} ${o.path} as viewer`).toBe(403);
      expect(asViewer.json().code).toBe('forbidden');
      checked.push(`${o.method} ${o.path}`);
    }
    expect(checked.length).toBeGreaterThan(15);
  });

  it('refuses every non-public GET route without a token', async () => {
    for (const o of operations().filter(
      (x) => x.method === 'GET' && !x.public && x.path.startsWith('/api/v1/'),
    )) {
      const res = await t.app.inject({ method: 'GET', url: fill(o.path) });
      expect(res.statusCode, `GET ${o.path}`).toBe(401);
    }
  });

  it('keeps users, settings and audit for admins (operator and viewer get 403)', async () => {
    for (const role of ['viewer', 'operator'] as const) {
      const h = await t.auth(role);
      for (const o of operations().filter((x) => ADMIN_ONLY_PREFIXES.some((p) => x.path.startsWith(p)))) {
        const res = await t.app.inject({
          method: o.method as 'GET',
          url: fill(o.path),
          payload: o.method === 'GET' ? undefined : {},
          headers: h,
        });
        expect(res.statusCode, `${o.method} ${o.path} as ${role}`).toBe(403);
      }
    }
  });

  it('lets an operator change machines but a viewer only read them', async () => {
    const op = await t.auth('operator');
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/machines',
      headers: op,
      payload: { name: 'pc-op', mac: '52:54:00:00:00:01' },
    });
    expect(created.statusCode).toBe(201);
    const list = await t.app.inject({
      method: 'GET',
      url: '/api/v1/machines',
      headers: await t.auth('viewer'),
    });
    expect(list.statusCode).toBe(200);
    expect(list.json().total).toBe(1);
  });
});
