/**
 * Switching a target from rules to prefix-list mode on full groups, against the emulator (rules quota per
 * family, a prefix-list reference counted as its MaxEntries: test/support/moto_per_family.py). A poller reads
 * the groups and the lists right before every write call of the reconciler and after the run: every desired
 * range must be admitted at each of those instants (by a CIDR rule, or by a reference to a list that holds it).
 */
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateManagedPrefixListCommand,
  CreateSecurityGroupCommand,
  CreateVpcCommand,
  DescribeManagedPrefixListsCommand,
  DescribeSecurityGroupRulesCommand,
  EC2Client,
  GetManagedPrefixListEntriesCommand,
} from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { IpRangesSchema, type IpRangesConfig } from '../../lambdas/config.ts';
import { Ec2SecurityGroupStore } from '../../lambdas/adapters/ec2-security-groups.ts';
import { silentLog, type AlertEvent, type Clock } from '../../lambdas/core/ports.ts';
import { reconcile, type IpFeedPort, type ReconcileDeps, type TargetResult } from '../../lambdas/core/reconcile.ts';
import { emulatorClientConfig, uniqueName } from '../support/aws.ts';

const ec2 = new EC2Client(emulatorClientConfig());
/** The poller's own client: it reads between the reconciler's calls and is not itself observed. */
const reader = new EC2Client(emulatorClientConfig());
const clock: Clock = { now: () => new Date(), sleep: async () => {} };
const noFeeds: IpFeedPort = {
  fetchText: async (url) => {
    throw new Error(`no feed expected: ${url}`);
  },
  konnectConfigurations: async () => [],
};
let vpcId: string;
const CIDRS = Array.from({ length: 40 }, (_, i) => `198.18.${i}.0/24`);
const WRITES = new Set(['AuthorizeSecurityGroupIngressCommand', 'RevokeSecurityGroupIngressCommand', 'ModifyManagedPrefixListCommand', 'ModifySecurityGroupRulesCommand']);

beforeAll(async () => {
  vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.40.0.0/16' }))).Vpc!.VpcId!;
});

async function createGroup(): Promise<string> {
  return (await ec2.send(new CreateSecurityGroupCommand({ GroupName: uniqueName('og-switch'), Description: 'mode switch test', VpcId: vpcId }))).GroupId!;
}

async function authorize(groupId: string, cidrs: string[], description: string, port: number) {
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: port, ToPort: port, IpRanges: cidrs.map((CidrIp) => ({ CidrIp, Description: description })) }] }));
}

/** Which of `cidrs` the groups admit on 443 right now: CIDR rules, and references to lists whose change is complete. */
async function admitted(groupIds: string[]): Promise<Set<string>> {
  const rules = ((await reader.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: groupIds }] }))).SecurityGroupRules ?? []).filter(
    (r) => !r.IsEgress && r.IpProtocol === 'tcp' && r.FromPort! <= 443 && r.ToPort! >= 443,
  );
  const open = new Set<string>(rules.flatMap((r) => (r.CidrIpv4 ? [r.CidrIpv4] : [])));
  for (const id of new Set(rules.flatMap((r) => (r.PrefixListId ? [r.PrefixListId] : [])))) {
    const list = (await reader.send(new DescribeManagedPrefixListsCommand({ PrefixListIds: [id] }))).PrefixLists?.[0];
    if (!list?.State?.endsWith('complete')) continue;
    for (const e of (await reader.send(new GetManagedPrefixListEntriesCommand({ PrefixListId: id }))).Entries ?? []) open.add(e.Cidr!);
  }
  return open;
}

/** Runs reconcile with a poller checking, before each write call and after the run, that every range is admitted. */
async function runWithPoller(config: IpRangesConfig, groupIds: string[]): Promise<{ target: TargetResult; checks: number; writes: string[] }> {
  const gaps: string[] = [];
  const writes: string[] = [];
  let checks = 0;
  const check = async (when: string) => {
    checks += 1;
    const open = await admitted(groupIds);
    const missing = CIDRS.filter((c) => !open.has(c));
    if (missing.length) gaps.push(`${when}: ${missing.length} ranges not admitted (${missing.slice(0, 3).join(', ')})`);
  };
  const name = `mode-switch-poller-${Math.random()}`;
  (ec2.middlewareStack as { add: (...args: any[]) => void }).add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      if (context.commandName && WRITES.has(context.commandName)) {
        await check(`before ${context.commandName} #${writes.length + 1}`);
        writes.push(context.commandName);
      }
      return next(args);
    },
    { step: 'initialize', name, priority: 'high' },
  );
  try {
    const events: AlertEvent[] = [];
    const deps: ReconcileDeps = { feeds: noFeeds, groups: new Ec2SecurityGroupStore(ec2, { clock }), alerts: { publish: async (e) => void events.push(e) }, clock, log: silentLog };
    const result = await reconcile(config, {}, deps);
    await check('after the run');
    expect(gaps).toEqual([]);
    return { target: result.targets[0], checks, writes };
  } finally {
    ec2.middlewareStack.remove(name);
  }
}

