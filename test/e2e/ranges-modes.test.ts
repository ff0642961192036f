/**
 * Issue 12 under traffic: adopting hand-made rules, and switching a target from rules to prefix-list mode on
 * full groups, while clients come from every published CloudFront origin-facing range. The gateway admits a
 * source only if the security groups allow it on 443 as AWS would: a CIDR rule, or a reference to a prefix list
 * that holds it (counted only once the list's change is complete). The view is re-read after every write of the
 * reconciler and every address is tried (a sweep) before it goes on. Only the harness's public API is used.
 */
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateManagedPrefixListCommand,
  DescribeManagedPrefixListsCommand,
  DescribeSecurityGroupRulesCommand,
  GetManagedPrefixListEntriesCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { Ec2SecurityGroupStore } from '../../lambdas/adapters/ec2-security-groups.ts';
import { IpRangesSchema, type IpRangesConfig } from '../../lambdas/config.ts';
import { systemClock } from '../../lambdas/core/ports.ts';
import { reconcile, type TargetResult } from '../../lambdas/core/reconcile.ts';
import { SOURCE_HEADER } from './harness/http.ts';
import { AddressPool, originFacingHistory } from './harness/ranges.ts';
import { expectNoRejections, runScenario } from './harness/scenario.ts';
import { SCENARIO_TIMEOUT_MS as TIMEOUT, scenarioSuite } from './harness/suite.ts';
import type { World } from './harness/world.ts';

const GROUP = 'ranges';
const withWorld = scenarioSuite(2);
const TARGET = 'gateway-alb';
const OWNED = `origin-guard:${TARGET}:static`;
const WRITES = new Set(['AuthorizeSecurityGroupIngressCommand', 'RevokeSecurityGroupIngressCommand', 'ModifyManagedPrefixListCommand', 'ModifySecurityGroupRulesCommand']);
/** The latest published origin-facing IPv4 ranges (46). */
const RANGES = originFacingHistory().at(-1)!.cidrs.filter((c) => !c.includes(':'));

/** What the groups admit on 443 as AWS evaluates it: CIDR rules and references to lists whose change is complete. */
class AdmissionView {
  private nets: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]> = [];
  refreshes = 0;
  constructor(
    private readonly ec2: EC2Client,
    private readonly groupIds: string[],
  ) {}

  async refresh(): Promise<void> {
    const out = await this.ec2.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: this.groupIds }], MaxResults: 1000 }));
    const on443 = (out.SecurityGroupRules ?? []).filter((r) => !r.IsEgress && (r.IpProtocol === '-1' || (r.IpProtocol === 'tcp' && (r.FromPort ?? 0) <= 443 && 443 <= (r.ToPort ?? 0))));
    const cidrs = on443.flatMap((r) => (r.CidrIpv4 ?? r.CidrIpv6 ? [(r.CidrIpv4 ?? r.CidrIpv6)!] : []));
    for (const id of new Set(on443.flatMap((r) => (r.PrefixListId ? [r.PrefixListId] : [])))) {
      const list = (await this.ec2.send(new DescribeManagedPrefixListsCommand({ PrefixListIds: [id] }))).PrefixLists?.[0];
      if (!list?.State?.endsWith('complete')) continue;
      for (const e of (await this.ec2.send(new GetManagedPrefixListEntriesCommand({ PrefixListId: id, MaxResults: 100 }))).Entries ?? []) cidrs.push(e.Cidr!);
    }
    this.nets = cidrs.map((c) => ipaddr.parseCIDR(c));
    this.refreshes += 1;
  }

  allows(address: string): boolean {
    const parsed = ipaddr.parse(address);
    return this.nets.some(([network, bits]) => network.kind() === parsed.kind() && parsed.match(network, bits));
  }
}

/** Points the gateway and the edges at the ranges, and re-reads and sweeps after every write of the product's EC2 client. */
async function underTraffic(world: World, groupIds: string[]) {
  const view = new AdmissionView(world.clients.ec2(), groupIds);
  await view.refresh();
  const pool = new AddressPool([RANGES]);
  world.gateway.sourceCheck = (address) => view.allows(address);
  world.fleet.setSourceAddresses(() => pool.pick());
  world.forgedSource = () => pool.pick();
  const writes: string[] = [];
  const sweep = async () => {
    const stream = world.legit;
    if (!stream) return;
    const urls = world.fleet.urls;
    await Promise.all(pool.sweep.map((address, i) => stream.sendNow({ url: `${urls[i % urls.length]}/api/sweep/${i}`, headers: { [SOURCE_HEADER]: address } })));
  };
  const name = `e2e-modes-${Math.random().toString(36).slice(2)}`;
  const stack = world.rotationClients.ec2().middlewareStack as unknown as { add: (...args: any[]) => void; remove: (name: string) => boolean };
  stack.add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      const result = await next(args);
      if (context.commandName && WRITES.has(context.commandName)) {
        writes.push(context.commandName);
        await view.refresh();
        await sweep();
      }
      return result;
    },
    { step: 'initialize', name, priority: 'low' },
  );
  const timer = setInterval(() => void view.refresh().catch(() => {}), 500);
  return {
    view,
    writes,
    close() {
      clearInterval(timer);
      stack.remove(name);
      world.gateway.sourceCheck = undefined;
    },
  };
}

