import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KongRouteValidator, type KongRouteValidatorOptions } from '../../lambdas/adapters/kong.ts';
import { TargetError } from '../../lambdas/core/errors.ts';
import { startFakeKong, type FakeKong, type KongRoute } from '../support/fake-kong.ts';

const HEADER = 'X-Kong-Origin-Verify';
const ADMIN_TOKEN = 'kong-admin-token-for-tests';
const value = () => randomBytes(24).toString('hex');

let kong: FakeKong;

beforeAll(async () => {
  kong = await startFakeKong({ adminToken: ADMIN_TOKEN });
});
afterAll(async () => {
  await kong.close();
});
beforeEach(() => {
  kong.setDown(false);
  kong.routes.clear();
  kong.workspaceOf.clear();
  kong.requests.length = 0;
});

function validator(routes: string[], overrides: Partial<KongRouteValidatorOptions> = {}) {
  return new KongRouteValidator({
    adminUrl: kong.url,
    routes,
    headerName: HEADER,
    token: async () => ADMIN_TOKEN,
    propagationSeconds: 5,
    maxAttempts: 2,
    timeoutMs: 2_000,
    sleep: async () => {},
    ...overrides,
  });
}

/** A route as a team would have it: its own matches and settings that origin-guard must keep. */
function seedApiRoute(name = 'api', extra: Partial<KongRoute> = {}): KongRoute {
  return kong.addRoute({
    name,
    paths: ['/api', '/v2/api'],
    methods: ['GET', 'POST'],
    hosts: ['api.example.com'],
    headers: { 'x-tenant': ['acme', 'globex'] },
    strip_path: false,
    preserve_host: true,
    protocols: ['https'],
    regex_priority: 7,
    tags: ['team-a', 'managed-by-decK'],
    ...extra,
  });
}

