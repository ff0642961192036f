/**
 * Upstreams that check the header themselves by reading the secret (lambdas/verifier): they accept what
 * the rotation view says is accepted — AWSCURRENT, AWSPENDING during a rotation, the overlap version while
 * the overlap is open. So the stages and tags are the truth: `accept()` writes nothing, `accepted()` reads
 * the same view the verifier reads, and the readers' cache TTL is the propagation delay.
 */
import type { SecretStorePort, ValidatorPort } from '../core/ports.ts';
import { acceptedVersionIds, rotationView } from '../core/rotation-state.ts';

export interface SecretsManagerReadersValidatorOptions {
  store: SecretStorePort;
  /** How long upstreams cache the values (the verifier's `cacheTtlSeconds`). */
  cacheTtlSeconds: number;
}

export class SecretsManagerReadersValidator implements ValidatorPort {
  readonly id = 'secretsmanager-readers';
  readonly followsSecret = true;
  readonly propagationSeconds: number;
  private readonly store: SecretStorePort;

  constructor(options: SecretsManagerReadersValidatorOptions) {
    this.store = options.store;
    this.propagationSeconds = options.cacheTtlSeconds;
  }

  /** Nothing to write: the rotation core's stage and tag changes are what readers pick up. */
  async accept(_values: string[]): Promise<void> {}

  async accepted(): Promise<string[]> {
    const view = rotationView(await this.store.describe());
    const values: string[] = [];
    for (const versionId of acceptedVersionIds(view)) {
      const value = await this.store.value({ versionId });
      if (value !== undefined && value !== '' && !values.includes(value)) values.push(value);
    }
    return values;
  }
}
