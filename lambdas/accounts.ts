/**
 * Where a configured item lives: its account (a name from `accounts`, else the hub's own) and region. Pure:
 * the composition root (handlers, CLI) turns a placement into clients (adapters/account-clients.ts); the core
 * never sees an account id. Spoke roles are named here so the spoke stack and the hub agree on them.
 */
import type { Config } from './config.ts';
import { roleArn } from './core/partitions.ts';

/** The hub functions that act in spoke accounts, each through its own spoke role. */
export type HubFunction = 'rotate' | 'reconcile' | 'audit';
export const HUB_FUNCTIONS: readonly HubFunction[] = ['rotate', 'reconcile', 'audit'];

export interface Placement {
  /** A name from `accounts`; absent: the hub's own account. */
  account?: string;
  region?: string;
}

export interface ResolvedPlacement {
  /** The account's name; absent for the hub. */
  account?: string;
  accountId?: string;
  region: string;
  /** The role to assume; absent when the item is in the hub account. */
  roleArn?: string;
  externalId?: string;
}

/** `${stackName}-${fn}-${region}`: IAM role names are global, so each region's spoke stack names its own. */
export function spokeRoleName(stackName: string, fn: HubFunction, region: string): string {
  const name = `${stackName}-${fn}-${region}`;
  if (name.length > 64) throw new Error(`spoke role name "${name}" is longer than IAM's 64 characters: shorten stackName`);
  return name;
}

/** The region an account's global resources (CloudFront) are reached from: its first region. */
export function homeRegionOf(config: Pick<Config, 'accounts' | 'region'>, account: string | undefined): string {
  return (account && config.accounts?.[account]?.regions?.[0]) || config.region;
}

export function resolvePlacement(
  config: Pick<Config, 'accounts' | 'region' | 'stackName' | 'hubAccountId'>,
  placement: Placement,
  fn: HubFunction,
): ResolvedPlacement {
  const region = placement.region ?? homeRegionOf(config, placement.account);
  if (placement.account === undefined) return { region };
  const account = config.accounts?.[placement.account];
  if (!account) throw new Error(`unknown account "${placement.account}": it is not listed under "accounts"`);
  // The hub account in its own region is the functions' own; in another region, its spoke stack's role.
  if (config.hubAccountId && account.accountId === config.hubAccountId && region === config.region) return { account: placement.account, accountId: account.accountId, region };
  return {
    account: placement.account,
    accountId: account.accountId,
    region,
    roleArn: account.roleArn ?? roleArn(region, account.accountId, account.roleName ?? spokeRoleName(config.stackName, fn, region)),
    ...(account.externalId ? { externalId: account.externalId } : {}),
  };
}

export interface AccountRegion {
  account: string;
  accountId: string;
  region: string;
}

/** Every (account, region) the config names: each account's `regions` and every placed item's region. */
export function accountRegions(config: Config): AccountRegion[] {
  const out = new Map<string, AccountRegion>();
  const add = (account: string | undefined, region: string | undefined) => {
    if (!account) return;
    const a = config.accounts?.[account];
    if (!a) return;
    const r = region ?? homeRegionOf(config, account);
    out.set(`${account}/${r}`, { account, accountId: a.accountId, region: r });
  };
  for (const [name, a] of Object.entries(config.accounts ?? {})) for (const r of a.regions ?? [config.region]) add(name, r);
  for (const s of config.secrets) {
    for (const x of s.senders) add(x.account, undefined);
    for (const v of s.validators) if (v.type !== 'secretsmanager-readers') add(v.account, v.type === 'wafv2' ? v.region : undefined);
  }
  for (const t of config.ipRanges?.targets ?? []) add(t.account, t.region);
  for (const w of config.audit?.webAcls ?? []) add(w.account, w.region);
  for (const d of config.audit?.distributions ?? []) add(d.account, undefined);
  for (const p of config.audit?.peerings ?? []) add(p.account, p.region);
  for (const t of config.audit?.transitGateways ?? []) add(t.account, t.region);
  return [...out.values()].sort((a, b) => a.account.localeCompare(b.account) || a.region.localeCompare(b.region));
}

/** Whether any item is placed outside the hub's account and region (the audit then runs per account-region). */
export function isMultiAccount(config: Config): boolean {
  return Object.keys(config.accounts ?? {}).length > 0 || auditSlices(config).length > 1;
}

export interface AuditSlice {
  /** Absent: the hub account. */
  account?: string;
  accountId?: string;
  region: string;
  /** The config restricted to the items of this account-region (secrets, Konnect and probes stay with the hub). */
  config: Config;
}

/**
 * The config cut per account-region for the audit: each slice names only the items that live there, so one
 * collector with that account-region's clients observes them. The hub slice (first) keeps what has no account.
 */
