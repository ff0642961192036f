/**
 * Range changes under traffic. The published `CLOUDFRONT_ORIGIN_FACING` versions of
 * test/fixtures/cloudfront-history.jsonl are replayed one by one as an `ip-ranges.json` file (the product's
 * `aws` source reads it by `file://`), and the real reconcile core and EC2 adapter bring the gateway's
 * security groups (in moto) to each version.
 *
 * Source addresses are simulated: each edge request carries the address it comes from, and the gateway lets
 * it in only if the security groups (DescribeSecurityGroupRules on moto) allow it on 443. While version k+1
 * is applied, clients come from addresses allowed by both k and k+1 (edges do not use a range before it is
 * published, nor after it is withdrawn); once applied, from anywhere in k+1. The security-group view is
 * refreshed right after every rule write of the reconciler (SDK middleware on its EC2 client, which also waits
 * for a sweep: one request from each address that must stay allowed), so every intermediate state is seen
 * by traffic, not only the ones a poller happens to catch.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DescribeSecurityGroupRulesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import ipaddr from 'ipaddr.js';
import { expect } from 'vitest';
import { Ec2SecurityGroupStore } from '../../../lambdas/adapters/ec2-security-groups.ts';
import { HttpIpFeeds } from '../../../lambdas/adapters/ip-feeds.ts';
import type { IpRangesConfig } from '../../../lambdas/config.ts';
import { canonicalCidr } from '../../../lambdas/core/cidr.ts';
import { systemClock } from '../../../lambdas/core/ports.ts';
import { ownerPrefix } from '../../../lambdas/core/range-planner.ts';
import { reconcile, type SecurityGroupStorePort, type TargetResult } from '../../../lambdas/core/reconcile.ts';
import { SOURCE_HEADER } from './http.ts';
import type { World } from './world.ts';

const HISTORY = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'cloudfront-history.jsonl');
const SERVICE = 'CLOUDFRONT_ORIGIN_FACING';
const PORT = 443;

export interface RangeVersion {
  syncToken: string;
  createDate: string;
  cidrs: string[];
}

/** The distinct non-empty versions of the origin-facing ranges, oldest first. */
export function originFacingHistory(): RangeVersion[] {
  const versions: RangeVersion[] = [];
  for (const line of readFileSync(resolve(HISTORY), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const entry = JSON.parse(line) as { syncToken: string; createDate: string; [SERVICE]?: { ipv4: string[]; ipv6: string[] } };
    const set = entry[SERVICE];
    const cidrs = [...(set?.ipv4 ?? []), ...(set?.ipv6 ?? [])].map((c) => canonicalCidr(c)!).sort();
    if (cidrs.length === 0) continue;
    const last = versions.at(-1);
    if (last && last.cidrs.join() === cidrs.join()) continue;
    versions.push({ syncToken: entry.syncToken, createDate: entry.createDate, cidrs });
  }
  return versions;
}

function ipRangesFile(version: RangeVersion): string {
  const v4 = version.cidrs.filter((c) => !c.includes(':'));
  const v6 = version.cidrs.filter((c) => c.includes(':'));
  return JSON.stringify({
    syncToken: version.syncToken,
    createDate: version.createDate,
    prefixes: v4.map((ip_prefix) => ({ ip_prefix, region: 'GLOBAL', service: SERVICE, network_border_group: 'GLOBAL' })),
    ipv6_prefixes: v6.map((ipv6_prefix) => ({ ipv6_prefix, region: 'GLOBAL', service: SERVICE, network_border_group: 'GLOBAL' })),
  });
}

// ---------- addresses ----------

type Net = [ipaddr.IPv4 | ipaddr.IPv6, number];
const parsedNets = new Map<string, Net>();
function net(cidr: string): Net {
  let parsed = parsedNets.get(cidr);
  if (!parsed) parsedNets.set(cidr, (parsed = ipaddr.parseCIDR(cidr)));
  return parsed;
}

function inAny(address: string, cidrs: readonly string[]): boolean {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address);
  } catch {
    return false;
  }
  return cidrs.some((c) => {
    const [network, bits] = net(c);
    return network.kind() === parsed.kind() && parsed.match(network, bits);
  });
}

