/**
 * EC2 security groups for the range reconciler: reads a target's ingress rules and remembered state, applies
 * a plan with at most one AuthorizeSecurityGroupIngress and one RevokeSecurityGroupIngress per group, and
 * keeps the last applied syncToken as a tag on the target's first group (so the CLI and the Lambda agree).
 */
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeManagedPrefixListsCommand,
  DescribeSecurityGroupRulesCommand,
  DescribeSecurityGroupsCommand,
  GetManagedPrefixListEntriesCommand,
  ModifyManagedPrefixListCommand,
  ModifySecurityGroupRulesCommand,
  RevokeSecurityGroupIngressCommand,
  type EC2Client,
  type IpPermission,
  type SecurityGroupRule,
} from '@aws-sdk/client-ec2';
import type { IpRangeTargetConfig } from '../config.ts';
import { cidrFamily } from '../core/cidr.ts';
import { describeError, TargetError } from '../core/errors.ts';
import { silentLog, systemClock, type Clock, type LogPort } from '../core/ports.ts';
import type { ApplyReport, ObservedTarget, SecurityGroupStorePort, TargetState } from '../core/reconcile.ts';
import { isPrefixListId, PREFIX_LIST_ENTRY, type GroupPlan, type ObservedRule, type PlannedRule, type PrefixListInfo, type RulePlan } from '../core/range-planner.ts';

/** Tag keys on the target's first group. */
export function stateTagKeys(target: string) {
  return { syncToken: `origin-guard:${target}:syncToken`, held: `origin-guard:${target}:held` };
}

const THROTTLING = new Set(['Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException', 'RequestThrottled', 'ServiceUnavailable']);

function errorName(error: unknown): string {
  return (error as { name?: string; Code?: string })?.name ?? '';
}

export function isThrottling(error: unknown): boolean {
  const e = error as { name?: string; $retryable?: { throttling?: boolean } };
  return THROTTLING.has(errorName(error)) || e?.$retryable?.throttling === true;
}

export interface Ec2SecurityGroupStoreOptions {
  clock?: Clock;
  log?: LogPort;
  /** Attempts per call on throttling, the first included (default 6). */
  maxAttempts?: number;
  /** First backoff; doubles per attempt, with jitter, capped at `maxDelayMs` (defaults 200 / 5 000 ms). */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * How a held shrink is written into one tag value: `<fingerprint>@<syncToken>`, then `@<since>@<runs>` when
 * known (sources without versions). A value written before the last two fields existed still reads.
 */
export function encodeHeld(held: TargetState['held']): string | undefined {
  if (!held) return undefined;
  const base = `${held.fingerprint}@${held.syncToken ?? ''}`;
  return held.since ? `${base}@${held.since}@${held.runs ?? 1}` : base;
}
export function decodeHeld(value: string | undefined): TargetState['held'] {
  if (!value) return undefined;
  const [fingerprint, syncToken, since, runs] = value.split('@');
  if (!fingerprint) return undefined;
  const n = Number(runs);
  return { fingerprint, ...(syncToken ? { syncToken } : {}), ...(since ? { since } : {}), ...(since && Number.isInteger(n) && n > 0 ? { runs: n } : {}) };
}

function toObserved(rule: SecurityGroupRule): ObservedRule {
  return {
    groupId: rule.GroupId ?? '',
    ruleId: rule.SecurityGroupRuleId,
    protocol: rule.IpProtocol ?? '-1',
    fromPort: rule.FromPort ?? -1,
    toPort: rule.ToPort ?? -1,
    // A reference to a prefix list is planned like a CIDR rule whose "CIDR" is the list id.
    cidr: rule.CidrIpv4 ?? rule.CidrIpv6 ?? rule.PrefixListId,
    description: rule.Description,
  };
}

type Sender = <T>(what: string, call: () => Promise<T>) => Promise<T>;

/**
 * MaxEntries of the given prefix lists: what a rule referencing one counts as against a security group's
 * quota (AWS counts the list's maximum size, not its current entries). Lists EC2 does not return are left out.
 */
export async function prefixListSizes(ec2: EC2Client, ids: Iterable<string>, send: Sender = (_what, call) => call()): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  const wanted = [...new Set(ids)];
  if (wanted.length === 0) return sizes;
  let nextToken: string | undefined;
  for (let page = 0; page < 50; page++) {
    const out = await send('DescribeManagedPrefixLists', () => ec2.send(new DescribeManagedPrefixListsCommand({ PrefixListIds: wanted, NextToken: nextToken })));
    for (const list of out.PrefixLists ?? []) if (list.PrefixListId && list.MaxEntries !== undefined) sizes.set(list.PrefixListId, list.MaxEntries);
    nextToken = out.NextToken;
    if (!nextToken) return sizes;
  }
  throw new TargetError(`ec2:${wanted.join(',')}`, 'DescribeManagedPrefixLists did not finish within 50 pages');
}

