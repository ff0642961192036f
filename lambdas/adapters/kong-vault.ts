/**
 * Kong as a sender: a plugin (request-transformer, ...) adds the header to upstream requests with a vault
 * reference, e.g. `x-kong-origin-verify:{vault://aws/origin-verify}`. Kong caches the resolved value for
 * the vault's `ttl` and re-resolves expiring secrets on a 60-second timer, so a new value is on every node
 * at most `ttl + 60` seconds after it was switched.
 *
 * Two stores:
 * - `secretsmanager`: Kong's `aws` vault reads the secret's AWSCURRENT itself. `send()` writes nothing: the
 *   rotation core moving AWSCURRENT onto the new version *is* the switch (and putting it back is the
 *   rollback). Reference the secret without a version pin.
 * - `konnect-config-store`: a Konnect Config Store secret (`{vault://<konnect-vault-prefix>/<key>}`).
 *   `send()` PUTs the value. Konnect never returns stored values, so what was written is remembered as a
 *   fingerprint plus Konnect's `updated_at` in a tag on the rotated secret (see `konnectSentTagKey`); a
 *   write by anyone else changes `updated_at` and makes the value unknown again.
 */
import { createHash } from 'node:crypto';
import { TargetError } from '../core/errors.ts';
import { fingerprint, sameValue } from '../core/fingerprint.ts';
import { STAGE, silentLog, type LogPort, type SecretStorePort, type SenderPort, type SenderPropagation } from '../core/ports.ts';
import type { KonnectClient } from './konnect.ts';
import { vaultTtlProblems, type KongVaultEntity } from './kong-vault-entity.ts';

/** Kong re-resolves vault references whose TTL ran out on a timer that fires every 60 s. */
export const KONG_VAULT_ROTATION_CHECK_SECONDS = 60;

/** Prefix of the secret tags that remember what was written to a Konnect Config Store key. */
export const KONNECT_SENT_TAG_PREFIX = 'origin-guard:konnect-sent:';

/** The tag key for one Config Store key (hashed: tag keys are limited to 128 characters). */
export function konnectSentTagKey(controlPlaneId: string, configStoreId: string, key: string): string {
  const digest = createHash('sha256').update(`${controlPlaneId}/${configStoreId}/${key}`, 'utf8').digest('hex').slice(0, 16);
  return `${KONNECT_SENT_TAG_PREFIX}${digest}`;
}

export interface KongVaultSenderOptions {
  store: 'secretsmanager' | 'konnect-config-store';
  /** The vault's `ttl` in Kong. */
  ttlSeconds: number;
  /**
   * The rotated secret. Required for `secretsmanager` (Kong reads its AWSCURRENT); for
   * `konnect-config-store` it holds the tag remembering what was written (without it, only this process knows).
   */
  secretStore?: SecretStorePort;
  /** Required for `konnect-config-store`: a client on the regional API of the control plane. */
  konnect?: KonnectClient;
  controlPlaneId?: string;
  configStoreId?: string;
  key?: string;
  /** Added to `ttlSeconds` for Kong's vault rotation timer; default 60. */
  rotationCheckSeconds?: number;
  /** Reads Kong's vault entity, to check its `ttl` against `ttlSeconds` before a rotation (kong-vault-entity.ts). */
  readVault?: () => Promise<KongVaultEntity>;
  log?: LogPort;
}

interface WrittenValue {
  value: string;
  updatedAt?: string;
}

export class KongVaultSender implements SenderPort {
  readonly id: string;
  private readonly propagationMs: number;
  private readonly log: LogPort;
  /** What this instance wrote last (the tag covers other processes). */
  private lastWritten?: WrittenValue;

  constructor(private readonly options: KongVaultSenderOptions) {
    this.id = `kong-vault:${options.store}`;
    this.propagationMs = (options.ttlSeconds + (options.rotationCheckSeconds ?? KONG_VAULT_ROTATION_CHECK_SECONDS)) * 1000;
    this.log = options.log ?? silentLog;
    const missing =
      options.store === 'secretsmanager'
        ? (['secretStore'] as const).filter((f) => options[f] === undefined)
        : (['konnect', 'controlPlaneId', 'configStoreId', 'key'] as const).filter((f) => options[f] === undefined);
    if (missing.length > 0) throw new Error(`KongVaultSender (${options.store}) needs ${missing.join(', ')}`);
  }

  async send(value: string): Promise<void> {
    if (this.options.store === 'secretsmanager') return; // AWSCURRENT is the switch; see the file comment.
    const known = await this.konnectValue();
    if (known.value !== undefined && sameValue(known.value, value)) return;
    const { konnect, controlPlaneId, configStoreId, key } = this.konnectTarget();
    const written = await konnect.putConfigStoreSecret(controlPlaneId, configStoreId, key, value);
    this.lastWritten = { value, updatedAt: written.updatedAt };
    await this.rememberWrite(value, written.updatedAt);
  }

