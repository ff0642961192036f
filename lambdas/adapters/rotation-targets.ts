/**
 * Builds the senders and validators of one configured secret from its config: the one place that maps
 * config `type`s to adapters, used by the rotation Lambda, the retire Lambda, the CLI and the demo.
 */
import type { SecretConfig } from '../config.ts';
import type { AlertPort, Clock, LogPort, SenderPort, ValidatorPort } from '../core/ports.ts';
import { systemClock } from '../core/ports.ts';
import type { RotationDeps } from '../core/rotation.ts';
import type { AccountClients } from './account-clients.ts';
import type { AwsClients } from './aws-clients.ts';
import { CloudFrontSender } from './cloudfront.ts';
import { httpProbe } from './http-probe.ts';
import { KongRouteValidator } from './kong.ts';
import { KongVaultSender } from './kong-vault.ts';
import { kongVaultReader } from './kong-vault-entity.ts';
import { KonnectClient, konnectBaseUrl } from './konnect.ts';
import { SecretsManagerStore } from './secrets-manager.ts';
import { SecretsManagerReadersValidator } from './secretsmanager-readers.ts';
import { staleReadersCheck, verifierStaleAlarmName } from './reader-health-cloudwatch.ts';
import { cloudWatchSdk } from './on-demand-clients.ts';
import { readersMaxStaleSeconds } from '../config.ts';
import { TokenReader } from './tokens.ts';
import { WafV2Validator } from './wafv2.ts';

export interface TargetEnvironment {
  clients: AwsClients;
  /** HTTP client for Kong and Konnect (tests pass one bound to their fake servers). */
  fetch?: typeof fetch;
  /** Clients of other accounts and regions, for items with an `account` or a `region` (account-clients.ts). */
  accounts?: AccountClients;
}

/** The clients that act where a sender or validator lives: the hub's unless it names an account or a region. */
function clientsOf(env: TargetEnvironment, item: { account?: string; region?: string }, what: string): AwsClients {
  if (item.account === undefined && item.region === undefined) return env.clients;
  if (!env.accounts) throw new Error(`${what} is placed in account "${item.account ?? '(hub)'}" region "${item.region ?? '(home)'}", but this process was given no account clients`);
  return env.accounts.for({ account: item.account, ...(item.region !== undefined ? { region: item.region } : {}) });
}

export function buildRotationTargets(secret: SecretConfig, env: TargetEnvironment) {
  const store = new SecretsManagerStore(env.clients.secretsManager(), secret.secretName);
  const tokens = new TokenReader(env.clients.secretsManager());
  const senders: SenderPort[] = secret.senders.map((sender) => {
    switch (sender.type) {
      case 'cloudfront':
        return new CloudFrontSender(clientsOf(env, { account: sender.account }, `CloudFront sender ${sender.distributionId}`).cloudFront(), {
          distributionId: sender.distributionId,
          originIds: sender.originIds,
          headerName: secret.headerName,
        });
      case 'kong-vault':
        return new KongVaultSender({
          store: sender.store,
          ttlSeconds: sender.ttlSeconds,
          rotationCheckSeconds: sender.rotationCheckSeconds,
          secretStore: store,
          ...(sender.vaultAdminUrl && sender.vaultPrefix
            ? {
                readVault: kongVaultReader({
                  adminUrl: sender.vaultAdminUrl,
                  prefix: sender.vaultPrefix,
                  token: (sender.vaultTokenSecretName ?? sender.tokenSecretName) ? tokens.token((sender.vaultTokenSecretName ?? sender.tokenSecretName)!) : undefined,
                  fetch: env.fetch,
                }),
              }
            : {}),
          ...(sender.store === 'konnect-config-store'
            ? {
                konnect: new KonnectClient({
                  baseUrl: sender.apiUrl ?? konnectBaseUrl(sender.region!),
                  token: tokens.token(sender.tokenSecretName!),
                  fetch: env.fetch,
                }),
                controlPlaneId: sender.controlPlaneId!,
                configStoreId: sender.configStoreId!,
                key: sender.key!,
              }
            : {}),
        });
    }
  });
  const validators: ValidatorPort[] = secret.validators.map((validator) => {
    switch (validator.type) {
      case 'wafv2':
        return new WafV2Validator(clientsOf(env, validator, `web ACL ${validator.webAclName}`).wafv2(validator.scope), {
          scope: validator.scope,
          webAclName: validator.webAclName,
          webAclId: validator.webAclId,
          ruleName: validator.ruleName,
          priority: validator.priority,
          headerName: secret.headerName,
          propagationSeconds: validator.propagationSeconds,
        });
      case 'kong-route':
        return new KongRouteValidator({
          adminUrl: validator.adminUrl,
          routes: validator.routes,
          headerName: secret.headerName,
          token: validator.tokenSecretName ? tokens.token(validator.tokenSecretName) : undefined,
          auth: validator.auth,
          propagationSeconds: validator.propagationSeconds,
          fetch: env.fetch,
        });
      case 'secretsmanager-readers':
        return new SecretsManagerReadersValidator({
          store,
          cacheTtlSeconds: validator.cacheTtlSeconds,
          staleCheck: staleReadersCheck(
            async () => {
              await cloudWatchSdk(env.clients);
              return env.clients.cloudWatch();
            },
            validator.staleAlarmName ?? verifierStaleAlarmName(secret.name),
            readersMaxStaleSeconds(validator),
          ),
        });
    }
  });
  return { store, senders, validators };
}

/** Everything the rotation core needs for one secret. */
export function rotationDeps(
  secret: SecretConfig,
  runtime: TargetEnvironment & { logger: LogPort; alerts?: AlertPort; clock?: Clock },
  extra: Partial<RotationDeps> = {},
): RotationDeps {
  return {
    ...buildRotationTargets(secret, runtime),
    clock: runtime.clock ?? systemClock,
    log: runtime.logger,
    alerts: runtime.alerts,
    probe: secret.probeUrl ? httpProbe({ fetch: runtime.fetch }) : undefined,
    ...extra,
  };
}