function key(r: { protocol: string; fromPort: number; toPort: number; cidr?: string }): string {
  return `${r.protocol}|${r.fromPort}|${r.toPort}|${r.cidr}`;
}

/** One IpPermission per protocol and port range, IPv4 and IPv6 ranges batched with their descriptions. */
export function toIpPermissions(rules: readonly PlannedRule[]): IpPermission[] {
  const byPorts = new Map<string, IpPermission>();
  for (const r of rules) {
    const k = `${r.protocol}|${r.fromPort}|${r.toPort}`;
    let perm = byPorts.get(k);
    if (!perm) {
      perm = { IpProtocol: r.protocol, FromPort: r.fromPort, ToPort: r.toPort, IpRanges: [], Ipv6Ranges: [], PrefixListIds: [] };
      byPorts.set(k, perm);
    }
    if (isPrefixListId(r.cidr)) perm.PrefixListIds!.push({ PrefixListId: r.cidr, Description: r.description });
    else if (cidrFamily(r.cidr) === 'ipv6') perm.Ipv6Ranges!.push({ CidrIpv6: r.cidr, Description: r.description });
    else perm.IpRanges!.push({ CidrIp: r.cidr, Description: r.description });
  }
  return [...byPorts.values()].map((p) => ({
    ...p,
    IpRanges: p.IpRanges!.length ? p.IpRanges : undefined,
    Ipv6Ranges: p.Ipv6Ranges!.length ? p.Ipv6Ranges : undefined,
    PrefixListIds: p.PrefixListIds!.length ? p.PrefixListIds : undefined,
  }));
}

export class Ec2SecurityGroupStore implements SecurityGroupStorePort {
  private readonly clock: Clock;
  private readonly log: LogPort;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(
    private readonly ec2: EC2Client,
    options: Ec2SecurityGroupStoreOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLog;
    this.maxAttempts = Math.min(Math.max(options.maxAttempts ?? 6, 1), 10);
    this.baseDelayMs = options.baseDelayMs ?? 200;
    this.maxDelayMs = options.maxDelayMs ?? 5_000;
  }

