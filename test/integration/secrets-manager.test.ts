import { randomBytes, randomUUID } from 'node:crypto';
import { CreateSecretCommand, DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerStore } from '../../lambdas/adapters/secrets-manager.ts';
import { TargetError } from '../../lambdas/core/errors.ts';
import { fingerprint } from '../../lambdas/core/fingerprint.ts';
import { STAGE, TAG } from '../../lambdas/core/ports.ts';
import { emulatorClientConfig, uniqueName } from '../support/aws.ts';
import { injectFault, recordCalls, serviceError } from '../support/faults.ts';

const secretValue = () => randomBytes(24).toString('base64url');

/** The error `promise` rejects with; fails the test when it fulfils. */
async function rejectionOf(promise: Promise<unknown>): Promise<TargetError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(TargetError);
  return outcome as TargetError;
}

async function seedSecret(client: SecretsManagerClient, value: string) {
  const name = uniqueName('origin-guard/cdn-to-gateway');
  const created = await client.send(
    new CreateSecretCommand({ Name: name, SecretString: value, Tags: [{ Key: 'team', Value: 'platform' }] }),
  );
  return { name, currentVersionId: created.VersionId! };
}

describe('SecretsManagerStore against moto', () => {
  let client: SecretsManagerClient;
  beforeAll(() => {
    client = new SecretsManagerClient(emulatorClientConfig());
  });

  it('describes versions with their stages and creation dates, tags and rotation settings', async () => {
    // Arrange
    const current = secretValue();
    const { name, currentVersionId } = await seedSecret(client, current);
    const store = new SecretsManagerStore(client, name);
    const token = randomUUID();
    await store.putPending(token, secretValue());

    // Act
    const description = await store.describe();

    // Assert
    expect(description).toMatchObject({ name, tags: { team: 'platform' }, rotationEnabled: false });
    expect(description.arn).toMatch(/^arn:aws:secretsmanager:eu-west-1:\d{12}:secret:/);
    expect(description.versions.map((v) => [v.versionId, v.stages]).sort()).toEqual(
      [
        [currentVersionId, [STAGE.CURRENT]],
        [token, [STAGE.PENDING]],
      ].sort(),
    );
    for (const version of description.versions) expect(version.createdAt).toBeUndefined();
    expect(JSON.stringify(description)).not.toContain(current);
    // Creation dates (status, the audit) cost one more call and come only when asked for.
    const dated = await store.describe({ versionDates: true });
    for (const version of dated.versions) expect(version.createdAt).toBeInstanceOf(Date);
  });

  it('reads a value by stage or version id, and undefined when there is no such version', async () => {
    // Arrange
    const current = secretValue();
    const { name, currentVersionId } = await seedSecret(client, current);
    const store = new SecretsManagerStore(client, name);

    // Act
    const byStage = await store.value({ stage: STAGE.CURRENT });
    const byVersion = await store.value({ versionId: currentVersionId });
    const noPrevious = await store.value({ stage: STAGE.PREVIOUS });
    const noVersion = await store.value({ versionId: randomUUID() });

    // Assert
    expect(fingerprint(byStage!)).toBe(fingerprint(current));
    expect(fingerprint(byVersion!)).toBe(fingerprint(current));
    expect(noPrevious).toBeUndefined();
    expect(noVersion).toBeUndefined();
  });

  it('creates the pending version once, and a repeat with the same token and value writes nothing', async () => {
    // Arrange
    const { name } = await seedSecret(client, secretValue());
    const ours = new SecretsManagerClient(emulatorClientConfig());
    const store = new SecretsManagerStore(ours, name);
    const token = randomUUID();
    const pending = secretValue();
    const recorder = recordCalls(ours);

    // Act
    await store.putPending(token, pending);
    await store.putPending(token, pending);

    // Assert
    const puts = recorder.calls.filter((c) => c.command === 'PutSecretValueCommand');
    expect(puts).toHaveLength(1);
    expect(puts[0].input).toMatchObject({ SecretId: name, ClientRequestToken: token, VersionStages: [STAGE.PENDING] });
    expect(fingerprint((await store.value({ stage: STAGE.PENDING }))!)).toBe(fingerprint(pending));
  });

  it('refuses another value under a token that already exists, naming fingerprints only', async () => {
    // Arrange: AWS refuses this itself; moto would overwrite the version.
    const { name } = await seedSecret(client, secretValue());
    const store = new SecretsManagerStore(client, name);
    const token = randomUUID();
    const [first, second] = [secretValue(), secretValue()];
    await store.putPending(token, first);

    // Act
    const error = await rejectionOf(store.putPending(token, second));

    // Assert
    expect(error.message).toContain(`version ${token} already exists with another value (fingerprint ${fingerprint(first)}, wanted ${fingerprint(second)})`);
    expect(error.message).not.toContain(first);
    expect(error.message).not.toContain(second);
    expect(fingerprint((await store.value({ versionId: token }))!)).toBe(fingerprint(first));
  });

  it('promotes the pending version to AWSCURRENT, and a repeated move is already done', async () => {
    // Arrange
    const { name, currentVersionId } = await seedSecret(client, secretValue());
    const store = new SecretsManagerStore(client, name);
    const token = randomUUID();
    await store.putPending(token, secretValue());

    // Act
    await store.moveStage(STAGE.CURRENT, token, currentVersionId);
    await store.moveStage(STAGE.CURRENT, token, currentVersionId);
    await store.moveStage(STAGE.PENDING, undefined, token);
    await store.moveStage(STAGE.PENDING, undefined, token);

    // Assert: moto moves AWSPREVIOUS itself, as AWS does.
    const stages = Object.fromEntries((await store.describe()).versions.map((v) => [v.versionId, v.stages]));
    expect(stages).toEqual({ [token]: [STAGE.CURRENT], [currentVersionId]: [STAGE.PREVIOUS] });
  });

  it('takes AWSPREVIOUS off a version to close the overlap', async () => {
    // Arrange
    const { name, currentVersionId } = await seedSecret(client, secretValue());
    const store = new SecretsManagerStore(client, name);
    const token = randomUUID();
    await store.putPending(token, secretValue());
    await store.moveStage(STAGE.CURRENT, token, currentVersionId);

    // Act
    await store.moveStage(STAGE.PREVIOUS, undefined, currentVersionId);

    // Assert
    const previous = (await store.describe()).versions.filter((v) => v.stages.includes(STAGE.PREVIOUS));
    expect(previous).toEqual([]);
  });

  it('sets and removes the rotation-state tags, keeping other tags', async () => {
    // Arrange
    const { name } = await seedSecret(client, secretValue());
    const ours = new SecretsManagerClient(emulatorClientConfig());
    const store = new SecretsManagerStore(ours, name);
    const opened = new Date('2030-01-02T03:04:05.000Z').toISOString();

    // Act
    await store.setTags({ [TAG.OVERLAP_OPENED_AT]: opened, [TAG.EMERGENCY]: 'true' });
    const whileOpen = (await store.describe()).tags;
    await store.removeTags([TAG.OVERLAP_OPENED_AT, TAG.EMERGENCY]);
    const recorder = recordCalls(ours);
    await store.setTags({});
    await store.removeTags([]);

    // Assert
    expect(whileOpen).toEqual({ team: 'platform', [TAG.OVERLAP_OPENED_AT]: opened, [TAG.EMERGENCY]: 'true' });
    expect((await store.describe()).tags).toEqual({ team: 'platform' });
    expect(recorder.calls.filter((c) => c.command !== 'DescribeSecretCommand' && c.command !== 'ListSecretVersionIdsCommand')).toEqual([]);
  });

  it('asks Secrets Manager to rotate the secret', async () => {
    // Arrange
    const { name } = await seedSecret(client, secretValue());
    const ours = new SecretsManagerClient(emulatorClientConfig());
    const recorder = recordCalls(ours);

    // Act
    await new SecretsManagerStore(ours, name).startRotation();

    // Assert
    expect(recorder.calls).toEqual([{ command: 'RotateSecretCommand', input: { SecretId: name } }]);
    expect((await client.send(new DescribeSecretCommand({ SecretId: name }))).LastRotatedDate).toBeInstanceOf(Date);
  });

  it('names the secret and what to check when it does not exist', async () => {
    const name = uniqueName('origin-guard/missing');

    const outcome = new SecretsManagerStore(client, name).describe();

    await expect(outcome).rejects.toBeInstanceOf(TargetError);
    await expect(outcome).rejects.toThrow(`secretsmanager:${name}: describing the secret (DescribeSecret) failed: the secret or version does not exist.`);
  });

  it('says which permission is missing and never repeats the value it tried to write', async () => {
    // Arrange: an error whose text quotes the value, as a careless service might.
    const { name } = await seedSecret(client, secretValue());
    const ours = new SecretsManagerClient(emulatorClientConfig());
    const pending = secretValue();
    injectFault(ours, {
      command: 'PutSecretValueCommand',
      error: () => serviceError('AccessDeniedException', `not authorized to store ${pending}`, 400),
    });

    // Act
    const error = await rejectionOf(new SecretsManagerStore(ours, name).putPending(randomUUID(), pending));

    // Assert
    expect(error.message).toContain('Grant secretsmanager:PutSecretValue on the secret');
    expect(error.message).toContain(`<value ${fingerprint(pending)}>`);
    expect(error.message).not.toContain(pending);
    expect(error.retryable).toBe(false);
  });

  it('marks throttling as retryable', async () => {
    // Arrange
    const { name } = await seedSecret(client, secretValue());
    const ours = new SecretsManagerClient(emulatorClientConfig());
    injectFault(ours, { command: 'DescribeSecretCommand', error: () => serviceError('ThrottlingException', 'Rate exceeded') });

    // Act
    const error = await rejectionOf(new SecretsManagerStore(ours, name).describe());

    // Assert
    expect(error.retryable).toBe(true);
  });
});
