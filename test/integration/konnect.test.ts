import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KongRouteValidator } from '../../lambdas/adapters/kong.ts';
import { KongVaultSender } from '../../lambdas/adapters/kong-vault.ts';
import { isKonnectUrl, KONNECT_GLOBAL_API_URL, KonnectApiError, KonnectClient, konnectBaseUrl } from '../../lambdas/adapters/konnect.ts';
import { TargetError } from '../../lambdas/core/errors.ts';
import { konnectConfiguration, konnectNetwork, konnectTransitGateway, startFakeKonnect, type FakeKonnect } from '../support/fake-konnect.ts';

const TOKEN = 'kpat_test_token_0123456789';
const value = () => randomBytes(24).toString('hex');

let konnect: FakeKonnect;
const slept: number[] = [];

beforeAll(async () => {
  konnect = await startFakeKonnect({ token: TOKEN });
});
afterAll(async () => {
  await konnect.close();
});
beforeEach(() => {
  konnect.requests.length = 0;
  slept.length = 0;
  konnect.setDown(false);
  konnect.clearFaults();
});

function client(overrides: { token?: string; maxAttempts?: number } = {}) {
  return new KonnectClient({
    baseUrl: konnect.url,
    token: async () => overrides.token ?? TOKEN,
    maxAttempts: overrides.maxAttempts ?? 3,
    timeoutMs: 2_000,
    sleep: async (ms) => void slept.push(ms),
  });
}

describe('Konnect base URLs', () => {
  it('builds regional and global API URLs', () => {
    expect(konnectBaseUrl('eu')).toBe('https://eu.api.konghq.com');
    expect(konnectBaseUrl('global')).toBe(KONNECT_GLOBAL_API_URL);
    expect(KONNECT_GLOBAL_API_URL).toBe('https://global.api.konghq.com');
    expect(isKonnectUrl('https://us.api.konghq.com/v2/control-planes/x/core-entities')).toBe(true);
    expect(isKonnectUrl('https://kong-admin.internal:8444')).toBe(false);
    expect(() => konnectBaseUrl('eu.evil.com/')).toThrow(/not a Konnect region/);
  });
});

