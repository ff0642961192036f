import { randomBytes } from 'node:crypto';
import {
  CloudFrontClient,
  CreateDistributionCommand,
  GetDistributionConfigCommand,
  type DistributionConfig,
  type Origin,
  type OriginCustomHeader,
} from '@aws-sdk/client-cloudfront';
import { beforeAll, describe, expect, it } from 'vitest';
import { CloudFrontSender, getDistributionView, type CloudFrontSenderOptions } from '../../lambdas/adapters/cloudfront.ts';
import { ConcurrentModificationError, TargetError } from '../../lambdas/core/errors.ts';
import { fingerprint } from '../../lambdas/core/fingerprint.ts';
import { emulatorClientConfig, motoEndpoint, uniqueName } from '../support/aws.ts';
import { injectFault, recordCalls, serviceError } from '../support/faults.ts';

const HEADER = 'X-Origin-Verify';
const secretValue = () => randomBytes(24).toString('base64url');
const fingerprints = (values: string[]) => values.map(fingerprint);

function customOrigin(id: string, headers: OriginCustomHeader[]): Origin {
  return {
    Id: id,
    DomainName: `${id}.origin.example.com`,
    CustomHeaders: { Quantity: headers.length, Items: headers },
    CustomOriginConfig: {
      HTTPPort: 80,
      HTTPSPort: 443,
      OriginProtocolPolicy: 'https-only',
      OriginSslProtocols: { Quantity: 1, Items: ['TLSv1.2'] },
    },
  };
}

/**
 * A distribution with several origins and headers that are not ours: `legacy` already sends the header
 * under another spelling with an old value.
 */
async function seedDistribution(client: CloudFrontClient): Promise<string> {
  const created = await client.send(
    new CreateDistributionCommand({
      DistributionConfig: {
        CallerReference: uniqueName('origin-guard-test'),
        Comment: 'checkout edge',
        Enabled: true,
        Origins: {
          Quantity: 3,
          Items: [
            customOrigin('api', [{ HeaderName: 'X-Team', HeaderValue: 'payments' }]),
            customOrigin('web', []),
            customOrigin('legacy', [
              { HeaderName: 'x-origin-verify', HeaderValue: 'old-value-from-before' },
              { HeaderName: 'X-Legacy-Route', HeaderValue: 'v1' },
            ]),
          ],
        },
        DefaultCacheBehavior: {
          TargetOriginId: 'api',
          ViewerProtocolPolicy: 'redirect-to-https',
          CachePolicyId: '658327ea-f89d-4fab-a63d-7e88639e58f6',
        },
        CacheBehaviors: {
          Quantity: 1,
          Items: [
            {
              PathPattern: '/static/*',
              TargetOriginId: 'web',
              ViewerProtocolPolicy: 'allow-all',
              CachePolicyId: '658327ea-f89d-4fab-a63d-7e88639e58f6',
            },
          ],
        },
        WebACLId: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/edge-acl/0f1e2d3c',
      },
    }),
  );
  return created.Distribution!.Id!;
}

async function readConfig(client: CloudFrontClient, id: string): Promise<DistributionConfig> {
  return (await client.send(new GetDistributionConfigCommand({ Id: id }))).DistributionConfig!;
}

function headersOf(config: DistributionConfig, originId: string) {
  const origin = config.Origins!.Items!.find((o) => o.Id === originId)!;
  return (origin.CustomHeaders?.Items ?? []).map((h) => ({ name: h.HeaderName, value: fingerprint(h.HeaderValue ?? '') }));
}

function senderFor(client: CloudFrontClient, distributionId: string, overrides: Partial<CloudFrontSenderOptions> = {}) {
  return new CloudFrontSender(client, { distributionId, headerName: HEADER, retry: { baseDelayMs: 1 }, ...overrides });
}

async function setDistributionTransition(body: object | undefined): Promise<void> {
  const path = body ? 'set-transition' : 'unset-transition';
  const res = await fetch(`${motoEndpoint()}/moto-api/state-manager/${path}`, {
    method: 'POST',
    body: JSON.stringify({ model_name: 'cloudfront::distribution', ...(body ? { transition: body } : {}) }),
  });
  expect(res.ok).toBe(true);
}