function randomAddressIn(cidr: string): string {
  const [network, bits] = net(cidr);
  const bytes = network.toByteArray();
  for (let i = bits; i < bytes.length * 8; i++) if (Math.random() < 0.5) bytes[i >> 3] |= 0x80 >> (i & 7);
  return ipaddr.fromByteArray(bytes).toString();
}

function firstAddress(cidr: string): string {
  return net(cidr)[0].toString();
}

/** Addresses allowed by every one of `sets`: random ones for traffic, one per range for sweeps. */
export class AddressPool {
  readonly sweep: string[];
  private readonly candidates: string[];

  constructor(private readonly sets: string[][]) {
    const all = [...new Set(sets.flat())];
    this.candidates = all;
    this.sweep = [...new Set(all.map(firstAddress))].filter((a) => this.allowedByAll(a));
    if (this.sweep.length === 0) throw new Error('no address is allowed by every set');
  }

  private allowedByAll(address: string): boolean {
    return this.sets.every((set) => inAny(address, set));
  }

  /** A random address allowed by every set (bounded tries, then one of the sweep addresses). */
  pick(): string {
    for (let i = 0; i < 20; i++) {
      const address = randomAddressIn(this.candidates[Math.floor(Math.random() * this.candidates.length)]);
      if (this.allowedByAll(address)) return address;
    }
    return this.sweep[Math.floor(Math.random() * this.sweep.length)];
  }
}

// ---------- the security groups as the gateway sees them ----------

export class SecurityGroupView {
  private cidrs: string[] = [];
  owned: string[] = [];
  unrelated: string[] = [];
  refreshes = 0;

  constructor(
    private readonly ec2: EC2Client,
    private readonly groupIds: string[],
    private readonly target: string,
  ) {}

  async refresh(): Promise<void> {
    const out = await this.ec2.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: this.groupIds }], MaxResults: 1000 }));
    const rules = (out.SecurityGroupRules ?? []).filter((r) => !r.IsEgress && this.groupIds.includes(r.GroupId ?? ''));
    const on443 = rules.filter((r) => r.IpProtocol === '-1' || (r.IpProtocol === 'tcp' && (r.FromPort ?? 0) <= PORT && PORT <= (r.ToPort ?? 0)));
    this.cidrs = on443.map((r) => (r.CidrIpv4 ?? r.CidrIpv6)!).filter(Boolean);
    this.owned = rules.filter((r) => r.Description?.startsWith(ownerPrefix(this.target))).map((r) => canonicalCidr((r.CidrIpv4 ?? r.CidrIpv6)!)!).sort();
    this.unrelated = rules.filter((r) => !r.Description?.startsWith(ownerPrefix(this.target))).map((r) => `${r.IpProtocol}/${r.FromPort}-${r.ToPort} ${r.CidrIpv4 ?? r.CidrIpv6} ${r.Description ?? ''}`);
    this.refreshes += 1;
  }

  allows(address: string): boolean {
    return inAny(address, this.cidrs);
  }
}

// ---------- the replay ----------

export interface RangeReplay {
  versions: RangeVersion[];
  view: SecurityGroupView;
  /** Applies versions 2..n under traffic; returns each reconcile's outcome. */
  replay(): Promise<TargetResult[]>;
  /** Final-state checks: the owned rules are the last version's ranges; the unrelated rule is untouched. */
  expectFinalRules(): Promise<void>;
  close(): void;
}

/**
 * Applies the first published version (before traffic: nothing was allowed before it), points the gateway's
 * security-group check and the edges' source addresses at it, and returns the replay of the later versions.
 */
export interface RangeReplayOptions {
  /** Only the first n versions. */
  versions?: number;
  /** The target's removal guard (default: as seeded, 0.3, which holds the 2021 shrink for one version). */
  maxRemovalFraction?: number;
  /** Wraps the product's security-group store (the broken-ordering test swaps its order of writes). */
  wrapGroups?: (store: SecurityGroupStorePort) => SecurityGroupStorePort;
}