  async sending(): Promise<string[] | undefined> {
    if (this.options.store === 'secretsmanager') {
      const current = await this.options.secretStore!.value({ stage: STAGE.CURRENT });
      return current === undefined ? [] : [current];
    }
    // Konnect never returns a Config Store value: unknown unless our own last write is still the latest.
    const known = await this.konnectValue();
    return known.value === undefined ? undefined : [known.value];
  }

  async propagated(value: string, since: Date | undefined, now: Date): Promise<SenderPropagation> {
    if (this.options.store === 'secretsmanager') {
      const current = await this.options.secretStore!.value({ stage: STAGE.CURRENT });
      if (current === undefined || !sameValue(current, value)) {
        return { done: false, detail: `vault: AWSCURRENT does not hold ${fingerprint(value)} yet` };
      }
    } else {
      const known = await this.konnectValue();
      if (known.value === undefined) {
        return { done: false, unknown: true, detail: `vault: cannot confirm the Konnect Config Store value (${known.why}); retire rewrites it` };
      }
      if (!sameValue(known.value, value)) {
        return { done: false, detail: `vault: the Konnect Config Store holds ${fingerprint(known.value)}, not ${fingerprint(value)}` };
      }
    }
    if (!since) return { done: false, detail: 'vault TTL: switch time unknown' };
    const leftMs = since.getTime() + this.propagationMs - now.getTime();
    if (leftMs <= 0) return { done: true, detail: 'vault TTL elapsed' };
    return { done: false, detail: `vault TTL: ${Math.ceil(leftMs / 1000)} s left` };
  }

  /** Kong's vault `ttl` observed, when the vault entity can be read: refuses a rotation it would outlast. */
  async preflight(): Promise<string[]> {
    if (!this.options.readVault) return [];
    return vaultTtlProblems(await this.options.readVault(), this.options.ttlSeconds, this.id);
  }

  // ---------- Konnect Config Store ----------

  private konnectTarget() {
    const { konnect, controlPlaneId, configStoreId, key } = this.options;
    return { konnect: konnect!, controlPlaneId: controlPlaneId!, configStoreId: configStoreId!, key: key! };
  }

  /** The value the Config Store holds, when it can be known (Konnect never returns it). */
  private async konnectValue(): Promise<{ value?: string; why: string }> {
    const { konnect, controlPlaneId, configStoreId, key } = this.konnectTarget();
    const info = await konnect.getConfigStoreSecret(controlPlaneId, configStoreId, key);
    if (!info) return { why: `key "${key}" does not exist in Config Store ${configStoreId}` };
    if (info.value !== undefined) return { value: info.value, why: 'read from Konnect' };
    const unchangedSince = (updatedAt: string | undefined) => updatedAt === undefined || info.updatedAt === undefined || updatedAt === info.updatedAt;
    if (this.lastWritten && unchangedSince(this.lastWritten.updatedAt)) return { value: this.lastWritten.value, why: 'written by this process' };
    const store = this.options.secretStore;
    if (!store) return { why: 'no record of what was written' };
    const secret = await store.describe();
    const tag = secret.tags[konnectSentTagKey(controlPlaneId, configStoreId, key)];
    if (!tag) return { why: 'no record of what was written' };
    const [sentFingerprint, sentUpdatedAt] = tag.split(' ');
    if (!unchangedSince(sentUpdatedAt === '-' ? undefined : sentUpdatedAt)) {
      return { why: `written outside origin-guard at ${info.updatedAt}` };
    }
    // Match the fingerprint against the secret's staged versions (current, pending, previous).
    for (const version of secret.versions.filter((v) => v.stages.length > 0)) {
      const candidate = await store.value({ versionId: version.versionId });
      if (candidate !== undefined && fingerprint(candidate) === sentFingerprint) return { value: candidate, why: 'recorded in the secret tag' };
    }
    return { why: `the recorded value ${sentFingerprint} is no longer a version of the secret` };
  }

  private async rememberWrite(value: string, updatedAt: string | undefined): Promise<void> {
    const store = this.options.secretStore;
    if (!store) return;
    const { controlPlaneId, configStoreId, key } = this.konnectTarget();
    try {
      await store.setTags({ [konnectSentTagKey(controlPlaneId, configStoreId, key)]: `${fingerprint(value)} ${updatedAt ?? '-'}` });
    } catch (error) {
      // The value is written and in use; only the record is missing, so the next send rewrites it.
      this.log.warn('could not record the Konnect Config Store write on the secret', {
        sender: this.id,
        fingerprint: fingerprint(value),
        error: error instanceof TargetError ? error.message : (error as Error)?.name,
      });
    }
  }
}
