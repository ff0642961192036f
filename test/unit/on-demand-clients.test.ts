import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { describe, expect, it } from 'vitest';
import { AccountClients } from '../../lambdas/adapters/account-clients.ts';
import { AwsClients } from '../../lambdas/adapters/aws-clients.ts';
import { elbv2Sdk, securityHubSdk } from '../../lambdas/adapters/on-demand-clients.ts';
import { parseConfig } from '../../lambdas/config.ts';

const settings = { region: 'eu-west-1', endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };

describe('clients loaded on first use (the audit: Security Hub, Elastic Load Balancing, EventBridge)', () => {
  it('a client not given at construction is unavailable until loaded, then serves the hub and every account-region', async () => {
    // Arrange: the audit Lambda's clients, without the on-demand ones.
    const hub = new AwsClients(settings, {});
    const config = parseConfig({ region: 'eu-west-1', stackName: 'OriginGuard', accounts: { spoke: { accountId: '210987654321', externalId: 'bench-ext' } } });
    const spoke = new AccountClients({ config, hub, fn: 'audit' }).for({ account: 'spoke', region: 'us-west-2' });
    expect(() => hub.securityHub()).toThrow(/SecurityHubClient is not available/);

    // Act
    const sdk = await securityHubSdk(hub);

    // Assert
    expect(sdk.BatchImportFindingsCommand).toBeTypeOf('function');
    expect(hub.securityHub()).toBeInstanceOf(SecurityHubClient);
    expect(spoke.securityHub()).toBeInstanceOf(SecurityHubClient);
    expect(await spoke.securityHub().config.region()).toBe('us-west-2');
  });

  it('keeps a class given at construction (the CLI, an instrumented test client)', async () => {
    class Counted extends ElasticLoadBalancingV2Client {}
    const hub = new AwsClients(settings, { ElasticLoadBalancingV2Client: Counted });
    await elbv2Sdk(hub);
    expect(hub.elbv2()).toBeInstanceOf(Counted);
  });
});