export async function prepareRangeReplay(world: World, options: RangeReplayOptions = {}): Promise<RangeReplay> {
  const all = originFacingHistory();
  const versions = options.versions ? all.slice(0, options.versions) : all;
  const dir = mkdtempSync(join(tmpdir(), 'og-e2e-ranges-'));
  const file = join(dir, 'ip-ranges.json');
  const target = world.config.ipRanges!.targets[0];
  const config: IpRangesConfig = {
    ...world.config.ipRanges!,
    targets: [
      {
        ...target,
        ports: [PORT],
        maxRemovalFraction: options.maxRemovalFraction ?? target.maxRemovalFraction,
        sources: [{ type: 'aws', services: [SERVICE], url: pathToFileURL(file).href }],
      },
    ],
  };
  const store = new Ec2SecurityGroupStore(world.rotationClients.ec2(), { log: world.log });
  const reconcileDeps = {
    feeds: new HttpIpFeeds(),
    groups: options.wrapGroups ? options.wrapGroups(store) : store,
    alerts: world.alerts,
    clock: systemClock,
    log: world.log,
  };
  const applyVersion = async (version: RangeVersion): Promise<TargetResult> => {
    writeFileSync(file, ipRangesFile(version));
    const result = await reconcile(config, {}, reconcileDeps);
    const outcome = result.targets[0];
    expect(outcome.error, `reconcile of ${version.syncToken}`).toBeUndefined();
    expect(outcome.applied, `reconcile of ${version.syncToken} applied`).toBe(true);
    return outcome;
  };

  const view = new SecurityGroupView(world.clients.ec2(), target.securityGroupIds, target.name);
  await applyVersion(versions[0]);
  await view.refresh();
  const unrelatedBefore = [...view.unrelated];
  let pool = new AddressPool([versions[0].cidrs]);
  world.gateway.sourceCheck = (address) => view.allows(address);
  world.fleet.setSourceAddresses(() => pool.pick());
  world.forgedSource = () => pool.pick();

  /** One request from each address that must be allowed now, through the edges. */
  const sweep = async () => {
    const stream = world.legit;
    if (!stream) return;
    const urls = world.fleet.urls;
    await Promise.all(pool.sweep.map((address, i) => stream.sendNow({ url: `${urls[i % urls.length]}/api/sweep/${i}`, headers: { [SOURCE_HEADER]: address } })));
  };
  // After every rule write of the reconciler: the gateway sees the new rules, and every address that must stay
  // allowed is tried before the reconciler goes on.
  const middlewareName = `e2e-sg-sweep-${Math.random().toString(36).slice(2)}`;
  const stack = world.rotationClients.ec2().middlewareStack as unknown as { add: (...args: any[]) => void; remove: (name: string) => boolean };
  stack.add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      const result = await next(args);
      if (context.commandName === 'AuthorizeSecurityGroupIngressCommand' || context.commandName === 'RevokeSecurityGroupIngressCommand') {
        await view.refresh();
        await sweep();
      }
      return result;
    },
    { step: 'initialize', name: middlewareName, priority: 'low' },
  );
  const timer = setInterval(() => void view.refresh().catch(() => {}), 500);

  return {
    versions,
    view,
    async replay() {
      const outcomes: TargetResult[] = [];
      for (let k = 1; k < versions.length; k++) {
        pool = new AddressPool([versions[k - 1].cidrs, versions[k].cidrs]);
        outcomes.push(await applyVersion(versions[k]));
        await view.refresh();
        pool = new AddressPool([versions[k].cidrs]);
        await sweep();
      }
      return outcomes;
    },
    async expectFinalRules() {
      await view.refresh();
      expect(view.owned, 'owned rules are the last published version').toEqual([...versions.at(-1)!.cidrs].sort());
      expect(view.unrelated, 'rules origin-guard does not own are untouched').toEqual(unrelatedBefore);
    },
    close() {
      clearInterval(timer);
      stack.remove(middlewareName);
      world.gateway.sourceCheck = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