describe('CloudFrontSender against moto', () => {
  let client: CloudFrontClient;
  beforeAll(() => {
    client = new CloudFrontClient(emulatorClientConfig('us-east-1'));
  });

  it('sets the header on exactly the listed origins and leaves everything else unchanged', async () => {
    // Arrange
    const id = await seedDistribution(client);
    const before = await readConfig(client, id);
    const value = secretValue();

    // Act
    await senderFor(client, id, { originIds: ['api', 'legacy'] }).send(value);

    // Assert
    const after = await readConfig(client, id);
    expect(headersOf(after, 'api')).toEqual([
      { name: 'X-Team', value: fingerprint('payments') },
      { name: HEADER, value: fingerprint(value) },
    ]);
    // The existing header keeps its place and takes the configured spelling.
    expect(headersOf(after, 'legacy')).toEqual([
      { name: HEADER, value: fingerprint(value) },
      { name: 'X-Legacy-Route', value: fingerprint('v1') },
    ]);
    expect(headersOf(after, 'web')).toEqual([]);
    const withoutHeaders = (config: DistributionConfig) => ({
      ...config,
      Origins: { ...config.Origins, Items: config.Origins!.Items!.map((o) => ({ ...o, CustomHeaders: undefined })) },
    });
    expect(withoutHeaders(after)).toEqual(withoutHeaders(before));
  });

  it('sets the header on every origin when no origin ids are configured', async () => {
    // Arrange
    const id = await seedDistribution(client);
    const sender = senderFor(client, id);
    const value = secretValue();

    // Act
    await sender.send(value);

    // Assert
    expect(fingerprints(await sender.sending())).toEqual(fingerprints([value]));
    const after = await readConfig(client, id);
    for (const originId of ['api', 'web', 'legacy']) {
      expect(headersOf(after, originId).filter((h) => h.name === HEADER)).toEqual([{ name: HEADER, value: fingerprint(value) }]);
    }
  });

  it('re-reads and retries after PreconditionFailed, then succeeds', async () => {
    // Arrange: moto accepts any IfMatch, so the stale ETag is injected.
    const id = await seedDistribution(client);
    const ours = new CloudFrontClient(emulatorClientConfig('us-east-1'));
    const recorder = recordCalls(ours);
    const fault = injectFault(ours, {
      command: 'UpdateDistributionCommand',
      times: 1,
      error: () => serviceError('PreconditionFailed', 'The request failed because it didn’t meet the preconditions', 412),
    });
    const value = secretValue();

    // Act
    await senderFor(ours, id, { originIds: ['web'] }).send(value);

    // Assert
    expect(fault.failures).toBe(1);
    expect(fault.calls).toBe(2);
    expect(recorder.calls.filter((c) => c.command === 'GetDistributionConfigCommand')).toHaveLength(2);
    expect(recorder.calls.find((c) => c.command === 'UpdateDistributionCommand')?.input.IfMatch).toEqual(expect.any(String));
    expect(headersOf(await readConfig(client, id), 'web')).toEqual([{ name: HEADER, value: fingerprint(value) }]);
  });

  it('gives up with a ConcurrentModificationError after a bounded number of stale ETags', async () => {
    // Arrange
    const id = await seedDistribution(client);
    const ours = new CloudFrontClient(emulatorClientConfig('us-east-1'));
    const fault = injectFault(ours, { command: 'UpdateDistributionCommand', error: () => serviceError('PreconditionFailed', 'stale', 412) });

    // Act
    const outcome = senderFor(ours, id, { retry: { attempts: 3, baseDelayMs: 1 } }).send(secretValue());

    // Assert
    await expect(outcome).rejects.toBeInstanceOf(ConcurrentModificationError);
    expect(fault.failures).toBe(3);
  });

  it('retries when CloudFront throttles', async () => {
    // Arrange
    const id = await seedDistribution(client);
    const ours = new CloudFrontClient(emulatorClientConfig('us-east-1'));
    const fault = injectFault(ours, { command: 'GetDistributionConfigCommand', times: 2, error: () => serviceError('Throttling', 'Rate exceeded') });
    const value = secretValue();

    // Act
    await senderFor(ours, id, { originIds: ['api'] }).send(value);

    // Assert
    expect(fault.failures).toBe(2);
    expect(headersOf(await readConfig(client, id), 'api')).toContainEqual({ name: HEADER, value: fingerprint(value) });
  });

  it('makes no UpdateDistribution call when the listed origins already send the value', async () => {
    // Arrange
    const id = await seedDistribution(client);
    const value = secretValue();
    await senderFor(client, id, { originIds: ['api', 'legacy'] }).send(value);
    const ours = new CloudFrontClient(emulatorClientConfig('us-east-1'));
    const recorder = recordCalls(ours);

    // Act
    await senderFor(ours, id, { originIds: ['api', 'legacy'], headerName: HEADER.toLowerCase() }).send(value);

    // Assert
    expect(recorder.calls.map((c) => c.command)).toEqual(['GetDistributionConfigCommand']);
  });

  it('names an origin id that does not exist and lists the distribution’s origins, without writing', async () => {
    // Arrange
    const id = await seedDistribution(client);
    const ours = new CloudFrontClient(emulatorClientConfig('us-east-1'));
    const recorder = recordCalls(ours);
    const value = secretValue();

    // Act
    const outcome = senderFor(ours, id, { originIds: ['api', 'checkout'] }).send(value);

    // Assert
    await expect(outcome).rejects.toBeInstanceOf(TargetError);
    await expect(outcome).rejects.toThrow(`cloudfront:${id}: origin id(s) "checkout" not found in the distribution, whose origins are "api", "web", "legacy"`);
    await expect(outcome).rejects.not.toThrow(value);
    expect(recorder.calls.filter((c) => c.command === 'UpdateDistributionCommand')).toHaveLength(0);
  });

  it('reports each distinct value its origins send', async () => {
    // Arrange: `legacy` still sends the old value.
    const id = await seedDistribution(client);
    const value = secretValue();
    await senderFor(client, id, { originIds: ['api'] }).send(value);

    // Act
    const all = await senderFor(client, id).sending();
    const listed = await senderFor(client, id, { originIds: ['api'] }).sending();

    // Assert
    expect(fingerprints(all).sort()).toEqual(fingerprints([value, 'old-value-from-before']).sort());
    expect(fingerprints(listed)).toEqual(fingerprints([value]));
  });

  it('is not propagated while a listed origin sends another value, even when Deployed', async () => {
    // Arrange
    const id = await seedDistribution(client);
    const value = secretValue();
    await senderFor(client, id, { originIds: ['api'] }).send(value);

    // Act
    const propagation = await senderFor(client, id, { originIds: ['api', 'legacy'] }).propagated(value, undefined, new Date());

    // Assert
    expect(propagation).toEqual({ done: false, detail: 'Deployed; origin(s) legacy not configured to send the value yet' });
    expect(JSON.stringify(propagation)).not.toContain(value);
  });

  it('reports InProgress until the distribution is deployed with the value', async () => {
    // Arrange: moto's state manager keeps new distributions InProgress for a few reads. The setting is
    // global to the emulator, so it is unset as soon as the distribution is Deployed.
    let id: string;
    let first;
    const later = [];
    const value = secretValue();
    await setDistributionTransition({ progression: 'manual', times: 5 });
    try {
      id = await seedDistribution(client);
      const sender = senderFor(client, id, { originIds: ['web'] });
      await sender.send(value);

      // Act
      first = await sender.propagated(value, new Date(), new Date());
      for (let read = 0; read < 10; read += 1) {
        const propagation = await sender.propagated(value, new Date(), new Date());
        later.push(propagation);
        if (propagation.done) break;
      }
    } finally {
      await setDistributionTransition(undefined);
    }

    // Assert
    expect(first).toEqual({ done: false, detail: 'InProgress' });
    expect(later.at(-1)).toEqual({ done: true, detail: 'Deployed' });
  });

  it('describes a distribution for the audit with header fingerprints, never values', async () => {
    // Arrange
    const id = await seedDistribution(client);
    const value = secretValue();
    await senderFor(client, id, { originIds: ['api'] }).send(value);

    // Act
    const view = await getDistributionView(client, id);

    // Assert
    expect(view).toMatchObject({
      id,
      status: 'Deployed',
      enabled: true,
      webAclId: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/edge-acl/0f1e2d3c',
      viewerProtocolPolicies: [
        { pathPattern: '*', targetOriginId: 'api', viewerProtocolPolicy: 'redirect-to-https' },
        { pathPattern: '/static/*', targetOriginId: 'web', viewerProtocolPolicy: 'allow-all' },
      ],
    });
    expect(view.origins.map((o) => o.id)).toEqual(['api', 'web', 'legacy']);
    expect(view.origins[0]).toMatchObject({
      kind: 'custom',
      protocolPolicy: 'https-only',
      originSslProtocols: ['TLSv1.2'],
      customHeaders: [
        { name: 'X-Team', valueFingerprint: fingerprint('payments') },
        { name: HEADER, valueFingerprint: fingerprint(value) },
      ],
    });
    expect(JSON.stringify(view)).not.toContain(value);
  });

  it('names the distribution when it does not exist', async () => {
    await expect(senderFor(client, 'E0000000MISSING').send(secretValue())).rejects.toThrow(
      /cloudfront:E0000000MISSING: reading the distribution config .* does not exist/,
    );
  });
});
