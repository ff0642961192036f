/**
 * The rotated secret in AWS Secrets Manager: its versions, staging labels and the tags that hold the
 * rotation state. Values pass through here and nowhere else; errors name versions, stages and fingerprints.
 */
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretVersionStageCommand,
  type SecretsManagerClient,
  type SecretVersionsListEntry,
} from '@aws-sdk/client-secrets-manager';
import { TargetError } from '../core/errors.ts';
import { fingerprint, sameValue } from '../core/fingerprint.ts';
import { STAGE, type SecretDescription, type SecretStorePort, type SecretVersionInfo } from '../core/ports.ts';

/** ListSecretVersionIds pages; a secret keeps at most about 100 versions, so this is never reached in practice. */
const MAX_VERSION_PAGES = 20;

export class SecretsManagerStore implements SecretStorePort {
  private readonly target: string;

  constructor(
    private readonly client: SecretsManagerClient,
    readonly secretId: string,
  ) {
    this.target = `secretsmanager:${secretId}`;
  }

  async describe(options: { versionDates?: boolean } = {}): Promise<SecretDescription> {
    const secret = await this.call('describing the secret (DescribeSecret)', 'DescribeSecret', () =>
      this.client.send(new DescribeSecretCommand({ SecretId: this.secretId })),
    );
    // Only status and the audit need version ages: the rotation's many snapshots skip the extra call.
    const listed = options.versionDates ? await this.listVersions() : [];
    const createdAt = new Map(listed.map((entry) => [entry.VersionId, entry.CreatedDate]));

    // Staged versions come from DescribeSecret; ListSecretVersionIds adds creation dates.
    const versions: SecretVersionInfo[] = Object.entries(secret.VersionIdsToStages ?? {}).map(([versionId, stages]) => ({
      versionId,
      stages: [...stages],
      createdAt: createdAt.get(versionId),
    }));
    const tags = Object.fromEntries((secret.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
    return {
      arn: secret.ARN ?? '',
      name: secret.Name ?? this.secretId,
      versions,
      tags,
      rotationEnabled: secret.RotationEnabled ?? false,
      rotationDays: secret.RotationRules?.AutomaticallyAfterDays,
      lastRotatedAt: secret.LastRotatedDate,
      nextRotationAt: secret.NextRotationDate,
    };
  }

  private async listVersions(): Promise<SecretVersionsListEntry[]> {
    const entries: SecretVersionsListEntry[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_VERSION_PAGES; page += 1) {
      const response = await this.call('listing the secret versions (ListSecretVersionIds)', 'ListSecretVersionIds', () =>
        this.client.send(new ListSecretVersionIdsCommand({ SecretId: this.secretId, IncludeDeprecated: false, NextToken: nextToken })),
      );
      entries.push(...(response.Versions ?? []));
      nextToken = response.NextToken || undefined;
      if (!nextToken) break;
    }
    return entries;
  }

  async value(ref: { versionId: string } | { stage: string }): Promise<string | undefined> {
    const which = 'versionId' in ref ? `version ${ref.versionId}` : `stage ${ref.stage}`;
    let response;
    try {
      response = await this.client.send(
        new GetSecretValueCommand(
          'versionId' in ref ? { SecretId: this.secretId, VersionId: ref.versionId } : { SecretId: this.secretId, VersionStage: ref.stage },
        ),
      );
    } catch (error) {
      if (errorName(error) === 'ResourceNotFoundException') return undefined;
      throw secretsError(this.target, `reading ${which} (GetSecretValue)`, 'GetSecretValue', error);
    }
    if (response.SecretString === undefined) {
      throw new TargetError(this.target, `${which} holds binary data, not a string; origin-verify secrets must be SecretString.`);
    }
    return response.SecretString;
  }

  async putPending(token: string, value: string): Promise<void> {
    // AWS refuses a known token with other data, but moto overwrites silently: compare first, on both.
    const existing = await this.value({ versionId: token });
    if (existing !== undefined) {
      if (sameValue(existing, value)) return;
      throw this.tokenTaken(token, existing, value);
    }
    try {
      await this.client.send(
        new PutSecretValueCommand({
          SecretId: this.secretId,
          ClientRequestToken: token,
          SecretString: value,
          VersionStages: [STAGE.PENDING],
        }),
      );
    } catch (error) {
      if (errorName(error) === 'ResourceExistsException') {
        // Another run of the same step created it between our read and write.
        const raced = await this.value({ versionId: token });
        if (raced !== undefined && sameValue(raced, value)) return;
        if (raced !== undefined) throw this.tokenTaken(token, raced, value);
      }
      throw secretsError(this.target, `creating pending version ${token} (PutSecretValue)`, 'PutSecretValue', error, [value]);
    }
  }

  private tokenTaken(token: string, existing: string, wanted: string): TargetError {
    return new TargetError(
      this.target,
      `version ${token} already exists with another value (fingerprint ${fingerprint(existing)}, wanted ${fingerprint(wanted)}); ` +
        'a version cannot change. Start a new rotation with a new token.',
    );
  }

  async moveStage(stage: string, to: string | undefined, from: string | undefined): Promise<void> {
    if (to === undefined && from === undefined) return;
    if (to !== undefined && to === from) return;
    try {
      await this.client.send(
        new UpdateSecretVersionStageCommand({
          SecretId: this.secretId,
          // Always explicit, AWSCURRENT included: moto mis-handles a move without it.
          VersionStage: stage,
          MoveToVersionId: to,
          RemoveFromVersionId: from,
        }),
      );
    } catch (error) {
      // A retried step finds the move already done: `from` no longer holds the stage. That is success.
      if (errorName(error) === 'InvalidParameterException' && (await this.stageAlreadyMoved(stage, to, from))) return;
      const move = `${stage} ${from ? `from version ${from} ` : ''}${to ? `to version ${to}` : 'off'}`;
      throw secretsError(this.target, `moving ${move} (UpdateSecretVersionStage)`, 'UpdateSecretVersionStage', error);
    }
  }

  private async stageAlreadyMoved(stage: string, to: string | undefined, from: string | undefined): Promise<boolean> {
    let versions: SecretVersionInfo[];
    try {
      ({ versions } = await this.describe());
    } catch {
      return false;
    }
    const holders = versions.filter((version) => version.stages.includes(stage)).map((version) => version.versionId);
    const fromCleared = from === undefined || !holders.includes(from);
    return fromCleared && (to === undefined || holders.includes(to));
  }

  async setTags(tags: Record<string, string>): Promise<void> {
    const entries = Object.entries(tags);
    if (entries.length === 0) return;
    await this.call('tagging the secret (TagResource)', 'TagResource', () =>
      this.client.send(new TagResourceCommand({ SecretId: this.secretId, Tags: entries.map(([Key, Value]) => ({ Key, Value })) })),
    );
  }

  async removeTags(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.call('untagging the secret (UntagResource)', 'UntagResource', () =>
      this.client.send(new UntagResourceCommand({ SecretId: this.secretId, TagKeys: keys })),
    );
  }

  /** Returns the new version's id: the token the rotation Lambda is invoked with. */
  async startRotation(): Promise<string | undefined> {
    const res = await this.call('starting a rotation (RotateSecret)', 'RotateSecret', () =>
      this.client.send(new RotateSecretCommand({ SecretId: this.secretId })),
    );
    return res.VersionId;
  }

  private async call<T>(doing: string, action: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw secretsError(this.target, doing, action, error);
    }
  }
}

function errorName(error: unknown): string {
  return (error as { name?: string })?.name ?? 'Error';
}

function redactValues(text: string, values: string[]): string {
  let out = text;
  for (const value of values) if (value !== '') out = out.split(value).join(`<value ${fingerprint(value)}>`);
  return out;
}

const THROTTLING = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded']);

/** Translates an SDK error into the core's vocabulary, saying what to do about it. */
function secretsError(target: string, doing: string, action: string, error: unknown, values: string[] = []): TargetError {
  const name = errorName(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  const said = redactValues(error instanceof Error ? `${name}: ${error.message}` : String(error), values);
  const fail = (hint: string, retryable = false) => new TargetError(target, `${doing} failed: ${hint} (${said})`, { cause: error, retryable });
  switch (name) {
    case 'ResourceNotFoundException':
      return fail('the secret or version does not exist. Check secretName and the region.');
    case 'AccessDeniedException':
      return fail(`access denied. Grant secretsmanager:${action} on the secret.`);
    case 'DecryptionFailure':
    case 'EncryptionFailure':
      return fail('KMS refused. Grant kms:Decrypt / kms:GenerateDataKey on the secret\'s key to this role.');
    case 'InvalidRequestException':
      return fail('the secret is not in a state that allows this (deleted, or a rotation already running).');
    case 'InvalidParameterException':
      return fail('a parameter was refused; check the version ids and stages.');
    case 'LimitExceededException':
      return fail('a Secrets Manager limit was reached (too many versions); retry after old versions expire.', true);
    case 'InternalServiceError':
      return fail('Secrets Manager had an internal error; retry later.', true);
  }
  if (THROTTLING.has(name) || (status !== undefined && status >= 500)) return fail('throttled or unavailable; retry later.', true);
  return fail('unexpected error.');
}
