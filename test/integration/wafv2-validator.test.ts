import { randomBytes } from 'node:crypto';
import {
  CreateWebACLCommand,
  GetWebACLCommand,
  UpdateWebACLCommand,
  WAFV2Client,
  type Rule,
  type UpdateWebACLRequest,
  type WebACL,
} from '@aws-sdk/client-wafv2';
import { beforeAll, describe, expect, it } from 'vitest';
import { getWebAcl, WafV2Validator, type WafV2ValidatorOptions } from '../../lambdas/adapters/wafv2.ts';
import { ConcurrentModificationError, TargetError } from '../../lambdas/core/errors.ts';
import { fingerprint } from '../../lambdas/core/fingerprint.ts';
import { emulatorClientConfig, uniqueName } from '../support/aws.ts';
import { injectFault, recordCalls, serviceError } from '../support/faults.ts';

const HEADER = 'X-Origin-Verify';

/** The client's middleware stack, as the shared fault helpers type it (loose enough for custom middleware). */
const stackOf = (client: WAFV2Client): Parameters<typeof injectFault>[0]['middlewareStack'] => client.middlewareStack;
const visibility = (metric: string) => ({ SampledRequestsEnabled: true, CloudWatchMetricsEnabled: true, MetricName: metric });

const managedRule: Rule = {
  Name: 'aws-common',
  Priority: 1,
  OverrideAction: { None: {} },
  Statement: {
    ManagedRuleGroupStatement: { VendorName: 'AWS', Name: 'AWSManagedRulesCommonRuleSet', ExcludedRules: [{ Name: 'SizeRestrictions_BODY' }] },
  },
  VisibilityConfig: visibility('aws-common'),
};
const rateRule: Rule = {
  Name: 'rate-limit',
  Priority: 2,
  Action: { Block: { CustomResponse: { ResponseCode: 429, CustomResponseBodyKey: 'too-many' } } },
  Statement: { RateBasedStatement: { Limit: 2000, AggregateKeyType: 'IP' } },
  VisibilityConfig: visibility('rate-limit'),
};

/** A web ACL as a team would have it before origin-guard arrives: rules and settings that are not ours. */
async function seedWebAcl(client: WAFV2Client) {
  const name = uniqueName('gateway-acl');
  const created = await client.send(
    new CreateWebACLCommand({
      Name: name,
      Scope: 'REGIONAL',
      DefaultAction: { Allow: {} },
      Description: 'gateway web ACL, owned by the platform team',
      VisibilityConfig: visibility(name),
      Rules: [managedRule, rateRule],
      CustomResponseBodies: { 'too-many': { ContentType: 'APPLICATION_JSON', Content: '{"error":"slow down"}' } },
      CaptchaConfig: { ImmunityTimeProperty: { ImmunityTime: 120 } },
      ChallengeConfig: { ImmunityTimeProperty: { ImmunityTime: 300 } },
      TokenDomains: ['api.example.com'],
      AssociationConfig: { RequestBody: { API_GATEWAY: { DefaultSizeInspectionLimit: 'KB_16' } } },
    }),
  );
  return { name, id: created.Summary!.Id! };
}

const secretValue = () => randomBytes(24).toString('base64url');
const fingerprints = (values: string[]) => values.map(fingerprint);

function validatorFor(client: WAFV2Client, acl: { name: string; id: string }, overrides: Partial<WafV2ValidatorOptions> = {}) {
  return new WafV2Validator(client, {
    scope: 'REGIONAL',
    webAclName: acl.name,
    webAclId: acl.id,
    ruleName: 'origin-verify',
    priority: 0,
    headerName: HEADER,
    propagationSeconds: 60,
    retry: { baseDelayMs: 1 },
    ...overrides,
  });
}

async function readWebAcl(client: WAFV2Client, acl: { name: string; id: string }): Promise<WebACL> {
  return (await getWebAcl(client, { scope: 'REGIONAL', ...acl })).webAcl;
}