  /** Retries a call while EC2 throttles, with exponential backoff and jitter; other errors pass through. */
  private async send<T>(what: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (!isThrottling(error) || attempt >= this.maxAttempts) throw error;
        const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1)) * (0.5 + Math.random() * 0.5);
        this.log.warn('EC2 throttled; retrying', { call: what, attempt, delayMs: Math.round(delay) });
        await this.clock.sleep(delay);
      }
    }
  }

  private async describeRules(groupIds: readonly string[]): Promise<SecurityGroupRule[]> {
    const rules: SecurityGroupRule[] = [];
    let nextToken: string | undefined;
    // One filter with several values: moto keeps only the last of repeated filter names.
    for (let page = 0; page < 200; page++) {
      const out = await this.send('DescribeSecurityGroupRules', () =>
        this.ec2.send(
          new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [...groupIds] }], MaxResults: 1000, NextToken: nextToken }),
        ),
      );
      rules.push(...(out.SecurityGroupRules ?? []));
      nextToken = out.NextToken;
      if (!nextToken) return rules;
    }
    throw new TargetError(`ec2:${groupIds.join(',')}`, 'DescribeSecurityGroupRules did not finish within 200 pages');
  }

  private async ingressRules(groupIds: readonly string[]): Promise<ObservedRule[]> {
    const wanted = new Set(groupIds);
    return (await this.describeRules(groupIds)).filter((r) => !r.IsEgress && wanted.has(r.GroupId ?? '')).map(toObserved);
  }

  /** The ingress rules of `groupIds` as read from EC2 (release: `origin-guard reconcile --release`). */
  async ingressRulesOf(groupIds: readonly string[]): Promise<ObservedRule[]> {
    return this.ingressRules(groupIds);
  }

  /** Revokes exactly these rules of one group, by their ids (release). */
  async revokeRules(groupId: string, rules: readonly ObservedRule[]): Promise<number> {
    if (rules.length === 0) return 0;
    return this.revoke({ groupId, remove: [...rules] as unknown as GroupPlan['remove'] } as GroupPlan);
  }

  /** Removes the target's state tags (`stateTagKeys`) from its groups: the last step of a full release. */
  async removeStateTags(target: string, groupIds: readonly string[]): Promise<void> {
    const keys = stateTagKeys(target);
    await this.send('DeleteTags', () =>
      this.ec2.send(new DeleteTagsCommand({ Resources: [...groupIds], Tags: [{ Key: keys.syncToken }, { Key: keys.held }] })),
    );
  }

  async read(target: IpRangeTargetConfig): Promise<ObservedTarget> {
    const groupIds = target.securityGroupIds;
    const first = groupIds[0];
    let tags: Record<string, string> = {};
    try {
      // Checks that every group exists (a missing one fails here, not halfway through an apply) and reads the state tags.
      const out = await this.send('DescribeSecurityGroups', () => this.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [...groupIds] })));
      const found = new Set((out.SecurityGroups ?? []).map((g) => g.GroupId));
      const missing = groupIds.filter((id) => !found.has(id));
      if (missing.length > 0) throw new TargetError(`ec2:${missing.join(',')}`, 'security group not found');
      const firstGroup = out.SecurityGroups!.find((g) => g.GroupId === first);
      tags = Object.fromEntries((firstGroup?.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
      const rules = await this.ingressRules(groupIds);
      const keys = stateTagKeys(target.name);
      const state = { syncToken: tags[keys.syncToken] || undefined, held: decodeHeld(tags[keys.held]) };
      if (target.mode !== 'prefix-list' || !target.prefixListIds?.length) return { rules: await this.weighReferences(rules, []), state };
      const { lists, entries } = await this.readPrefixLists(target.prefixListIds);
      return { rules: [...entries, ...(await this.weighReferences(rules, lists))], state, prefixLists: lists };
    } catch (error) {
      if (error instanceof TargetError) throw error;
      throw new TargetError(`ec2:${groupIds.join(',')}`, `cannot read the security groups of target "${target.name}": ${describeError(error)}`, { cause: error });
    }
  }

  /** Sets each prefix-list reference's weight to the list's MaxEntries (`known` lists are not described again). */
  private async weighReferences(rules: ObservedRule[], known: readonly PrefixListInfo[]): Promise<ObservedRule[]> {
    const sizes = new Map(known.map((l) => [l.id, l.maxEntries]));
    const unknown = rules.flatMap((r) => (r.cidr !== undefined && isPrefixListId(r.cidr) && !sizes.has(r.cidr) ? [r.cidr] : []));
    for (const [id, size] of await prefixListSizes(this.ec2, unknown, (what, call) => this.send(what, call))) sizes.set(id, size);
    return rules.map((r) => {
      if (r.cidr === undefined || !isPrefixListId(r.cidr)) return r;
      const size = sizes.get(r.cidr);
      if (size === undefined) {
        this.log.warn('prefix list not described; its reference counts as 1 rule', { groupId: r.groupId, prefixListId: r.cidr });
        return r;
      }
      return { ...r, weight: size };
    });
  }

  async apply(target: IpRangeTargetConfig, plan: RulePlan): Promise<ApplyReport> {
    const report: ApplyReport = { authorizeCalls: 0, revokeCalls: 0 };
    if (plan.status === 'insufficient-capacity' || plan.status === 'in-sync') return report;
    // Prefix lists first: a group's reference to a list is only added once the list holds the ranges.
    const modified: string[] = [];
    for (const g of plan.groups) {
      if (!isPrefixListId(g.groupId) || g.add.length + g.remove.length === 0) continue;
      report.prefixListCalls = (report.prefixListCalls ?? 0) + (await this.modifyPrefixList(g));
      modified.push(g.groupId);
    }
    // A list's change is asynchronous: a reference (or a removal it replaces) waits for modify-complete.
    for (const id of modified) await this.waitForPrefixList(id);
    const groups = plan.groups.filter((g) => !isPrefixListId(g.groupId));
    // Adoption rewrites descriptions only: the rules admit the same traffic before and after.
    for (const g of groups) if (g.adopt?.length) report.modifyCalls = (report.modifyCalls ?? 0) + (await this.adopt(g));
    // Traffic keeps flowing: every group that can take its additions first gets them before any removal.
    const addFirst = groups.filter((g) => !g.removeFirst && g.add.length > 0);
    const removeFirst = groups.filter((g) => g.removeFirst && g.add.length > 0);
    // Then revoke only in the groups that must shrink to make room, add there, and only then the other revokes:
    // a rule evicted from one group and re-placed into a remove-first group stays until its copy is in.
    for (const g of addFirst) report.authorizeCalls += await this.authorize(g);
    for (const g of removeFirst) if (g.remove.length > 0) report.revokeCalls += await this.revoke(g);
    for (const g of removeFirst) report.authorizeCalls += await this.authorize(g);
    for (const g of groups) if (g.remove.length > 0 && !removeFirst.includes(g)) report.revokeCalls += await this.revoke(g);
    this.log.info('plan applied', { target: target.name, ...report });
    return report;
  }

  /**
   * One AuthorizeSecurityGroupIngress for the group. EC2 refuses the whole batch if one rule exists
   * (`InvalidPermission.Duplicate`, e.g. another run got there first): then re-read and add only the rest.
   */
  private async authorize(group: GroupPlan): Promise<number> {
    let pending = group.add;
    let calls = 0;
    for (let round = 0; round < 3 && pending.length > 0; round++) {
      calls += 1;
      try {
        await this.send('AuthorizeSecurityGroupIngress', () =>
          this.ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: group.groupId, IpPermissions: toIpPermissions(pending) })),
        );
        return calls;
      } catch (error) {
        if (errorName(error) !== 'InvalidPermission.Duplicate') throw this.wrap(group.groupId, 'authorize ingress rules', error);
        const present = new Set((await this.ingressRules([group.groupId])).map((r) => key(r)));
        pending = pending.filter((r) => !present.has(key(r)));
      }
    }
    if (pending.length > 0) throw new TargetError(`ec2:${group.groupId}`, `${pending.length} rules still missing after 3 attempts`);
    return calls;
  }

  /**
   * One ModifySecurityGroupRules per group (up to 100 rules a call): the rule keeps its id, protocol, ports and
   * CIDR, only the description becomes origin-guard's. Nothing is added, so no capacity and no duplicate.
   */
  private async adopt(group: GroupPlan): Promise<number> {
    let calls = 0;
    for (let i = 0; i < group.adopt.length; i += 100) {
      const batch = group.adopt.slice(i, i + 100).filter((r) => r.ruleId);
      if (batch.length === 0) continue;
      calls += 1;
      try {
        await this.send('ModifySecurityGroupRules', () =>
          this.ec2.send(
            new ModifySecurityGroupRulesCommand({
              GroupId: group.groupId,
              SecurityGroupRules: batch.map((r) => ({
                SecurityGroupRuleId: r.ruleId!,
                SecurityGroupRule: {
                  IpProtocol: r.protocol,
                  FromPort: r.fromPort,
                  ToPort: r.toPort,
                  ...(isPrefixListId(r.cidr) ? { PrefixListId: r.cidr } : cidrFamily(r.cidr) === 'ipv6' ? { CidrIpv6: r.cidr } : { CidrIpv4: r.cidr }),
                  Description: r.description,
                },
              })),
            }),
          ),
        );
      } catch (error) {
        throw this.wrap(group.groupId, 'adopt (rewrite the descriptions of) ingress rules', error);
      }
    }
    return calls;
  }

  /** One RevokeSecurityGroupIngress by rule id; rules already gone (`NotFound`) count as done. */
  private async revoke(group: GroupPlan): Promise<number> {
    let pending = group.remove;
    let calls = 0;
    for (let round = 0; round < 3 && pending.length > 0; round++) {
      calls += 1;
      // Rules read from EC2 carry their ids: revoking by id needs no exact match of ports and descriptions.
      const byId = pending.every((r) => r.ruleId);
      const batch = pending;
      try {
        await this.send('RevokeSecurityGroupIngress', () =>
          this.ec2.send(
            new RevokeSecurityGroupIngressCommand(
              byId
                ? { GroupId: group.groupId, SecurityGroupRuleIds: batch.map((r) => r.ruleId!) }
                : { GroupId: group.groupId, IpPermissions: toIpPermissions(batch) },
            ),
          ),
        );
        return calls;
      } catch (error) {
        const name = errorName(error);
        if (name !== 'InvalidPermission.NotFound' && name !== 'InvalidSecurityGroupRuleId.NotFound') throw this.wrap(group.groupId, 'revoke ingress rules', error);
        const present = await this.ingressRules([group.groupId]);
        const ids = new Set(present.map((r) => r.ruleId));
        const keys = new Set(present.map((r) => key(r)));
        pending = pending.filter((r) => (r.ruleId ? ids.has(r.ruleId) : keys.has(key(r))));
      }
    }
    if (pending.length > 0) throw new TargetError(`ec2:${group.groupId}`, `${pending.length} rules still present after 3 attempts`);
    return calls;
  }

  private wrap(groupId: string, action: string, error: unknown): TargetError {
    const name = errorName(error);
    const hint =
      name === 'RulesPerSecurityGroupLimitExceeded'
        ? ' (the group is fuller than its maxRulesPerGroup says: lower maxRulesPerGroup to the account quota)'
        : name === 'UnauthorizedOperation'
          ? ' (the reconciler role may not change this group)'
          : '';
    return new TargetError(`ec2:${groupId}`, `cannot ${action}: ${describeError(error)}${hint}`, { cause: error, retryable: isThrottling(error) });
  }

  // ---------- prefix-list mode ----------

  /** The version each list had when read: modifications are conditional on it (optimistic locking). */
  private readonly listVersions = new Map<string, number>();

  private async readPrefixLists(ids: readonly string[]): Promise<{ lists: PrefixListInfo[]; entries: ObservedRule[] }> {
    const out = await this.send('DescribeManagedPrefixLists', () => this.ec2.send(new DescribeManagedPrefixListsCommand({ PrefixListIds: [...ids] })));
    const lists: PrefixListInfo[] = [];
    const entries: ObservedRule[] = [];
    for (const id of ids) {
      const list = out.PrefixLists?.find((l) => l.PrefixListId === id);
      if (!list) throw new TargetError(`ec2:${id}`, 'prefix list not found');
      if (list.OwnerId === 'AWS') throw new TargetError(`ec2:${id}`, 'is an AWS-managed prefix list: give customer-managed lists in prefixListIds');
      this.listVersions.set(id, list.Version ?? 0);
      lists.push({ id, family: list.AddressFamily === 'IPv6' ? 'ipv6' : 'ipv4', maxEntries: list.MaxEntries ?? 0 });
      let nextToken: string | undefined;
      for (let page = 0; page < 100; page++) {
        const res = await this.send('GetManagedPrefixListEntries', () =>
          this.ec2.send(new GetManagedPrefixListEntriesCommand({ PrefixListId: id, MaxResults: 100, NextToken: nextToken })),
        );
        for (const e of res.Entries ?? []) {
          entries.push({ groupId: id, protocol: PREFIX_LIST_ENTRY, fromPort: 0, toPort: 0, cidr: e.Cidr, description: e.Description });
        }
        nextToken = res.NextToken;
        if (!nextToken) break;
      }
    }
    return { lists, entries };
  }

  /**
   * ModifyManagedPrefixList, conditional on the version read (a concurrent change fails the call and the next
   * run re-plans). One call when the change fits EC2's 100 additions and 100 removals per call; otherwise
   * several, each waiting for the list to finish the previous one.
   */
  private async modifyPrefixList(group: GroupPlan): Promise<number> {
    const id = group.groupId;
    const adds = [...group.add];
    const removes = [...group.remove];
    let version = this.listVersions.get(id);
    let calls = 0;
    const rounds = Math.ceil(Math.max(adds.length, removes.length) / 100);
    for (let round = 0; round < rounds; round++) {
      if (round > 0) await this.waitForPrefixList(id);
      const add = adds.splice(0, 100);
      const remove = removes.splice(0, 100);
      calls += 1;
      try {
        const out = await this.send('ModifyManagedPrefixList', () =>
          this.ec2.send(
            new ModifyManagedPrefixListCommand({
              PrefixListId: id,
              CurrentVersion: version,
              ...(add.length ? { AddEntries: add.map((r) => ({ Cidr: r.cidr, Description: r.description })) } : {}),
              ...(remove.length ? { RemoveEntries: remove.map((r) => ({ Cidr: r.cidr })) } : {}),
            }),
          ),
        );
        version = out.PrefixList?.Version ?? (version === undefined ? undefined : version + 1);
      } catch (error) {
        throw this.wrap(id, 'modify the prefix list', error);
      }
    }
    if (version !== undefined) this.listVersions.set(id, version);
    return calls;
  }

  private async waitForPrefixList(id: string): Promise<void> {
    const deadline = this.clock.now().getTime() + 120_000;
    for (let i = 0; i < 240; i++) {
      const out = await this.send('DescribeManagedPrefixLists', () => this.ec2.send(new DescribeManagedPrefixListsCommand({ PrefixListIds: [id] })));
      const state = out.PrefixLists?.[0]?.State ?? '';
      if (!state.endsWith('in-progress')) {
        if (state.endsWith('failed')) throw new TargetError(`ec2:${id}`, `the previous modification ended in state ${state}`);
        return;
      }
      if (this.clock.now().getTime() > deadline) break;
      await this.clock.sleep(500);
    }
    throw new TargetError(`ec2:${id}`, 'still modifying after 2 minutes; the next run finishes the change', { retryable: true });
  }

  async writeState(target: IpRangeTargetConfig, next: TargetState, previous: TargetState): Promise<number> {
    const keys = stateTagKeys(target.name);
    const resource = target.securityGroupIds[0];
    const set: Array<{ Key: string; Value: string }> = [];
    const unset: Array<{ Key: string }> = [];
    if (next.syncToken && next.syncToken !== previous.syncToken) set.push({ Key: keys.syncToken, Value: next.syncToken });
    const heldBefore = encodeHeld(previous.held);
    const heldAfter = encodeHeld(next.held);
    if (heldAfter !== heldBefore) {
      if (heldAfter) set.push({ Key: keys.held, Value: heldAfter });
      else unset.push({ Key: keys.held });
    }
    let calls = 0;
    if (set.length) {
      calls += 1;
      await this.send('CreateTags', () => this.ec2.send(new CreateTagsCommand({ Resources: [resource], Tags: set })));
    }
    if (unset.length) {
      calls += 1;
      await this.send('DeleteTags', () => this.ec2.send(new DeleteTagsCommand({ Resources: [resource], Tags: unset })));
    }
    return calls;
  }
}