describe('KongRouteValidator against the Kong Admin API', () => {
  it('adds the header match and keeps the route\'s other header matches and fields', async () => {
    const before = seedApiRoute();
    const [current, pending] = [value(), value()];

    await validator(['api']).accept([current, pending]);

    const after = kong.route('api')!;
    expect(after.headers).toEqual({ 'x-tenant': ['acme', 'globex'], 'x-kong-origin-verify': [current, pending] });
    const { headers: _h1, updated_at: _u1, ...restBefore } = before;
    const { headers: _h2, updated_at: _u2, ...restAfter } = after;
    expect(restAfter).toEqual(restBefore);
    // Only the headers field is sent, so concurrent edits of other fields are not overwritten.
    const patch = kong.writes()[0];
    expect(patch.method).toBe('PATCH');
    expect(Object.keys(patch.body as object)).toEqual(['headers']);
  });

  it('reads back what every route accepts', async () => {
    seedApiRoute('api');
    seedApiRoute('admin');
    const [current, pending] = [value(), value()];
    const v = validator(['api', 'admin']);

    await v.accept([current, pending]);

    expect(await v.accepted()).toEqual([current, pending]);
    expect(v.id).toBe('kong-route:api,admin');
  });

  it('returns only the values all routes accept when they disagree', async () => {
    const [a, b, c] = [value(), value(), value()];
    seedApiRoute('api', { headers: { 'x-kong-origin-verify': [a, b] } });
    seedApiRoute('admin', { headers: { 'x-kong-origin-verify': [b, c] } });
    seedApiRoute('open', { headers: null });

    expect(await validator(['api', 'admin']).accepted()).toEqual([b]);
    // A route without the match lets any value through: it accepts none of ours.
    expect(await validator(['api', 'open']).accepted()).toEqual([]);
  });

  it('does not write when the route already accepts exactly those values', async () => {
    const [current, pending] = [value(), value()];
    seedApiRoute('api', { headers: { 'x-tenant': ['acme'], 'X-Kong-Origin-Verify': [pending, current] } });
    const v = validator(['api']);

    await v.accept([current, pending]);
    await v.accept([current, pending]);

    expect(kong.writes()).toHaveLength(0);
    expect(kong.requests.filter((r) => r.method === 'GET')).toHaveLength(2);
  });

  it('keeps one key per header whatever its spelling, as Kong matches names case-insensitively', async () => {
    const [old, current] = [value(), value()];
    seedApiRoute('api', { headers: { 'x-tenant': ['acme'], 'X-Kong-Origin-Verify': [old], 'x-kong-origin-verify': [old] } });

    await validator(['api']).accept([current]);

    expect(kong.route('api')!.headers).toEqual({ 'x-tenant': ['acme'], 'x-kong-origin-verify': [current] });
  });

  it('keeps the existing spelling when narrowing after the overlap', async () => {
    const [old, current] = [value(), value()];
    seedApiRoute('api', { headers: { 'X-Kong-Origin-Verify': [old, current] } });

    await validator(['api']).accept([current]);

    expect(kong.route('api')!.headers).toEqual({ 'X-Kong-Origin-Verify': [current] });
  });

  it('sends the admin token in Kong-Admin-Token, and a bearer token when asked', async () => {
    seedApiRoute();
    await validator(['api']).accepted();
    expect(kong.requests[0].headers['kong-admin-token']).toBe(ADMIN_TOKEN);
    expect(kong.requests[0].headers.authorization).toBeUndefined();

    const open = await startFakeKong();
    try {
      open.addRoute({ name: 'api' });
      await validator(['api'], { adminUrl: open.url, auth: 'bearer', token: async () => 'bearer-token' }).accepted();
      expect(open.requests[0].headers.authorization).toBe('Bearer bearer-token');
      expect(open.requests[0].headers['kong-admin-token']).toBeUndefined();
    } finally {
      await open.close();
    }
  });

  it('works under a workspace prefix', async () => {
    kong.addRoute({ name: 'api', headers: { 'x-tenant': ['acme'] } }, { workspace: 'team-a' });
    const current = value();

    await validator(['api'], { adminUrl: `${kong.url}/team-a/` }).accept([current]);

    expect(kong.route('api', 'team-a')!.headers).toEqual({ 'x-tenant': ['acme'], 'x-kong-origin-verify': [current] });
    expect(kong.writes()[0].path).toBe('/team-a/routes/api');
  });

  it('addresses routes by id too', async () => {
    const route = seedApiRoute();
    const current = value();

    await validator([route.id]).accept([current]);

    expect(kong.routes.get(route.id)!.headers!['x-kong-origin-verify']).toEqual([current]);
  });

  it('fails with a TargetError naming the route, URL and status, without the values', async () => {
    seedApiRoute();
    const current = value();

    const error = await validator(['missing']).accept([current]).catch((e) => e);

    expect(error).toBeInstanceOf(TargetError);
    expect(error.message).toContain('route "missing" not found');
    expect(error.message).toContain(`${kong.url}/routes/missing`);
    expect(error.message).toContain('404');
    expect(error.message).not.toContain(current);
  });

  it('fails clearly when the token is refused', async () => {
    seedApiRoute();
    const error = await validator(['api'], { token: async () => 'wrong' }).accepted().catch((e) => e);
    expect(error).toBeInstanceOf(TargetError);
    expect(error.message).toMatch(/HTTP 401.*token was refused/);
    expect(error.message).not.toContain('wrong');
    expect(error.message).not.toContain(ADMIN_TOKEN);
  });

  it('fails with a retryable TargetError when Kong is down, answering 503 or resetting connections', async () => {
    seedApiRoute();
    const current = value();

    kong.setDown(true, 'status');
    const answered = await validator(['api']).accept([current]).catch((e) => e);
    expect(answered).toBeInstanceOf(TargetError);
    expect(answered.message).toMatch(/HTTP 503 .*Kong failed after 2 attempts/);
    expect(answered.retryable).toBe(true);

    kong.setDown(true, 'reset');
    const reset = await validator(['api']).accept([current]).catch((e) => e);
    expect(reset).toBeInstanceOf(TargetError);
    expect(reset.message).toContain('Kong Admin API unreachable');
    expect(reset.message).toContain(`${kong.url}/routes/api`);
    expect(reset.retryable).toBe(true);
    expect(reset.message).not.toContain(current);
  });

  it('fails when nothing listens at the admin URL', async () => {
    const closed = await startFakeKong();
    const url = closed.url;
    await closed.close();
    const error = await validator(['api'], { adminUrl: url }).accepted().catch((e) => e);
    expect(error).toBeInstanceOf(TargetError);
    expect(error.message).toMatch(/unreachable.*connection refused/);
  });

  it('retries a 503 and then succeeds', async () => {
    seedApiRoute();
    kong.failNext(1, 503);
    const current = value();

    await validator(['api']).accept([current]);

    expect(kong.route('api')!.headers!['x-kong-origin-verify']).toEqual([current]);
  });

  it('refuses values Kong would read as a regex, and an empty set', async () => {
    seedApiRoute();
    await expect(validator(['api']).accept(['~*anything'])).rejects.toThrow(/regex/);
    await expect(validator(['api']).accept([])).rejects.toThrow(/no value/);
    expect(kong.writes()).toHaveLength(0);
  });

  it('keeps the values out of the message when Kong echoes them in a refusal', async () => {
    seedApiRoute();
    const current = value();
    // Kong's schema violations quote the offending field: make the write answer with the value in it.
    const echoing: typeof fetch = async (input, init) => {
      if (init?.method === 'PATCH') {
        return new Response(JSON.stringify({ code: 2, name: 'schema violation', message: `schema violation (headers: bad value '${current}')` }), { status: 400 });
      }
      return fetch(input, init);
    };

    const error = await validator(['api'], { fetch: echoing }).accept([current]).catch((e) => e);

    expect(error).toBeInstanceOf(TargetError);
    expect(error.message).toMatch(/HTTP 400 \(schema violation \(headers: bad value '\[redacted\]'\)\): Kong refused the change/);
    expect(error.message).not.toContain(current);
  });

  it('fails when the write is answered without the new values', async () => {
    seedApiRoute();
    const lying: typeof fetch = async (input, init) => {
      if (init?.method === 'PATCH') return fetch(input, { ...init, body: JSON.stringify({ tags: ['unchanged'] }) });
      return fetch(input, init);
    };
    await expect(validator(['api'], { fetch: lying }).accept([value()])).rejects.toThrow(/answered the update without the expected header values/);
  });

  it('refuses to manage expression routes', async () => {
    kong.addRoute({ name: 'expr', paths: null, expression: 'http.path ^= "/api"' });
    await expect(validator(['expr']).accept([value()])).rejects.toThrow(/expression/);
  });
});
