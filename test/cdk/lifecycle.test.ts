/**
 * The lifecycle after the first deploy: `cdk destroy` retains each origin-verify secret and its KMS key (they
 * keep the fixed name), so a redeploy adopts them by ARN (`secrets[].adoptRetained`) instead of creating a
 * secret whose name collides; the alert-state table expires what no longer exists (`ttl`).
 */
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { exampleConfig, exampleJson, grants, policyStatements, synth } from './support.ts';
import { parseConfig } from '../../lambdas/config.ts';

const ACCOUNT = '111122223333';
const RETAINED_ARN = `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:origin-guard/cdn-to-gateway-AbC123`;
const RETAINED_KEY = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;

const adopting = () =>
  exampleConfig((json) => {
    json.secrets[0].adoptRetained = { secretArn: RETAINED_ARN, kmsKeyArn: RETAINED_KEY };
  });

describe('cdk destroy, then cdk deploy', () => {
  it('the first deploy creates each secret under its fixed name, retained (with its key) on destroy', () => {
    const { template } = synth();
    const secrets = Object.values(template.findResources('AWS::SecretsManager::Secret'));
    expect(secrets.map((s) => s.Properties.Name).sort()).toEqual(['origin-guard/cdn-to-gateway', 'origin-guard/gateway-to-upstream']);
    for (const s of secrets) {
      expect(s.DeletionPolicy).toBe('Retain');
      expect(s.UpdateReplacePolicy).toBe('Retain');
    }
    for (const k of Object.values(template.findResources('AWS::KMS::Key'))) expect(k.DeletionPolicy).toBe('Retain');
  });

  it('a redeploy with adoptRetained creates no secret of that name: it rotates the retained one, by its ARN, with its key', () => {
    const { template, app } = synth(adopting());
    const names = Object.values(template.findResources('AWS::SecretsManager::Secret')).map((s) => s.Properties.Name);
    expect(names).toEqual(['origin-guard/gateway-to-upstream']);
    // One key fewer: the retained key encrypts the adopted secret.
    const keysBefore = Object.keys(synth().template.findResources('AWS::KMS::Key'));
    expect(Object.keys(template.findResources('AWS::KMS::Key'))).toHaveLength(keysBefore.length - 1);
    const schedules = Object.values(template.findResources('AWS::SecretsManager::RotationSchedule'));
    expect(schedules.map((s) => s.Properties.SecretId)).toContain(RETAINED_ARN);

    const rotation = grants(policyStatements(template, 'RotationRotationFunctionRole'));
    const retire = grants(policyStatements(template, 'RotationRetireFunctionRole'));
    for (const action of ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage', 'secretsmanager:TagResource']) {
      expect(rotation.filter((g) => g.action === action).map((g) => g.resource), action).toContain(RETAINED_ARN);
    }
    expect(retire.filter((g) => g.action === 'secretsmanager:GetSecretValue').map((g) => g.resource)).toContain(RETAINED_ARN);
    // The retained key, and only it among keys not in the template, for the functions that read the value.
    const audit = grants(policyStatements(template, 'AuditorAuditFunctionRole'));
    for (const [role, list] of [['rotation', rotation], ['retire', retire], ['audit', audit]] as const) {
      const keyGrants = list.filter((g) => g.action === 'kms:Decrypt' && !g.resource.startsWith('{'));
      expect(keyGrants.map((g) => g.resource), role).toEqual([RETAINED_KEY]);
      expect(keyGrants[0].condition, role).toEqual({ StringEquals: { 'kms:ViaService': expect.stringMatching(/^secretsmanager\./) } });
    }
    expect(audit.filter((g) => g.action === 'secretsmanager:GetSecretValue').map((g) => g.resource)).toContain(RETAINED_ARN);
    // No grant on the secret's name with a wildcard: exactly the retained ARN.
    expect([...rotation, ...retire].filter((g) => g.resource.includes('cdn-to-gateway') && g.resource !== RETAINED_ARN)).toEqual([]);
    expect(new AwsSolutionsChecks().validateScope(app).violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`))).toEqual([]);
  });

  it('an adoptRetained that is not the retained secret of that name is refused, naming the field', () => {
    const bad = (change: (adopt: Record<string, string>) => void) => () => {
      const json = exampleJson();
      const adopt = { secretArn: RETAINED_ARN, kmsKeyArn: RETAINED_KEY };
      change(adopt);
      json.secrets[0].adoptRetained = adopt;
      parseConfig(json, 'test configuration');
    };
    expect(bad((a) => (a.secretArn = `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:someone-else-AbC123`))).toThrow(/secrets\[0\]\.adoptRetained\.secretArn.*names another secret than secretName "origin-guard\/cdn-to-gateway"/s);
    expect(bad((a) => (a.secretArn = 'origin-guard/cdn-to-gateway'))).toThrow(/secrets\[0\]\.adoptRetained\.secretArn.*full ARN/s);
    expect(bad((a) => (a.kmsKeyArn = 'alias/origin-guard'))).toThrow(/secrets\[0\]\.adoptRetained\.kmsKeyArn/);
  });

  it('the alert-state table expires items by their ttl attribute (leases, and what no longer exists)', () => {
    const { template } = synth();
    const tables = Object.values(template.findResources('AWS::DynamoDB::Table'));
    expect(tables).toHaveLength(1);
    expect(tables[0].Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'ttl', Enabled: true });
  });
});
