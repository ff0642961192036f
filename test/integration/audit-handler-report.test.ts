/**
 * The audit Lambda handler, called in-process with real event shapes against the emulator: after a full
 * (scheduled) audit it redraws the posture page in report.bucket and flushes its metrics as one EMF line;
 * an audit scoped to one CloudTrail call leaves the page alone.
 */
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand, ListObjectVersionsCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { emulatorClientConfig, motoEndpoint, uniqueName } from '../support/aws.ts';

const settings = emulatorClientConfig();
const s3 = new S3Client({ ...settings, forcePathStyle: true });
const secrets = new SecretsManagerClient(settings);
const bucket = uniqueName('og-posture-lambda');
const secretName = uniqueName('origin-guard/lambda-report');
const SECRET_VALUE = `value-${randomBytes(16).toString('hex')}`;
const config = {
  region: 'eu-west-1',
  secrets: [
    { name: 'cdn', secretName, headerName: 'X-Origin-Verify', senders: [{ type: 'kong-vault', store: 'secretsmanager' }], validators: [{ type: 'secretsmanager-readers' }] },
  ],
  report: { bucket },
};
const scheduled = { version: '0', id: 'x', 'detail-type': 'Scheduled Event', source: 'aws.events', account: '123456789012', time: new Date().toISOString(), region: 'eu-west-1', resources: [], detail: {} };
const cloudTrail = {
  version: '0',
  id: 'y',
  'detail-type': 'AWS API Call via CloudTrail',
  source: 'aws.ec2',
  detail: { eventSource: 'ec2.amazonaws.com', eventName: 'AuthorizeSecurityGroupIngress', requestParameters: { groupId: 'sg-0123abcd' } },
};

let emf: string[];
beforeAll(async () => {
  vi.stubEnv('AWS_ENDPOINT_URL', motoEndpoint());
  vi.stubEnv('ORIGIN_GUARD_CONFIG_JSON', JSON.stringify(config));
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  await s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
  await secrets.send(new CreateSecretCommand({ Name: secretName, SecretString: SECRET_VALUE }));
});
afterAll(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
  s3.destroy();
  secrets.destroy();
});

describe('audit Lambda: posture page and metrics', () => {
  it('writes the page after a scheduled audit, not after a scoped one, and flushes its metrics', async () => {
    emf = [];
    const write = process.stdout.write.bind(process.stdout);
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk, ...rest) => {
      const text = String(chunk);
      if (text.includes('"_aws"')) return void emf.push(text), true;
      return write(chunk as string, ...(rest as []));
    });
    const { handler } = await import('../../lambdas/handlers/audit.ts');

    const full = await handler(scheduled);
    const scoped = await handler(cloudTrail);

    expect(full.report).toBe(`s3://${bucket}/origin-guard/posture.html`);
    expect(scoped.report).toBeUndefined();
    const { Versions = [] } = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }));
    expect(Versions).toHaveLength(1); // only the scheduled run wrote
    const page = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'origin-guard/posture.html' }))).Body!.transformToString();
    expect(page).toContain('data-secret="cdn"');
    expect(page).not.toContain(SECRET_VALUE);

    const lines = emf.map((l) => JSON.parse(l.trim()));
    expect(lines).toHaveLength(2); // one flush per invocation
    expect(lines[0]._aws.CloudWatchMetrics[0].Namespace).toBe('OriginGuard');
    expect(lines[0].service).toBe('origin-guard-audit');
    expect(lines[0].FindingsFailed).toBe(full.failed);
    expect(lines[0].AlertsSent).toBe(0);
  });
});