describe('Konnect Config Store secrets', () => {
  it('creates and updates a secret; reads return metadata, never the value', async () => {
    const [cp, cs] = [randomUUID(), randomUUID()];
    konnect.addConfigStore(cp, cs);
    const [first, second] = [value(), value()];

    const created = await client().putConfigStoreSecret(cp, cs, 'origin-verify', first);
    const updated = await client().putConfigStoreSecret(cp, cs, 'origin-verify', second);
    const read = await client().getConfigStoreSecret(cp, cs, 'origin-verify');

    expect(konnect.configStoreSecret(cp, cs, 'origin-verify')?.value).toBe(second);
    expect(created.key).toBe('origin-verify');
    expect(updated.updatedAt! > created.updatedAt!).toBe(true);
    expect(read).toEqual({ key: 'origin-verify', createdAt: created.createdAt, updatedAt: updated.updatedAt });
    expect(JSON.stringify(konnect.requests.filter((r) => r.method === 'GET'))).not.toContain(second);
    expect(konnect.requests[0].headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(await client().getConfigStoreSecret(cp, cs, 'absent')).toBeUndefined();
  });

  it('names the config store when it does not exist, without the value or token', async () => {
    const secret = value();
    const error = await client().putConfigStoreSecret('cp-x', 'cs-missing', 'k', secret).catch((e) => e);
    expect(error).toBeInstanceOf(KonnectApiError);
    expect(error).toBeInstanceOf(TargetError);
    expect(error.message).toContain('Config Store cs-missing of control plane cp-x was not found');
    expect(error.status).toBe(404);
    expect(error.message).not.toContain(secret);
    expect(error.message).not.toContain(TOKEN);
  });

  it('feeds the config-store sender, which skips a write of the value already sent', async () => {
    const [cp, cs] = [randomUUID(), randomUUID()];
    konnect.addConfigStore(cp, cs);
    const sender = new KongVaultSender({ store: 'konnect-config-store', ttlSeconds: 300, konnect: client(), controlPlaneId: cp, configStoreId: cs, key: 'origin-verify' });
    const current = value();

    await sender.send(current);
    await sender.send(current);

    expect(konnect.writes()).toHaveLength(1);
    expect(konnect.configStoreSecret(cp, cs, 'origin-verify')?.value).toBe(current);
    expect(await sender.sending()).toEqual([current]);
    expect(sender.id).toBe('kong-vault:konnect-config-store');
  });

  it('refuses a bad token with a clear message', async () => {
    const error = await client({ token: 'kpat_wrong' }).getConfigStoreSecret('cp', 'cs', 'k').catch((e) => e);
    expect(error).toBeInstanceOf(KonnectApiError);
    expect(error.message).toMatch(/answered HTTP 401.*access token was refused/);
    expect(error.message).not.toContain('kpat_wrong');
  });
});

describe('Konnect control-plane routes through KongRouteValidator', () => {
  it('updates a route with PUT and a bearer token, keeping its other fields', async () => {
    const cp = randomUUID();
    const before = konnect.addRoute(cp, {
      name: 'api',
      paths: ['/api'],
      hosts: ['api.example.com'],
      headers: { 'x-tenant': ['acme'] },
      strip_path: false,
      tags: ['team-a'],
    });
    const [current, pending] = [value(), value()];
    const validator = new KongRouteValidator({
      adminUrl: `${konnect.url}/v2/control-planes/${cp}/core-entities`,
      routes: ['api'],
      headerName: 'X-Kong-Origin-Verify',
      token: async () => TOKEN,
      auth: 'bearer',
      propagationSeconds: 5,
      timeoutMs: 2_000,
    });

    await validator.accept([current, pending]);
    await validator.accept([current, pending]);

    const after = konnect.route(cp, 'api')!;
    expect(after.headers).toEqual({ 'x-tenant': ['acme'], 'x-kong-origin-verify': [current, pending] });
    const { headers: _a, updated_at: _b, ...restBefore } = before;
    const { headers: _c, updated_at: _d, ...restAfter } = after;
    expect(restAfter).toEqual(restBefore);
    const writes = konnect.writes();
    expect(writes.map((w) => w.method)).toEqual(['PUT']);
    expect(writes[0].path).toBe(`/v2/control-planes/${cp}/core-entities/routes/api`);
    expect(writes[0].headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(await validator.accepted()).toEqual([current, pending]);
  });
});

describe('Konnect Cloud Gateways reads', () => {
  it('lists configurations with their egress IPs, filtered by control plane, across pages', async () => {
    const cp = randomUUID();
    const networkId = randomUUID();
    const mine = konnectConfiguration({
      controlPlaneId: cp,
      groups: [
        { networkId, region: 'us-east-2', egress: ['71.78.149.75', '91.149.112.244'] },
        { region: 'eu-west-1', egress: ['51.235.15.121', '71.78.149.75'] },
      ],
    });
    const others = Array.from({ length: 120 }, () => konnectConfiguration({ controlPlaneId: randomUUID() }));
    konnect.setConfigurations([...others.slice(0, 60), mine, ...others.slice(60)]);

    const filtered = await client().listCloudGatewayConfigurations({ controlPlaneId: cp });
    const all = await client().listCloudGatewayConfigurations();
    const onNetwork = await client().listCloudGatewayConfigurations({ controlPlaneId: cp, cloudGatewayNetworkId: networkId });

    expect(filtered).toHaveLength(1);
    expect(filtered[0]).toMatchObject({ id: mine.id, controlPlaneId: cp, controlPlaneGeo: 'us', egressIpAddresses: ['51.235.15.121', '71.78.149.75', '91.149.112.244'] });
    expect(filtered[0].dataplaneGroups.map((g) => g.region)).toEqual(['us-east-2', 'eu-west-1']);
    expect(konnect.requests[0].query).toMatchObject({ 'filter[control_plane_id][eq]': cp, 'page[size]': '100', 'page[number]': '1' });
    expect(all).toHaveLength(121);
    expect(onNetwork[0].egressIpAddresses).toEqual(['71.78.149.75', '91.149.112.244']);
  });

  it('reads a network and its transit gateway attachments with their states', async () => {
    const network = konnectNetwork({ state: 'offline', reason: 'network could not be provisioned' });
    konnect.setNetwork(network);
    konnect.setTransitGateways(network.id, [
      konnectTransitGateway({ name: 'shared-tgw', state: 'ready', attachmentId: 'tgw-attach-0123456789abcdef0', cidrBlocks: ['10.10.0.0/16'] }),
      konnectTransitGateway({ name: 'new-tgw', state: 'pending-acceptance' }),
      konnectTransitGateway({ name: 'broken-tgw', state: 'error', reason: 'could not find a resource with the provided ram share arn' }),
    ]);

    const read = await client().getNetwork(network.id);
    const attachments = await client().listTransitGateways(network.id);

    expect(read).toMatchObject({ id: network.id, state: 'offline', stateReason: 'network could not be provisioned', cidrBlock: '10.0.0.0/8', transitGatewayCount: 3 });
    expect(attachments.map((a) => [a.name, a.state])).toEqual([
      ['shared-tgw', 'ready'],
      ['new-tgw', 'pending-acceptance'],
      ['broken-tgw', 'error'],
    ]);
    expect(attachments[0]).toMatchObject({ kind: 'aws-transit-gateway-attachment', awsAttachmentId: 'tgw-attach-0123456789abcdef0', cidrBlocks: ['10.10.0.0/16'] });
    expect(attachments[2].stateReason).toContain('ram share arn');
    expect(await client().getNetwork(randomUUID())).toBeUndefined();
    await expect(client().listTransitGateways(randomUUID())).rejects.toThrow(/transit-gateways answered HTTP 404/);
  });

  it('retries 429 honouring Retry-After, then succeeds', async () => {
    const network = konnectNetwork();
    konnect.setNetwork(network);
    konnect.failNext(2, 429, { retryAfter: '2' });

    const read = await client().getNetwork(network.id);

    expect(read?.id).toBe(network.id);
    expect(konnect.requests).toHaveLength(3);
    expect(slept).toEqual([2_000, 2_000]);
  });

  it('gives up after the bounded attempts with the endpoint and status', async () => {
    const network = konnectNetwork();
    konnect.setNetwork(network);
    konnect.failNext(5, 503);

    const error = await client({ maxAttempts: 3 }).getNetwork(network.id).catch((e) => e);

    expect(error).toBeInstanceOf(KonnectApiError);
    expect(error.message).toContain('GET /v2/cloud-gateways/networks/{networkId} answered HTTP 503');
    expect(error.message).toContain('after 3 attempts');
    expect(error.retryable).toBe(true);
    expect(konnect.requests).toHaveLength(3);
  });

  it('reports a response of the wrong shape clearly', async () => {
    konnect.respondNext(1, { status: 200, body: { meta: { page: { number: 1, size: 100, total: 1 } }, data: [{ id: 'c1', control_plane_id: 'cp', control_plane_geo: 'us', dataplane_groups: 'none' }] } });
    const shape = await client().listCloudGatewayConfigurations().catch((e) => e);
    expect(shape).toBeInstanceOf(KonnectApiError);
    expect(shape.message).toMatch(/GET \/v2\/cloud-gateways\/configurations returned an unexpected response shape \(data\.0\.dataplane_groups: .*\)/);

    konnect.respondNext(1, { status: 200, raw: '<html>gateway</html>', headers: { 'content-type': 'text/html' } });
    const notJson = await client().listCloudGatewayConfigurations().catch((e) => e);
    expect(notJson.message).toContain('answered 200 without a JSON body');

    konnect.respondNext(1, { status: 200, body: { meta: { page: { number: 1, size: 1, total: 1 } }, data: [{ ...konnectConfiguration({}), dataplane_groups: [{ ...konnectConfiguration({}).dataplane_groups[0], egress_ip_addresses: ['not-an-ip'] }] }] } });
    const badIp = await client().listCloudGatewayConfigurations().catch((e) => e);
    expect(badIp.message).toContain('egress_ip_addresses.0: must be an IP address or CIDR');
  });

  it('refuses a page that comes back short before the announced total (a truncated answer)', async () => {
    konnect.setConfigurations(Array.from({ length: 150 }, () => konnectConfiguration({ controlPlaneId: randomUUID() })));
    const short = Array.from({ length: 3 }, () => konnectConfiguration({ controlPlaneId: randomUUID() }));
    konnect.respondNext(1, { status: 200, body: { meta: { page: { number: 1, size: 100, total: 150 } }, data: short } });

    const error = await client().listCloudGatewayConfigurations().catch((e) => e);

    expect(error).toBeInstanceOf(KonnectApiError);
    expect(error.message).toMatch(/page 1 .*3 items.*total of 150/);
  });

  it('reports Konnect unreachable after bounded attempts', async () => {
    konnect.setDown(true);
    const error = await client({ maxAttempts: 2 }).getNetwork(randomUUID()).catch((e) => e);
    expect(error).toBeInstanceOf(KonnectApiError);
    expect(error.message).toMatch(/Konnect unreachable \(connection reset after 2 attempts\)/);
    expect(error.status).toBeUndefined();
  });
});