function target(name: string, groupIds: string[], listId: string, mode: 'rules' | 'prefix-list'): IpRangesConfig {
  return IpRangesSchema.parse({
    targets: [{ name, mode, ...(mode === 'prefix-list' ? { prefixListIds: [listId] } : {}), securityGroupIds: groupIds, ports: [443], sources: [{ type: 'static', cidrs: CIDRS }] }],
  });
}

async function ownedRuleCount(groupIds: string[], name: string): Promise<number> {
  const rules = (await reader.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: groupIds }] }))).SecurityGroupRules ?? [];
  return rules.filter((r) => !r.IsEgress && r.CidrIpv4 && r.Description?.startsWith(`origin-guard:${name}:`)).length;
}

describe('switch from rules to prefix-list mode without a gap', () => {
  it('on two full groups: swaps rules out in a batch, references the list, and never leaves a range unadmitted', async () => {
    // Arrange: 40 ranges owned as rules, 20 in each group beside 20 unowned rules; a list of MaxEntries 40, so a
    // reference (40) fits no group beside its current 40 rules (quota 60).
    const name = uniqueName('switch').toLowerCase();
    const groupIds = [await createGroup(), await createGroup()];
    for (const [i, g] of groupIds.entries()) {
      await authorize(g, Array.from({ length: 20 }, (_, k) => `10.${i}.${k}.0/24`), 'office', 22);
      await authorize(g, CIDRS.slice(i * 20, i * 20 + 20), `origin-guard:${name}:static`, 443);
    }
    const listId = (await ec2.send(new CreateManagedPrefixListCommand({ PrefixListName: uniqueName('og-switch'), AddressFamily: 'IPv4', MaxEntries: 40 }))).PrefixList!.PrefixListId!;
    const rules = await runWithPoller(target(name, groupIds, listId, 'rules'), groupIds);
    expect(rules.target.status).toBe('in-sync');

    // Act: switch, and run until in sync (each run is safe on its own), at most 4 runs.
    const runs: TargetResult[] = [];
    let checks = 0;
    for (let i = 0; i < 4; i++) {
      const run = await runWithPoller(target(name, groupIds, listId, 'prefix-list'), groupIds);
      expect(run.target.error).toBeUndefined();
      checks += run.checks;
      runs.push(run.target);
      if (run.target.status === 'in-sync') break;
    }

    // Assert: converged, every CIDR rule gone, both groups reference the list; the poller saw every write.
    expect(runs.at(-1)!.status).toBe('in-sync');
    expect(runs.length).toBeLessThanOrEqual(3);
    expect(runs[0].notes.join(' ')).toMatch(/copied to .* first/);
    expect(checks).toBeGreaterThan(6);
    expect(await ownedRuleCount(groupIds, name)).toBe(0);
    const refs = ((await reader.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: groupIds }] }))).SecurityGroupRules ?? []).filter((r) => r.PrefixListId === listId);
    expect(refs.map((r) => r.GroupId).sort()).toEqual([...groupIds].sort());
  });

  it('on one full group: holds, says how much room would make it safe, and switches once a spare group is added', async () => {
    // Arrange: one group with 20 unowned and the 40 owned rules: full, and no other group to move them to.
    const name = uniqueName('switch1').toLowerCase();
    const groupId = await createGroup();
    await authorize(groupId, Array.from({ length: 20 }, (_, k) => `10.9.${k}.0/24`), 'office', 22);
    await authorize(groupId, CIDRS, `origin-guard:${name}:static`, 443);
    const listId = (await ec2.send(new CreateManagedPrefixListCommand({ PrefixListName: uniqueName('og-switch'), AddressFamily: 'IPv4', MaxEntries: 40 }))).PrefixList!.PrefixListId!;

    // Act 1: the switch with only the full group.
    const held = await runWithPoller(target(name, [groupId], listId, 'prefix-list'), [groupId]);

    // Assert 1: the list is filled, no rule removed, and the note says what would make the change safe.
    expect(held.target.status).toBe('changes');
    expect(held.target.notes.join(' ')).toMatch(/add a spare security group with 40 free rules to securityGroupIds, or raise the quota and maxRulesPerGroup by 40/);
    expect(held.writes).toEqual(['ModifyManagedPrefixListCommand']);
    expect(await ownedRuleCount([groupId], name)).toBe(40);
    // The next run has nothing it may do: held, with a finding that says why (not a removal-fraction message).
    const again = await runWithPoller(target(name, [groupId], listId, 'prefix-list'), [groupId]);
    expect(again.target.status).toBe('held');
    expect(again.writes).toEqual([]);
    expect(again.target.findings.find((f) => f.checkId === 'reconcile.removal-held')?.message).toMatch(/waits until .* admits the same ranges/);

    // Act 2: a spare group is added to the target.
    const spare = await createGroup();
    const groupIds = [groupId, spare];
    const runs: TargetResult[] = [];
    for (let i = 0; i < 3; i++) {
      const run = await runWithPoller(target(name, groupIds, listId, 'prefix-list'), groupIds);
      runs.push(run.target);
      if (run.target.status === 'in-sync') break;
    }
    expect(runs.at(-1)!.status).toBe('in-sync');
    expect(await ownedRuleCount(groupIds, name)).toBe(0);
  });
});

