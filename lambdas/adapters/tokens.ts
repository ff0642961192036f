import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { TargetError } from '../core/errors.ts';

/** Reads API tokens (Kong admin, Konnect) from Secrets Manager by name, cached for a few minutes. */
export class TokenReader {
  private readonly provider: SecretsProvider;
  constructor(client: SecretsManagerClient, private readonly maxAgeSeconds = 300) {
    this.provider = new SecretsProvider({ awsSdkV3Client: client });
  }
  /** A function that returns the token stored in `secretName`; errors name the secret, never the token. */
  token(secretName: string): () => Promise<string> {
    return async () => {
      let value: unknown;
      try {
        value = await this.provider.get(secretName, { maxAge: this.maxAgeSeconds });
      } catch (error) {
        throw new TargetError(`secretsmanager:${secretName}`, `cannot read the API token: ${(error as Error).message}`, { cause: error });
      }
      if (typeof value !== 'string' || value.length === 0) {
        throw new TargetError(`secretsmanager:${secretName}`, 'the API token secret is empty or not a string');
      }
      return value.trim();
    };
  }
}
