import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, parseConfigText } from '../../lambdas/config.ts';

const minimal = {
  region: 'eu-west-1',
  secrets: [
    {
      name: 'cdn-to-gateway',
      secretName: 'origin-guard/cdn-to-gateway',
      headerName: 'X-Origin-Verify',
      senders: [{ type: 'cloudfront', distributionId: 'E2EXAMPLE' }],
      validators: [{ type: 'wafv2', scope: 'REGIONAL', webAclName: 'gateway-acl', webAclId: 'abc', ruleName: 'origin-verify', priority: 0 }],
    },
  ],
};

function problemsOf(value: unknown): string[] {
  try {
    parseConfig(value);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('config', () => {
  it('accepts the documented shape and fills defaults', () => {
    const config = parseConfig(minimal);
    expect(config.secrets[0].rotationDays).toBe(30);
    expect(config.secrets[0].overlapMinutes).toBe(30);
    expect(config.stackName).toBe('OriginGuard');
    expect(config.alerts.reminderHours).toBe(24);
  });

  it('accepts zero durations, which the tests and demo use', () => {
    const config = parseConfig({
      ...minimal,
      secrets: [
        {
          ...minimal.secrets[0],
          overlapMinutes: 0,
          senders: [{ type: 'kong-vault', store: 'secretsmanager', ttlSeconds: 0 }],
          validators: [{ type: 'secretsmanager-readers', cacheTtlSeconds: 0 }],
        },
      ],
    });
    expect(config.secrets[0].overlapMinutes).toBe(0);
  });

  it('names the JSON path of every problem', () => {
    const problems = problemsOf({
      region: 'nowhere',
      secrets: [{ ...minimal.secrets[0], headerName: 'bad header', senders: [{ type: 'cloudfront', distributionId: 'x' }] }],
    });
    expect(problems.some((p) => p.startsWith('region:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('secrets[0].headerName:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('secrets[0].senders[0].distributionId:'))).toBe(true);
  });

  it('requires the Konnect fields of a konnect-config-store vault', () => {
    const problems = problemsOf({
      ...minimal,
      secrets: [{ ...minimal.secrets[0], senders: [{ type: 'kong-vault', store: 'konnect-config-store' }] }],
    });
    expect(problems).toContain('secrets[0].senders[0].controlPlaneId: is required when store is "konnect-config-store"');
  });

  it('rejects unknown keys so typos do not pass silently', () => {
    expect(problemsOf({ ...minimal, secret: [] }).join('\n')).toMatch(/secret/);
  });

  it('rejects duplicate secret names', () => {
    expect(problemsOf({ ...minimal, secrets: [minimal.secrets[0], minimal.secrets[0]] })).toContain(
      'secrets: secret name "cdn-to-gateway" is used more than once',
    );
  });

  it('reports malformed JSON with the file name', () => {
    expect(() => parseConfigText('{"region":', 'my.json')).toThrow(/my\.json[\s\S]*not valid JSON/);
  });
});

describe('config limits that protect a deployment', () => {
  it('refuses a validator wait the rotation Lambda could not sit out', () => {
    const problems = problemsOf({
      ...minimal,
      secrets: [{ ...minimal.secrets[0], validators: [{ type: 'secretsmanager-readers', cacheTtlSeconds: 3600 }] }],
    });
    expect(problems.join('\n')).toMatch(/secrets\[0\]\.validators\[0\]\.cacheTtlSeconds: must be at most 720/);
  });

  it('refuses an alert topic in another region (CloudWatch alarms cannot notify it)', () => {
    const problems = problemsOf({ ...minimal, alerts: { topicArn: 'arn:aws:sns:us-east-1:123456789012:alerts' } });
    expect(problems.join('\n')).toMatch(/alerts\.topicArn: must be a topic in eu-west-1/);
  });
});
