/**
 * `origin-guard report --html` against the emulator: the page is written to a file and, with --upload, to
 * report.bucket, where it reads back byte for byte as HTML; a missing bucket is a clear error.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CliContext } from '../../cli/context.ts';
import { main } from '../../cli/main.ts';
import { emulatorClientConfig, motoEndpoint, uniqueName } from '../support/aws.ts';

const settings = emulatorClientConfig();
const s3 = new S3Client({ ...settings, forcePathStyle: true });
const secrets = new SecretsManagerClient(settings);
const dir = mkdtempSync(join(tmpdir(), 'og-report-'));
const bucket = uniqueName('og-posture');
const secretName = uniqueName('origin-guard/report');
const SECRET_VALUE = `value-${uniqueName('never-shown')}`;

function capture(): CliContext & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (t) => void out.push(t), stderr: (t) => void err.push(t), env: {}, interactive: false };
}

function writeConfig(report: Record<string, string>): string {
  const path = join(dir, `${uniqueName('config')}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      region: 'eu-west-1',
      secrets: [
        {
          name: 'cdn',
          secretName,
          headerName: 'X-Origin-Verify',
          senders: [{ type: 'kong-vault', store: 'secretsmanager' }],
          validators: [{ type: 'secretsmanager-readers' }],
        },
      ],
      report,
    }),
  );
  return path;
}

beforeAll(async () => {
  vi.stubEnv('AWS_ENDPOINT_URL', motoEndpoint());
  await s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
  await secrets.send(new CreateSecretCommand({ Name: secretName, SecretString: SECRET_VALUE }));
});
afterAll(() => {
  vi.unstubAllEnvs();
  rmSync(dir, { recursive: true, force: true });
  s3.destroy();
  secrets.destroy();
});

describe('origin-guard report --html', () => {
  it('writes the page to a file and to report.bucket, without the secret value', async () => {
    const config = writeConfig({ bucket, key: 'pages/posture.html' });
    const out = join(dir, 'page.html');
    const ctx = capture();

    const code = await main(['report', '--html', '--out', out, '--upload', '--config', config], ctx);

    expect(ctx.err.join('\n')).toContain(`posture page uploaded to s3://${bucket}/pages/posture.html`);
    expect(code).toBe(0);
    const page = readFileSync(out, 'utf8');
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain('data-secret="cdn"');
    expect(page).not.toContain(SECRET_VALUE);
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'pages/posture.html' }));
    expect(object.ContentType).toBe('text/html; charset=utf-8');
    expect(await object.Body!.transformToString()).toBe(page);
  });

  it('names the bucket and the fix when report.bucket does not exist', async () => {
    const config = writeConfig({ bucket: uniqueName('og-missing') });
    const ctx = capture();

    const code = await main(['report', '--html', '--out', join(dir, 'x.html'), '--upload', '--config', config], ctx);

    expect(code).toBe(1);
    expect(ctx.err.join('\n')).toMatch(/s3:\/\/og-missing-[0-9a-f]+\/origin-guard\/posture\.html: writing the posture page failed \(NoSuchBucket.*Deploy the stack/);
  });

  it('asks for a format', async () => {
    const ctx = capture();
    expect(await main(['report', '--config', writeConfig({ bucket })], ctx)).toBe(2);
    expect(ctx.err.join('\n')).toContain('choose a format: --html');
  });
});