/** Runs `action` (another editor's change) just before the first matching command of `client` goes out. */
function beforeFirst(client: WAFV2Client, command: string, action: () => Promise<void>) {
  let ran = false;
  stackOf(client).add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      if (!ran && context.commandName === command) {
        ran = true;
        await action();
      }
      return next(args);
    },
    { step: 'initialize', name: `before-first-${command}-${randomBytes(3).toString('hex')}`, priority: 'high' },
  );
}

/**
 * Adds to every GetWebACL answer the settings moto does not store, as AWS would return them, so that the
 * test sees whether the validator sends them back.
 */
function withSettingsMotoDoesNotStore(client: WAFV2Client, extra: Partial<WebACL>) {
  stackOf(client).add(
    (next: (args: unknown) => Promise<{ output: { WebACL?: WebACL } }>, context: { commandName?: string }) => async (args: unknown) => {
      const result = await next(args);
      if (context.commandName === 'GetWebACLCommand' && result.output.WebACL) Object.assign(result.output.WebACL, structuredClone(extra));
      return result;
    },
    { step: 'initialize', name: `augment-get-web-acl-${randomBytes(3).toString('hex')}`, priority: 'low' },
  );
}

describe('WafV2Validator against moto', () => {
  let client: WAFV2Client;
  beforeAll(() => {
    client = new WAFV2Client(emulatorClientConfig());
  });

  it('adds the rule for two values, then narrows it to one, keeping every other rule and setting', async () => {
    // Arrange
    const acl = await seedWebAcl(client);
    const before = await readWebAcl(client, acl);
    const validator = validatorFor(client, acl);
    const [oldValue, newValue] = [secretValue(), secretValue()];

    // Act
    await validator.accept([oldValue, newValue]);
    const duringOverlap = await validator.accepted();
    await validator.accept([newValue]);

    // Assert
    expect(fingerprints(duringOverlap)).toEqual(fingerprints([oldValue, newValue]));
    expect(fingerprints(await validator.accepted())).toEqual(fingerprints([newValue]));
    const after = await readWebAcl(client, acl);
    expect(after.Rules?.map((r) => [r.Name, r.Priority]).sort()).toEqual([
      ['aws-common', 1],
      ['origin-verify', 0],
      ['rate-limit', 2],
    ]);
    expect(after.Rules?.find((r) => r.Name === 'aws-common')).toEqual(before.Rules?.find((r) => r.Name === 'aws-common'));
    expect(after.Rules?.find((r) => r.Name === 'rate-limit')).toEqual(before.Rules?.find((r) => r.Name === 'rate-limit'));
    for (const field of ['DefaultAction', 'Description', 'VisibilityConfig', 'CustomResponseBodies', 'CaptchaConfig', 'ChallengeConfig', 'TokenDomains', 'AssociationConfig'] as const) {
      expect(after[field], field).toEqual(before[field]);
    }
    expect(validator.id).toBe(`wafv2:REGIONAL/${acl.name}/origin-verify`);
  });

  it('sends back in UpdateWebACL every setting GetWebACL returned, including those moto does not keep', async () => {
    // Arrange: AWS resets any optional field that UpdateWebACL leaves out.
    const acl = await seedWebAcl(client);
    const ours = new WAFV2Client(emulatorClientConfig());
    withSettingsMotoDoesNotStore(ours, {
      DataProtectionConfig: { DataProtections: [{ Field: { FieldType: 'SINGLE_HEADER', FieldKeys: ['authorization'] }, Action: 'SUBSTITUTION' }] },
      OnSourceDDoSProtectionConfig: { ALBLowReputationMode: 'ACTIVE_UNDER_DDOS' },
      ApplicationConfig: { Attributes: [{ Name: 'team', Values: ['payments'] }] },
      MonetizationConfig: { CurrencyMode: 'TEST' },
    });
    const seen = (await ours.send(new GetWebACLCommand({ Scope: 'REGIONAL', Name: acl.name, Id: acl.id }))).WebACL!;
    const recorder = recordCalls(ours);

    // Act
    await validatorFor(ours, acl).accept([secretValue()]);

    // Assert
    const updates = recorder.calls.filter((c) => c.command === 'UpdateWebACLCommand');
    expect(updates).toHaveLength(1);
    const sent = updates[0].input as UpdateWebACLRequest;
    const settings = [
      'DefaultAction',
      'Description',
      'VisibilityConfig',
      'DataProtectionConfig',
      'CustomResponseBodies',
      'CaptchaConfig',
      'ChallengeConfig',
      'TokenDomains',
      'AssociationConfig',
      'OnSourceDDoSProtectionConfig',
      'ApplicationConfig',
      'MonetizationConfig',
    ] as const;
    for (const field of settings) {
      expect(sent[field], field).toBeDefined();
      expect(sent[field], field).toEqual(seen[field]);
    }
    expect(sent).toMatchObject({ Name: acl.name, Id: acl.id, Scope: 'REGIONAL' });
    expect(sent.LockToken).toEqual(expect.any(String));
    expect(sent.Rules?.map((r) => r.Name).sort()).toEqual(['aws-common', 'origin-verify', 'rate-limit']);
  });

  it('makes no UpdateWebACL call when the rule already accepts the values, in any order', async () => {
    // Arrange
    const acl = await seedWebAcl(client);
    const validator = validatorFor(client, acl);
    const [a, b] = [secretValue(), secretValue()];
    await validator.accept([a, b]);
    const recorder = recordCalls(client);

    try {
      // Act
      await validator.accept([a, b]);
      await validator.accept([b, a]);

      // Assert
      expect(recorder.calls.map((c) => c.command)).toEqual(['GetWebACLCommand', 'GetWebACLCommand']);
    } finally {
      recorder.remove();
    }
  });

  it("keeps a concurrent editor's change when its write made our lock token stale", async () => {
    // Arrange: between our GetWebACL and our UpdateWebACL, someone else adds a rule.
    const acl = await seedWebAcl(client);
    const ours = new WAFV2Client(emulatorClientConfig());
    beforeFirst(ours, 'UpdateWebACLCommand', async () => {
      const { webAcl, lockToken } = await getWebAcl(client, { scope: 'REGIONAL', ...acl });
      const geoRule: Rule = {
        Name: 'editor-geo-block',
        Priority: 10,
        Action: { Block: {} },
        Statement: { GeoMatchStatement: { CountryCodes: ['KP'] } },
        VisibilityConfig: visibility('editor-geo-block'),
      };
      await client.send(
        new UpdateWebACLCommand({
          Name: acl.name,
          Scope: 'REGIONAL',
          Id: acl.id,
          LockToken: lockToken,
          DefaultAction: webAcl.DefaultAction,
          VisibilityConfig: webAcl.VisibilityConfig,
          Description: 'edited by a colleague',
          Rules: [...(webAcl.Rules ?? []), geoRule],
        }),
      );
    });
    const recorder = recordCalls(ours);
    const value = secretValue();

    // Act
    await validatorFor(ours, acl).accept([value]);

    // Assert
    const after = await readWebAcl(client, acl);
    expect(after.Rules?.map((r) => r.Name).sort()).toEqual(['aws-common', 'editor-geo-block', 'origin-verify', 'rate-limit']);
    expect(after.Description).toBe('edited by a colleague');
    expect(fingerprints(await validatorFor(client, acl).accepted())).toEqual(fingerprints([value]));
    expect(recorder.calls.filter((c) => c.command === 'UpdateWebACLCommand')).toHaveLength(2);
  });

  it('gives up with a ConcurrentModificationError after a bounded number of lock conflicts', async () => {
    // Arrange
    const acl = await seedWebAcl(client);
    const ours = new WAFV2Client(emulatorClientConfig());
    const fault = injectFault(ours, { command: 'UpdateWebACLCommand', error: () => serviceError('WAFOptimisticLockException') });

    // Act
    const outcome = validatorFor(ours, acl, { retry: { attempts: 3, baseDelayMs: 1 } }).accept([secretValue()]);

    // Assert
    await expect(outcome).rejects.toBeInstanceOf(ConcurrentModificationError);
    await expect(outcome).rejects.toMatchObject({ retryable: true, message: expect.stringContaining('3 attempts') });
    expect(fault.failures).toBe(3);
  });

  it('retries when WAF throttles reads and writes', async () => {
    // Arrange
    const acl = await seedWebAcl(client);
    const ours = new WAFV2Client(emulatorClientConfig());
    const throttledRead = injectFault(ours, { command: 'GetWebACLCommand', times: 1, error: () => serviceError('ThrottlingException', 'Rate exceeded') });
    const throttledWrite = injectFault(ours, { command: 'UpdateWebACLCommand', times: 2, error: () => serviceError('ThrottlingException', 'Rate exceeded') });
    const value = secretValue();

    // Act
    await validatorFor(ours, acl).accept([value]);

    // Assert
    expect(throttledRead.failures).toBe(1);
    expect(throttledWrite.failures).toBe(2);
    expect(throttledWrite.calls).toBe(3);
    expect(fingerprints(await validatorFor(client, acl).accepted())).toEqual(fingerprints([value]));
  });

  it('refuses a priority that another rule holds, naming both rules, without writing', async () => {
    // Arrange: the managed rule group sits at priority 1.
    const acl = await seedWebAcl(client);
    const ours = new WAFV2Client(emulatorClientConfig());
    const recorder = recordCalls(ours);
    const value = secretValue();

    // Act
    const outcome = validatorFor(ours, acl, { priority: 1 }).accept([value]);

    // Assert
    await expect(outcome).rejects.toBeInstanceOf(TargetError);
    await expect(outcome).rejects.toThrow(/"aws-common" already has priority 1.*"origin-verify"/);
    await expect(outcome).rejects.not.toThrow(value);
    expect(recorder.calls.filter((c) => c.command === 'UpdateWebACLCommand')).toHaveLength(0);
  });

  it('moves its own rule to the configured priority', async () => {
    // Arrange
    const acl = await seedWebAcl(client);
    const value = secretValue();
    await validatorFor(client, acl, { priority: 5 }).accept([value]);

    // Act
    await validatorFor(client, acl, { priority: 0 }).accept([value]);

    // Assert
    const rules = (await readWebAcl(client, acl)).Rules ?? [];
    expect(rules.filter((r) => r.Name === 'origin-verify').map((r) => r.Priority)).toEqual([0]);
  });

  it('reports no accepted values while the rule does not exist', async () => {
    const acl = await seedWebAcl(client);

    expect(await validatorFor(client, acl).accepted()).toEqual([]);
  });

  it('refuses to read a same-named rule that was edited out of shape', async () => {
    // Arrange
    const acl = await seedWebAcl(client);
    await validatorFor(client, acl).accept([secretValue()]);
    const { webAcl, lockToken } = await getWebAcl(client, { scope: 'REGIONAL', ...acl });
    const rules = (webAcl.Rules ?? []).map((r) => (r.Name === 'origin-verify' ? { ...r, Action: { Count: {} } } : r));
    await client.send(
      new UpdateWebACLCommand({ Name: acl.name, Scope: 'REGIONAL', Id: acl.id, LockToken: lockToken, DefaultAction: webAcl.DefaultAction, VisibilityConfig: webAcl.VisibilityConfig, Rules: rules }),
    );

    // Act + Assert
    await expect(validatorFor(client, acl).accepted()).rejects.toThrow(/not in origin-guard's shape/);
  });

  it('names the web ACL and what to check when it does not exist', async () => {
    const acl = { name: uniqueName('missing-acl'), id: '00000000-0000-0000-0000-000000000000' };

    await expect(validatorFor(client, acl).accept([secretValue()])).rejects.toThrow(
      new RegExp(`wafv2:REGIONAL/${acl.name}: reading the web ACL .* does not exist`),
    );
  });
});
