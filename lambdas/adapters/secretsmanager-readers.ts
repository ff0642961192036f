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
  /** Problems when a reader is known to be stale (reader-health-cloudwatch.ts); none when absent. */
  staleCheck?: () => Promise<string[]>;
}

export class SecretsManagerReadersValidator implements ValidatorPort {
  readonly id = 'secretsmanager-readers';
  readonly followsSecret = true;
  readonly propagationSeconds: number;
  private readonly store: SecretStorePort;
  private readonly staleCheck?: () => Promise<string[]>;

  constructor(options: SecretsManagerReadersValidatorOptions) {
    this.store = options.store;
    this.propagationSeconds = options.cacheTtlSeconds;
    this.staleCheck = options.staleCheck;
  }

  /** A reader known to be stale refuses the rotation before anything changes. */
  async preflight(): Promise<string[]> {
    return (await this.staleCheck?.()) ?? [];
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