function config(groupIds: string[], extra: Record<string, unknown>): IpRangesConfig {
  return IpRangesSchema.parse({ targets: [{ name: TARGET, securityGroupIds: groupIds, ports: [443], sources: [{ type: 'static', cidrs: RANGES }], ...extra }] });
}

async function authorize(world: World, groupId: string, cidrs: string[], description: string, port: number) {
  await world.clients.ec2().send(
    new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: port, ToPort: port, IpRanges: cidrs.map((CidrIp) => ({ CidrIp, Description: description })) }] }),
  );
}

async function reconcileOnce(world: World, ipRanges: IpRangesConfig, options: { adopt?: boolean } = {}): Promise<TargetResult> {
  const deps = { feeds: { fetchText: async () => '', konnectConfigurations: async () => [] }, groups: new Ec2SecurityGroupStore(world.rotationClients.ec2(), { log: world.log }), alerts: world.alerts, clock: systemClock, log: world.log };
  const t = (await reconcile(ipRanges, options, deps)).targets[0];
  expect(t.error).toBeUndefined();
  return t;
}

describe('range mode changes under traffic', () => {
  it('adoption of hand-made rules for the same ranges: no legitimate request refused, nothing re-added', async () => {
    await withWorld({}, async (world) => {
      // Arrange: the ranges were kept by hand (the SG-updater sample's description) in the second group.
      const groupIds = world.seeded.securityGroupIds;
      await authorize(world, groupIds[1], RANGES, 'CloudFront', 443);
      const traffic = await underTraffic(world, groupIds);
      try {
        let outcome: TargetResult | undefined;
        const result = await runScenario(world, { group: GROUP, scenario: 'adoption of 46 hand-made CloudFront rules (reconcile --adopt)' }, async ({ note }) => {
          outcome = await reconcileOnce(world, config(groupIds, {}), { adopt: true });
          note(`adopted ${outcome.groups.reduce((n, g) => n + (g.adopt?.length ?? 0), 0)} rules; writes ${JSON.stringify(outcome.writes)}`);
        });
        // The property under test first: no request refused by the security groups; then no refusal at all.
        expect(Object.keys(result.rejectedBy).filter((k) => k.startsWith('alb-sg'))).toEqual([]);
        expectNoRejections(world, result);
        expect(outcome!.writes).toMatchObject({ authorize: 0, revoke: 0, modify: 1 });
        expect(traffic.writes).toEqual(['ModifySecurityGroupRulesCommand']);
        const rules = (await world.clients.ec2().send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: groupIds }] }))).SecurityGroupRules ?? [];
        expect(rules.filter((r) => r.Description === OWNED).map((r) => r.CidrIpv4).sort()).toEqual([...RANGES].sort());
      } finally {
        traffic.close();
      }
    });
  }, TIMEOUT);

  it('switch from rules to prefix-list mode on full groups: no legitimate request refused at any step', async () => {
    await withWorld({}, async (world) => {
      // Arrange: two groups, each with 10 unowned rules and half the ranges as owned rules: a reference to the
      // list (46 entries) fits neither beside its rules (quota 60), but fits each once the rules are gone.
      const groupIds = world.seeded.securityGroupIds.slice(0, 2);
      await authorize(world, groupIds[0], Array.from({ length: 9 }, (_, k) => `10.98.${k}.0/24`), 'office', 22);
      await authorize(world, groupIds[1], Array.from({ length: 10 }, (_, k) => `10.97.${k}.0/24`), 'office', 22);
      await authorize(world, groupIds[0], RANGES.slice(0, 23), OWNED, 443);
      await authorize(world, groupIds[1], RANGES.slice(23), OWNED, 443);
      const listId = (await world.clients.ec2().send(new CreateManagedPrefixListCommand({ PrefixListName: `og-e2e-${Math.random().toString(36).slice(2)}`, AddressFamily: 'IPv4', MaxEntries: RANGES.length }))).PrefixList!.PrefixListId!;
      const traffic = await underTraffic(world, world.seeded.securityGroupIds);
      try {
        const outcomes: TargetResult[] = [];
        const result = await runScenario(world, { group: GROUP, scenario: 'switch from rules to prefix-list mode on two full groups (make-before-break)' }, async ({ note }) => {
          for (let run = 0; run < 4; run++) {
            const t = await reconcileOnce(world, config(groupIds, { mode: 'prefix-list', prefixListIds: [listId] }));
            outcomes.push(t);
            if (t.status === 'in-sync') break;
          }
          note(`${outcomes.length} runs (${outcomes.map((o) => o.status).join(', ')}), ${traffic.writes.length} writes, view re-read ${traffic.view.refreshes}×`);
        });
        // The property under test first: no request refused by the security groups; then no refusal at all.
        expect(Object.keys(result.rejectedBy).filter((k) => k.startsWith('alb-sg'))).toEqual([]);
        expectNoRejections(world, result);
        expect(outcomes.at(-1)!.status).toBe('in-sync');
        const rules = (await world.clients.ec2().send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: groupIds }] }))).SecurityGroupRules ?? [];
        expect(rules.filter((r) => r.Description === OWNED && r.CidrIpv4)).toEqual([]);
        expect(rules.filter((r) => r.PrefixListId === listId).map((r) => r.GroupId).sort()).toEqual([...groupIds].sort());
      } finally {
        traffic.close();
      }
    });
  }, TIMEOUT);
});