describe('order of writes across groups', () => {
  it('revokes first only in groups that must make room, adds there, and revokes elsewhere last', async () => {
    // Arrange: X is evicted from A (A keeps its other rules) and re-placed into B, which must first drop Y.
    const [a, b] = [await createGroup(), await createGroup()];
    const owned = 'origin-guard:order:static';
    await authorize(a, ['198.19.1.0/24'], owned, 443);
    await authorize(b, ['198.19.2.0/24'], owned, 443);
    const rules = ((await reader.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [a, b] }] }))).SecurityGroupRules ?? []).filter((r) => !r.IsEgress);
    const idOf = (cidr: string) => rules.find((r) => r.CidrIpv4 === cidr)!.SecurityGroupRuleId!;
    const rule = (cidr: string, ruleId?: string) => ({ cidr, protocol: 'tcp', fromPort: 443, toPort: 443, description: owned, ...(ruleId ? { ruleId } : {}) });
    const use = { before: 1, after: 1, unowned: 0, quota: 60 };
    const group = (groupId: string, add: ReturnType<typeof rule>[], remove: ReturnType<typeof rule>[], removeFirst: boolean) => ({
      groupId, add, remove, adopt: [], matchedUnowned: 0, rulesBefore: 1, rulesAfter: 1, unowned: 0, quota: 60, removeFirst, families: { ipv4: use, ipv6: { ...use, before: 0, after: 0 } },
    });
    const plan = {
      target: 'order', status: 'changes' as const, held: false, desiredCount: 1, ownedCount: 2, staleCount: 1, removalFraction: 0.5, capacity: 120, groupsNeeded: 0, notes: [],
      groups: [group(a, [], [rule('198.19.1.0/24', idOf('198.19.1.0/24'))], false), group(b, [rule('198.19.1.0/24')], [rule('198.19.2.0/24', idOf('198.19.2.0/24'))], true)],
    };
    const order: string[] = [];
    const name = `order-recorder-${Math.random()}`;
    (ec2.middlewareStack as { add: (...args: any[]) => void }).add(
      (next: (args: any) => Promise<unknown>, context: { commandName?: string }) => async (args: any) => {
        if (context.commandName && WRITES.has(context.commandName)) order.push(`${context.commandName.replace(/SecurityGroupIngressCommand$/, '')} ${args.input.GroupId === a ? 'A' : 'B'}`);
        return next(args);
      },
      { step: 'initialize', name, priority: 'high' },
    );
    try {
      // Act
      const config = IpRangesSchema.parse({ targets: [{ name: 'order', securityGroupIds: [a, b], ports: [443], sources: [{ type: 'static', cidrs: ['198.19.1.0/24'] }] }] });
      await new Ec2SecurityGroupStore(ec2, { clock }).apply(config.targets[0], plan);
    } finally {
      ec2.middlewareStack.remove(name);
    }
    // Assert: 198.19.1.0/24 is admitted by A until B holds it.
    expect(order).toEqual(['Revoke B', 'Authorize B', 'Revoke A']);
  });
});