export function auditSlices(config: Config, only?: { account?: string; region: string }): AuditSlice[] {
  const keyOf = (account: string | undefined, region: string) => `${account ?? ''}/${region}`;
  // One invocation of the fan-out audits one account-region: cut only that slice, not all of them each time.
  const wanted = only ? keyOf(only.account || undefined, only.region) : undefined;
  const inHub = (item: object) => {
    const { account, region } = item as { account?: string; region?: string };
    return account === undefined && (region === undefined || region === config.region);
  };
  const slices = new Map<string, AuditSlice>();
  const sliceOf = (account: string | undefined, region: string): AuditSlice | undefined => {
    const key = keyOf(account, region);
    if (wanted !== undefined && key !== wanted) return undefined;
    let slice = slices.get(key);
    if (!slice) {
      const hubHome = account === undefined && region === config.region;
      slice = {
        ...(account !== undefined ? { account, accountId: config.accounts?.[account]?.accountId } : {}),
        region,
        config: {
          ...config,
          region,
          // Senders and validators of other accounts or regions are audited by rotation's own status, not here (yet).
          secrets: hubHome ? config.secrets.map((secret) => ({ ...secret, senders: secret.senders.filter(inHub), validators: secret.validators.filter(inHub) })) : [],
          ...(config.ipRanges ? { ipRanges: { ...config.ipRanges, targets: [] } } : {}),
          audit: config.audit
            ? {
                ...config.audit,
                webAcls: [],
                distributions: [],
                peerings: [],
                transitGateways: [],
                ...(hubHome ? {} : { konnect: undefined, probes: undefined }),
              }
            : undefined,
        },
      };
      slices.set(key, slice);
    }
    return slice;
  };
  sliceOf(undefined, config.region);
  for (const ar of accountRegions(config)) sliceOf(ar.account, ar.region);
  const home = (account: string | undefined) => homeRegionOf(config, account);
  for (const t of config.ipRanges?.targets ?? []) (sliceOf(t.account, t.region ?? home(t.account))?.config.ipRanges!.targets as unknown[] | undefined)?.push(t);
  const audit = config.audit;
  if (audit) {
    const auditOf = (account: string | undefined, region: string) => sliceOf(account, region)?.config.audit!;
    for (const w of audit.webAcls ?? []) auditOf(w.account, w.scope === 'CLOUDFRONT' ? home(w.account) : (w.region ?? home(w.account)))?.webAcls!.push(w);
    for (const d of audit.distributions ?? []) auditOf(d.account, home(d.account))?.distributions!.push(d);
    for (const p of audit.peerings ?? []) auditOf(p.account, p.region ?? home(p.account))?.peerings!.push(p);
    for (const t of audit.transitGateways ?? []) auditOf(t.account, t.region ?? home(t.account))?.transitGateways!.push(t);
  }
  // A target list must not be empty in the schema; an empty one here only means "nothing to observe".
  return [...slices.values()];
}

/**
 * The config narrowed to one account (`--account NAME`): the secrets with a sender or validator there (whole:
 * a rotation spans its accounts), and the reconcile targets and audit items placed there. Throws naming the
 * known accounts when `name` is not one of them.
 */
export function configForAccount(config: Config, name: string): Config {
  const account = config.accounts?.[name];
  if (!account) {
    const known = Object.keys(config.accounts ?? {});
    throw new Error(`--account ${name}: no such account (${known.length ? `configured: ${known.join(', ')}` : 'the config lists no accounts'})`);
  }
  const here = (item: object) => (item as { account?: string }).account === name;
  return {
    ...config,
    accounts: { [name]: account },
    secrets: config.secrets.filter((s) => s.senders.some(here) || s.validators.some(here)),
    ...(config.ipRanges ? { ipRanges: { ...config.ipRanges, targets: config.ipRanges.targets.filter(here) } } : {}),
    ...(config.audit
      ? {
          audit: {
            ...config.audit,
            webAcls: config.audit.webAcls?.filter(here),
            distributions: config.audit.distributions?.filter(here),
            peerings: config.audit.peerings?.filter(here),
            transitGateways: config.audit.transitGateways?.filter(here),
            konnect: undefined,
            probes: undefined,
          },
        }
      : {}),
  };
}

/**
 * Whether an item lives in the hub's own account and region, where the hub's function roles act directly (their
 * grants cover these items only; items elsewhere are granted by the spoke roles, lib/spoke-permissions.ts).
 */
export function inHubAccount(config: Pick<Config, 'accounts' | 'region' | 'hubAccountId'>, item: object): boolean {
  const { account, region } = item as { account?: string; region?: string };
  if (account === undefined) return region === undefined || region === config.region;
  const a = config.accounts?.[account];
  return !!a && !!config.hubAccountId && a.accountId === config.hubAccountId && (region ?? homeRegionOf(config, account)) === config.region;
}
