/**
 * SDK clients per (account, region): the hub's own clients for items of the hub account, and for an item of a
 * spoke account clients whose credentials come from AssumeRole into that account's spoke role
 * (`fromTemporaryCredentials`, refreshed by the SDK before they expire). One `AwsClients` per account-region,
 * cached for the life of the process (a Lambda's cold start), with the hub's endpoint and retry settings.
 */
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { Config } from '../config.ts';
import { resolvePlacement, type HubFunction, type Placement, type ResolvedPlacement } from '../accounts.ts';
import { AwsClients } from './aws-clients.ts';

/** STS client plugins (SDK middleware): tests inject AssumeRole faults through them. */
type StsPlugins = NonNullable<Parameters<typeof fromTemporaryCredentials>[0]['clientPlugins']>;

export interface AccountClientsOptions {
  config: Pick<Config, 'accounts' | 'region' | 'stackName' | 'hubAccountId'>;
  /** The hub's clients: their settings (endpoint, base credentials, retries) and constructors are reused. */
  hub: AwsClients;
  /** Which hub function this process is: it assumes that function's spoke role. */
  fn: HubFunction;
  /** `RoleSessionName` of every AssumeRole (CloudTrail in the spoke shows it). @default `origin-guard-<fn>` */
  sessionName?: string;
  stsPlugins?: StsPlugins;
}

/** A spoke role could not be assumed: names the account, region and role, never a credential. */
export class AccountAccessError extends Error {
  override name = 'AccountAccessError';
  constructor(
    readonly placement: ResolvedPlacement,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date };

/** Refresh this long before the assumed-role credentials expire. */
const REFRESH_MARGIN_MS = 5 * 60_000;

/**
 * One AssumeRole per account-region for all of its clients (each SDK client would otherwise call the provider
 * itself): the credentials are shared until shortly before they expire, and a failure is not cached.
 */
function shareCredentials(provider: () => Promise<Credentials>, now: () => number = Date.now): () => Promise<Credentials> {
  let current: Promise<Credentials> | undefined;
  return async () => {
    if (current) {
      const held = await current.catch(() => undefined);
      if (held && (!held.expiration || held.expiration.getTime() - now() > REFRESH_MARGIN_MS)) return held;
    }
    const next = provider();
    current = next;
    next.catch(() => {
      if (current === next) current = undefined;
    });
    return next;
  };
}

const perHub = new WeakMap<AwsClients, Map<HubFunction, AccountClients>>();

/**
 * The account clients of a process (one per hub clients and function, so a Lambda assumes each role once per
 * cold start). Without `accounts` in the config it still serves items placed in another region.
 */
export function accountClientsOf(
  config: AccountClientsOptions['config'],
  hub: AwsClients,
  fn: HubFunction,
): AccountClients {
  let byFn = perHub.get(hub);
  if (!byFn) perHub.set(hub, (byFn = new Map()));
  let accounts = byFn.get(fn);
  if (!accounts) byFn.set(fn, (accounts = new AccountClients({ config, hub, fn })));
  return accounts;
}

export class AccountClients {
  private readonly cache = new Map<string, AwsClients>();
  constructor(private readonly options: AccountClientsOptions) {}

  /** Where an item lives, with the role to assume. */
  resolve(placement: Placement): ResolvedPlacement {
    return resolvePlacement(this.options.config, placement, this.options.fn);
  }

  /** The clients that act where the item lives (the hub's own when it has no `account` and no other region). */
  for(placement: Placement): AwsClients {
    const { hub } = this.options;
    const where = this.resolve(placement);
    if (!where.roleArn && where.region === hub.settings.region) return hub;
    const key = `${where.accountId ?? 'hub'}/${where.region}`;
    let clients = this.cache.get(key);
    if (!clients) {
      const base = hub.settings;
      const credentials = where.roleArn
        ? shareCredentials(fromTemporaryCredentials({
            params: {
              RoleArn: where.roleArn,
              RoleSessionName: this.options.sessionName ?? `origin-guard-${this.options.fn}`,
              DurationSeconds: 3600,
              ...(where.externalId ? { ExternalId: where.externalId } : {}),
            },
            ...(base.credentials ? { masterCredentials: base.credentials } : {}),
            clientConfig: { region: where.region, maxAttempts: base.maxAttempts ?? 5, ...(base.endpoint ? { endpoint: base.endpoint } : {}) },
            ...(this.options.stsPlugins ? { clientPlugins: this.options.stsPlugins } : {}),
          }))
        : base.credentials;
      clients = new AwsClients({ ...base, region: where.region, ...(credentials ? { credentials } : {}) }, hub.constructors);
      this.cache.set(key, clients);
    }
    return clients;
  }

  /** Assumes the role now (the SDK would on the first call): an audit turns a failure into one finding per account-region. */
  async check(placement: Placement): Promise<void> {
    const where = this.resolve(placement);
    const provider = this.for(placement).settings.credentials;
    if (!where.roleArn || typeof provider !== 'function') return;
    try {
      await provider();
    } catch (error) {
      const code = (error as { name?: string })?.name ?? 'Error';
      throw new AccountAccessError(
        where,
        `cannot assume ${where.roleArn} for account "${where.account}" (${where.accountId}) in ${where.region}: ${code}. Deploy the spoke stack there (cdk deploy or the StackSet) and check its trust policy.`,
        { cause: error },
      );
    }
  }
}
