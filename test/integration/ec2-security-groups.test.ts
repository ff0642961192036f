/**
 * The security-group adapter on its own, against moto_server (started per-family by the global setup): what `read`
 * returns, what `apply` writes, the state tags, release, errors and retries. Fast on purpose: Stryker judges the
 * adapter's mutants with this file (test/mutation/vitest-config.ts), not with the reconciler's integration tests.
 */
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateManagedPrefixListCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeManagedPrefixListsCommand,
  DescribeSecurityGroupRulesCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  GetManagedPrefixListEntriesCommand,
  RevokeSecurityGroupIngressCommand,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { IpRangeTargetSchema, type IpRangeTargetConfig } from '../../lambdas/config.ts';
import {
  decodeHeld,
  Ec2SecurityGroupStore,
  encodeHeld,
  isThrottling,
  prefixListSizes,
  stateTagKeys,
  toIpPermissions,
} from '../../lambdas/adapters/ec2-security-groups.ts';
import { TargetError } from '../../lambdas/core/errors.ts';
import type { Clock, LogPort } from '../../lambdas/core/ports.ts';
import { PREFIX_LIST_ENTRY, type GroupPlan, type ObservedRule, type PlannedRule, type RulePlan } from '../../lambdas/core/range-planner.ts';
import { emulatorClientConfig, uniqueName } from '../support/aws.ts';
import { injectFault, recordCalls, serviceError } from '../support/faults.ts';

const ec2 = new EC2Client(emulatorClientConfig());
let vpcId: string;

beforeAll(async () => {
  vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.40.0.0/16' }))).Vpc!.VpcId!;
});

// ---------- helpers ----------

/** A clock that records sleeps and advances by them; `now` starts at a fixed instant. */
function fakeClock(advancePerSleep?: number): Clock & { sleeps: number[] } {
  let t = Date.parse('2026-01-01T00:00:00Z');
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => new Date(t),
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += advancePerSleep ?? ms;
    },
  };
}

function recordingLog(): LogPort & { lines: Array<{ level: string; message: string; extra: Record<string, unknown>[] }> } {
  const lines: Array<{ level: string; message: string; extra: Record<string, unknown>[] }> = [];
  const at = (level: string) => (message: string, ...extra: Record<string, unknown>[]) => void lines.push({ level, message, extra });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

function store(options: { clock?: Clock; log?: LogPort; maxAttempts?: number; baseDelayMs?: number; maxDelayMs?: number } = {}) {
  return new Ec2SecurityGroupStore(ec2, { clock: fakeClock(), ...options });
}

async function newGroup(): Promise<string> {
  const { GroupId } = await ec2.send(new CreateSecurityGroupCommand({ GroupName: uniqueName('og-sg'), Description: 'adapter test', VpcId: vpcId }));
  return GroupId!;
}

async function newList(family: 'IPv4' | 'IPv6', maxEntries: number, entries: Array<{ Cidr: string; Description?: string }> = []): Promise<string> {
  const out = await ec2.send(
    new CreateManagedPrefixListCommand({ PrefixListName: uniqueName('og-pl'), AddressFamily: family, MaxEntries: maxEntries, ...(entries.length ? { Entries: entries } : {}) }),
  );
  return out.PrefixList!.PrefixListId!;
}

async function authorize(groupId: string, perms: IpPermission[]): Promise<void> {
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: perms }));
}

function target(groupIds: string[], extra: Record<string, unknown> = {}): IpRangeTargetConfig {
  return IpRangeTargetSchema.parse({ name: uniqueName('t'), securityGroupIds: groupIds, ports: [443], sources: [{ type: 'static', cidrs: ['192.0.2.0/24'] }], ...extra });
}

function rule(cidr: string, description = `origin-guard:t:static`, port = 443, protocol = 'tcp'): PlannedRule {
  return { protocol, fromPort: port, toPort: port, cidr, description };
}

/** A rule read from EC2 as a plan names it (removal, adoption): with its id. */
function planned(r: ObservedRule, description = r.description ?? ''): PlannedRule {
  return { ...r, cidr: r.cidr!, description };
}

function group(groupId: string, parts: Partial<GroupPlan> = {}): GroupPlan {
  const use = { before: 0, after: 0, unowned: 0, quota: 60 };
  return {
    groupId,
    add: [],
    remove: [],
    adopt: [],
    matchedUnowned: 0,
    rulesBefore: 0,
    rulesAfter: 0,
    unowned: 0,
    quota: 60,
    families: { ipv4: { ...use }, ipv6: { ...use } },
    removeFirst: false,
    ...parts,
  };
}

function plan(groups: GroupPlan[], status: RulePlan['status'] = 'changes'): RulePlan {
  return {
    target: 't',
    status,
    groups,
    held: false,
    desiredCount: 0,
    ownedCount: 0,
    staleCount: 0,
    removalFraction: 0,
    capacity: 60,
    groupsNeeded: 0,
    notes: [],
  };
}

interface Raw {
  id: string;
  text: string;
}

/** The ingress rules of a group as EC2 holds them, one line each: `proto from-to source description`. */
async function rulesOf(groupId: string): Promise<Raw[]> {
  const out = await ec2.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [groupId] }] }));
  return (out.SecurityGroupRules ?? [])
    .filter((r) => !r.IsEgress)
    .map((r) => ({
      id: r.SecurityGroupRuleId!,
      text: `${r.IpProtocol} ${r.FromPort}-${r.ToPort} ${r.CidrIpv4 ?? r.CidrIpv6 ?? r.PrefixListId ?? r.ReferencedGroupInfo?.GroupId} ${r.Description ?? '-'}`,
    }))
    .sort((a, b) => a.text.localeCompare(b.text));
}

const texts = async (groupId: string) => (await rulesOf(groupId)).map((r) => r.text);

async function tagsOf(groupId: string): Promise<Record<string, string>> {
  const out = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
  return Object.fromEntries((out.SecurityGroups?.[0]?.Tags ?? []).map((t) => [t.Key!, t.Value!]));
}

async function entriesOf(listId: string): Promise<string[]> {
  const out = await ec2.send(new GetManagedPrefixListEntriesCommand({ PrefixListId: listId }));
  return (out.Entries ?? []).map((e) => `${e.Cidr} ${e.Description ?? '-'}`).sort();
}

type Middleware = (next: (args: any) => Promise<any>, context: { commandName?: string }) => (args: any) => Promise<any>;

/** Rewrites the output (and optionally the input) of one command on the real client; returns a remover. */
function rewrite(
  command: string,
  change: (output: any, call: number, input: any) => void,
  onInput?: (input: any, call: number) => void,
  options: { replayAfterFirst?: boolean } = {},
): () => void {
  const name = uniqueName('rewrite');
  let calls = 0;
  let first: any;
  const mw: Middleware = (next, context) => async (args) => {
    if (context.commandName !== command) return next(args);
    calls += 1;
    onInput?.(args.input, calls);
    // An endless pager: later pages repeat the first real answer instead of asking moto again (fast).
    const result = options.replayAfterFirst && first ? { output: structuredClone(first), response: {} } : await next(args);
    if (options.replayAfterFirst && !first) first = structuredClone(result.output);
    change(result.output, calls, args.input);
    return result;
  };
  ec2.middlewareStack.add(mw as any, { step: 'initialize', name, priority: 'low' });
  return () => void ec2.middlewareStack.remove(name);
}

const names = (calls: Array<{ command: string }>) => calls.map((c) => c.command.replace(/Command$/, ''));

async function caught(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

// ---------- pure helpers ----------

describe('stateTagKeys / encodeHeld / decodeHeld', () => {
  it('names the two state tags after the target', () => {
    expect(stateTagKeys('web')).toStrictEqual({ syncToken: 'origin-guard:web:syncToken', held: 'origin-guard:web:held' });
  });

  it('encodes a held shrink as fingerprint@syncToken[@since@runs]', () => {
    expect(encodeHeld(undefined)).toBeUndefined();
    expect(encodeHeld({ fingerprint: 'f1', syncToken: '123' })).toBe('f1@123');
    expect(encodeHeld({ fingerprint: 'f1' })).toBe('f1@');
    expect(encodeHeld({ fingerprint: 'f1', since: '2026-01-01T00:00:00.000Z', runs: 3 })).toBe('f1@@2026-01-01T00:00:00.000Z@3');
    expect(encodeHeld({ fingerprint: 'f1', syncToken: '9', since: '2026-01-01T00:00:00.000Z' })).toBe('f1@9@2026-01-01T00:00:00.000Z@1');
  });

  it('decodes every shape it writes and the older two-field one, dropping what is empty or not a positive integer', () => {
    expect(decodeHeld(undefined)).toBeUndefined();
    expect(decodeHeld('')).toBeUndefined();
    expect(decodeHeld('@123')).toBeUndefined();
    expect(decodeHeld('f1')).toStrictEqual({ fingerprint: 'f1' });
    expect(decodeHeld('f1@')).toStrictEqual({ fingerprint: 'f1' });
    expect(decodeHeld('f1@123')).toStrictEqual({ fingerprint: 'f1', syncToken: '123' });
    expect(decodeHeld('f1@@2026-01-01T00:00:00.000Z@3')).toStrictEqual({ fingerprint: 'f1', since: '2026-01-01T00:00:00.000Z', runs: 3 });
    expect(decodeHeld('f1@7@s@2')).toStrictEqual({ fingerprint: 'f1', syncToken: '7', since: 's', runs: 2 });
    expect(decodeHeld('f1@7@s@0')).toStrictEqual({ fingerprint: 'f1', syncToken: '7', since: 's' });
    expect(decodeHeld('f1@7@s@-2')).toStrictEqual({ fingerprint: 'f1', syncToken: '7', since: 's' });
    expect(decodeHeld('f1@7@s@1.5')).toStrictEqual({ fingerprint: 'f1', syncToken: '7', since: 's' });
    expect(decodeHeld('f1@7@s@x')).toStrictEqual({ fingerprint: 'f1', syncToken: '7', since: 's' });
    expect(decodeHeld('f1@7@s')).toStrictEqual({ fingerprint: 'f1', syncToken: '7', since: 's' });
    expect(decodeHeld('f1@7@@4')).toStrictEqual({ fingerprint: 'f1', syncToken: '7' });
    const held = { fingerprint: 'abc', syncToken: '5', since: '2026-02-03T04:05:06.000Z', runs: 4 };
    expect(decodeHeld(encodeHeld(held))).toStrictEqual(held);
  });
});

describe('isThrottling', () => {
  it('knows EC2 and SDK throttling names and the SDK retry flag, and nothing else', () => {
    for (const name of ['Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException', 'RequestThrottled', 'ServiceUnavailable']) {
      expect(isThrottling(serviceError(name)), name).toBe(true);
    }
    expect(isThrottling(Object.assign(new Error('x'), { name: 'Whatever', $retryable: { throttling: true } }))).toBe(true);
    expect(isThrottling(Object.assign(new Error('x'), { name: 'Whatever', $retryable: { throttling: false } }))).toBe(false);
    expect(isThrottling(Object.assign(new Error('x'), { $retryable: {} }))).toBe(false);
    expect(isThrottling(serviceError('InvalidPermission.Duplicate'))).toBe(false);
    expect(isThrottling({ Code: 'Throttling' })).toBe(false);
    expect(isThrottling(undefined)).toBe(false);
    expect(isThrottling(null)).toBe(false);
    expect(isThrottling({})).toBe(false);
  });
});

describe('toIpPermissions', () => {
  it('makes one permission per protocol and port range, IPv4, IPv6 and prefix lists batched with their descriptions', () => {
    const perms = toIpPermissions([
      rule('192.0.2.0/24', 'a'),
      rule('2001:db8::/32', 'b'),
      rule('198.51.100.0/24', 'c'),
      rule('pl-0123abcd', 'd'),
      rule('203.0.113.0/24', 'e', 80),
      rule('2001:db8:1::/48', 'f', 443, 'udp'),
      { protocol: 'tcp', fromPort: 8000, toPort: 8080, cidr: '192.0.2.0/24', description: 'g' },
    ]);
    expect(perms).toStrictEqual([
      {
        IpProtocol: 'tcp',
        FromPort: 443,
        ToPort: 443,
        IpRanges: [
          { CidrIp: '192.0.2.0/24', Description: 'a' },
          { CidrIp: '198.51.100.0/24', Description: 'c' },
        ],
        Ipv6Ranges: [{ CidrIpv6: '2001:db8::/32', Description: 'b' }],
        PrefixListIds: [{ PrefixListId: 'pl-0123abcd', Description: 'd' }],
      },
      { IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '203.0.113.0/24', Description: 'e' }], Ipv6Ranges: undefined, PrefixListIds: undefined },
      { IpProtocol: 'udp', FromPort: 443, ToPort: 443, IpRanges: undefined, Ipv6Ranges: [{ CidrIpv6: '2001:db8:1::/48', Description: 'f' }], PrefixListIds: undefined },
      { IpProtocol: 'tcp', FromPort: 8000, ToPort: 8080, IpRanges: [{ CidrIp: '192.0.2.0/24', Description: 'g' }], Ipv6Ranges: undefined, PrefixListIds: undefined },
    ]);
    expect(toIpPermissions([])).toStrictEqual([]);
  });
});

// ---------- prefix lists ----------

describe('prefixListSizes', () => {
  it('returns each distinct list MaxEntries in one call, and makes no call for none', async () => {
    const a = await newList('IPv4', 7);
    const b = await newList('IPv6', 12);
    const rec = recordCalls(ec2);
    const seen: string[] = [];
    try {
      const sizes = await prefixListSizes(ec2, [a, b, a], async (what, call) => {
        seen.push(what);
        return call();
      });
      expect(sizes).toStrictEqual(new Map([[a, 7], [b, 12]]));
      expect(await prefixListSizes(ec2, [])).toStrictEqual(new Map());
      expect(rec.calls).toStrictEqual([{ command: 'DescribeManagedPrefixListsCommand', input: { PrefixListIds: [a, b], NextToken: undefined } }]);
      expect(seen).toStrictEqual(['DescribeManagedPrefixLists']);
    } finally {
      rec.remove();
    }
  });

  it('follows NextToken, and gives up naming the lists after 50 pages', async () => {
    const a = await newList('IPv4', 3);
    const b = await newList('IPv4', 4);
    const tokens: Array<string | undefined> = [];
    // Page 1 answers with the first list and a token; page 2 with the second.
    let remove = rewrite(
      'DescribeManagedPrefixListsCommand',
      (out, call) => {
        if (call === 1) {
          out.PrefixLists = out.PrefixLists.filter((l: any) => l.PrefixListId === a);
          out.NextToken = 'page-2';
        } else out.PrefixLists = out.PrefixLists.filter((l: any) => l.PrefixListId === b);
      },
      (input) => {
        tokens.push(input.NextToken);
        delete input.NextToken;
      },
    );
    try {
      expect(await prefixListSizes(ec2, [a, b])).toStrictEqual(new Map([[a, 3], [b, 4]]));
      expect(tokens).toStrictEqual([undefined, 'page-2']);
    } finally {
      remove();
    }
    let pages = 0;
    remove = rewrite(
      'DescribeManagedPrefixListsCommand',
      (out) => {
        pages += 1;
        out.NextToken = 'more';
      },
      (input) => void delete input.NextToken,
      { replayAfterFirst: true },
    );
    try {
      const error = await caught(prefixListSizes(ec2, [a, b]));
      expect(error).toBeInstanceOf(TargetError);
      expect(error.message).toBe(`ec2:${a},${b}: DescribeManagedPrefixLists did not finish within 50 pages`);
      expect(pages).toBe(50);
    } finally {
      remove();
    }
  });
});

// ---------- read ----------

describe('read', () => {
  it('returns the ingress rules of every group (IPv4, IPv6, ports, protocols, prefix-list references weighed) and the state from the first group', async () => {
    const [g1, g2, other] = [await newGroup(), await newGroup(), await newGroup()];
    const list = await newList('IPv4', 5);
    await authorize(g1, [
      {
        IpProtocol: 'tcp',
        FromPort: 443,
        ToPort: 443,
        IpRanges: [{ CidrIp: '192.0.2.0/24', Description: 'origin-guard:web:static' }],
        Ipv6Ranges: [{ CidrIpv6: '2001:db8::/32', Description: 'origin-guard:web:static' }],
        PrefixListIds: [{ PrefixListId: list, Description: 'ref' }],
      },
      { IpProtocol: 'udp', FromPort: 53, ToPort: 54, IpRanges: [{ CidrIp: '198.51.100.0/24' }] },
    ]);
    await authorize(g2, [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '203.0.113.0/24', Description: 'office' }] }]);
    await authorize(other, [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '203.0.113.0/24', Description: 'office' }] }]);
    const t = target([g1, g2]);
    const keys = stateTagKeys(t.name);
    await ec2.send(new CreateTagsCommand({ Resources: [g1], Tags: [{ Key: keys.syncToken, Value: '1700000000' }, { Key: keys.held, Value: 'fp@1700000001' }, { Key: 'Name', Value: 'x' }] }));
    await ec2.send(new CreateTagsCommand({ Resources: [g2], Tags: [{ Key: keys.syncToken, Value: 'second-group' }] }));
    const log = recordingLog();

    const observed = await store({ log }).read(t);

    const sorted = [...observed.rules].sort((a, b) => `${a.groupId}${a.cidr}`.localeCompare(`${b.groupId}${b.cidr}`));
    const id = expect.stringMatching(/^sgr-/);
    expect(sorted).toStrictEqual(
      [
        { groupId: g1, ruleId: id, protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '192.0.2.0/24', description: 'origin-guard:web:static' },
        { groupId: g1, ruleId: id, protocol: 'udp', fromPort: 53, toPort: 54, cidr: '198.51.100.0/24', description: undefined },
        { groupId: g1, ruleId: id, protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '2001:db8::/32', description: 'origin-guard:web:static' },
        // moto drops a prefix-list reference's description.
        { groupId: g1, ruleId: id, protocol: 'tcp', fromPort: 443, toPort: 443, cidr: list, description: undefined, weight: 5 },
        { groupId: g2, ruleId: id, protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '203.0.113.0/24', description: 'office' },
      ].sort((a, b) => `${a.groupId}${a.cidr}`.localeCompare(`${b.groupId}${b.cidr}`)),
    );
    expect(new Set(observed.rules.map((r) => r.ruleId)).size).toBe(5);
    expect(observed.state).toStrictEqual({ syncToken: '1700000000', held: { fingerprint: 'fp', syncToken: '1700000001' } });
    expect(Object.keys(observed)).toStrictEqual(['rules', 'state']);
    expect(log.lines).toStrictEqual([]);
  });

  it('reads no state when the first group has none (an empty tag counts as none), and a rule without ports as -1', async () => {
    const g = await newGroup();
    await authorize(g, [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '192.0.2.0/24' }] }]);
    const t = target([g]);
    await ec2.send(new CreateTagsCommand({ Resources: [g], Tags: [{ Key: stateTagKeys(t.name).syncToken, Value: '' }] }));
    const observed = await store().read(t);
    expect(observed.state).toStrictEqual({ syncToken: undefined, held: undefined });
    expect(observed.rules).toStrictEqual([{ groupId: g, ruleId: expect.stringMatching(/^sgr-/), protocol: '-1', fromPort: -1, toPort: -1, cidr: '192.0.2.0/24', description: undefined }]);
  });

  it('reads a rule that references a security group with no CIDR and no weight', async () => {
    const [g, peer] = [await newGroup(), await newGroup()];
    await authorize(g, [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, UserIdGroupPairs: [{ GroupId: peer }] }]);
    const observed = await store().read(target([g]));
    expect(observed.rules).toStrictEqual([{ groupId: g, ruleId: expect.stringMatching(/^sgr-/), protocol: 'tcp', fromPort: 443, toPort: 443, cidr: undefined, description: undefined }]);
  });

  it('counts a reference to a list EC2 does not describe as one rule, and says so', async () => {
    const g = await newGroup();
    const list = await newList('IPv4', 9);
    await authorize(g, [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, PrefixListIds: [{ PrefixListId: list }] }]);
    const log = recordingLog();
    const remove = rewrite('DescribeManagedPrefixListsCommand', (out) => void (out.PrefixLists = []));
    try {
      const observed = await store({ log }).read(target([g]));
      expect(observed.rules).toStrictEqual([{ groupId: g, ruleId: expect.stringMatching(/^sgr-/), protocol: 'tcp', fromPort: 443, toPort: 443, cidr: list, description: undefined }]);
      expect(log.lines).toStrictEqual([{ level: 'warn', message: 'prefix list not described; its reference counts as 1 rule', extra: [{ groupId: g, prefixListId: list }] }]);
    } finally {
      remove();
    }
  });

  it('fails naming the missing group and the target, before any rule is read', async () => {
    const g = await newGroup();
    const rec = recordCalls(ec2);
    try {
      const error = await caught(store().read(target([g, 'sg-0000000000000dead'], { name: 'web' })));
      expect(error).toBeInstanceOf(TargetError);
      expect(error.target).toBe(`ec2:${g},sg-0000000000000dead`);
      expect(error.message).toMatch(new RegExp(`^ec2:${g},sg-0000000000000dead: cannot read the security groups of target "web": InvalidGroup.NotFound: `));
      expect(error.cause.name).toBe('InvalidGroup.NotFound');
      expect(names(rec.calls)).toStrictEqual(['DescribeSecurityGroups']);
    } finally {
      rec.remove();
    }
    // EC2 may also answer without the group: the error names it alone.
    const g2 = await newGroup();
    const remove = rewrite('DescribeSecurityGroupsCommand', (out) => void (out.SecurityGroups = out.SecurityGroups.filter((s: any) => s.GroupId !== g2)));
    try {
      const error = await caught(store().read(target([g, g2])));
      expect(error).toBeInstanceOf(TargetError);
      expect(error.message).toBe(`ec2:${g2}: security group not found`);
    } finally {
      remove();
    }
  });

  it('names every missing group, and reads the state of the first group whatever order EC2 answers in', async () => {
    const [g1, g2, g3] = [await newGroup(), await newGroup(), await newGroup()];
    let remove = rewrite('DescribeSecurityGroupsCommand', (out) => void (out.SecurityGroups = out.SecurityGroups.filter((s: any) => s.GroupId === g1)));
    try {
      expect((await caught(store().read(target([g1, g2, g3])))).message).toBe(`ec2:${g2},${g3}: security group not found`);
    } finally {
      remove();
    }
    const t = target([g1, g2]);
    await ec2.send(new CreateTagsCommand({ Resources: [g1], Tags: [{ Key: stateTagKeys(t.name).syncToken, Value: 'first' }] }));
    await ec2.send(new CreateTagsCommand({ Resources: [g2], Tags: [{ Key: stateTagKeys(t.name).syncToken, Value: 'second' }] }));
    remove = rewrite('DescribeSecurityGroupsCommand', (out) => void out.SecurityGroups.reverse());
    try {
      expect((await store().read(t)).state.syncToken).toBe('first');
    } finally {
      remove();
    }
  });

  it('wraps other errors with the target name and its cause, and does not retry them', async () => {
    const g = await newGroup();
    const fault = injectFault(ec2, { command: 'DescribeSecurityGroupRulesCommand', error: () => serviceError('UnauthorizedOperation', 'not allowed', 403) });
    try {
      const error = await caught(store().read(target([g], { name: 'api' })));
      expect(error).toBeInstanceOf(TargetError);
      expect(error.message).toBe(`ec2:${g}: cannot read the security groups of target "api": UnauthorizedOperation: not allowed`);
      expect(error.cause.name).toBe('UnauthorizedOperation');
      expect(error.retryable).toBe(false);
      expect(fault.calls).toBe(1);
    } finally {
      fault.remove();
    }
  });

  it('retries throttling with doubling, jittered, capped backoff through the clock, and logs each retry', async () => {
    const g = await newGroup();
    const clock = fakeClock();
    const log = recordingLog();
    const fault = injectFault(ec2, { command: 'DescribeSecurityGroupsCommand', error: () => serviceError('RequestLimitExceeded'), times: 3 });
    try {
      await store({ clock, log, baseDelayMs: 100, maxDelayMs: 300 }).read(target([g]));
      expect(fault.calls).toBe(4);
      expect(clock.sleeps).toHaveLength(3);
      const [d1, d2, d3] = clock.sleeps as [number, number, number];
      expect(d1).toBeGreaterThanOrEqual(50);
      expect(d1).toBeLessThanOrEqual(100);
      expect(d2).toBeGreaterThanOrEqual(100);
      expect(d2).toBeLessThanOrEqual(200);
      expect(d3).toBeGreaterThanOrEqual(150);
      expect(d3).toBeLessThanOrEqual(300);
      expect(log.lines.map((l) => [l.level, l.message, l.extra[0]!.call, l.extra[0]!.attempt, l.extra[0]!.delayMs])).toStrictEqual(
        clock.sleeps.map((d, i) => ['warn', 'EC2 throttled; retrying', 'DescribeSecurityGroups', i + 1, Math.round(d)]),
      );
    } finally {
      fault.remove();
    }
  });

  it('gives up after maxAttempts (default 6, at least 1, at most 10), with the default delays', async () => {
    const g = await newGroup();
    const cases: Array<[number | undefined, number]> = [[undefined, 6], [2, 2], [0, 1], [50, 10]];
    for (const [maxAttempts, calls] of cases) {
      const clock = fakeClock();
      const fault = injectFault(ec2, { command: 'DescribeSecurityGroupsCommand', error: () => serviceError('Throttling') });
      try {
        const error = await caught(store({ clock, ...(maxAttempts === undefined ? {} : { maxAttempts }) }).read(target([g])));
        expect(error.cause.name).toBe('Throttling');
        expect(fault.calls, `maxAttempts ${maxAttempts}`).toBe(calls);
        expect(clock.sleeps).toHaveLength(calls - 1);
        // Defaults: 200 ms doubling, capped at 5 s, each scaled by 0.5-1.
        clock.sleeps.forEach((d, i) => {
          const full = Math.min(5000, 200 * 2 ** i);
          expect(d).toBeGreaterThanOrEqual(full / 2);
          expect(d).toBeLessThanOrEqual(full);
        });
      } finally {
        fault.remove();
      }
    }
  });

  it('in prefix-list mode: the lists entries as rules of the list, their family and MaxEntries, and the references weighed without describing a list twice', async () => {
    const g = await newGroup();
    const v4 = await newList('IPv4', 10, [{ Cidr: '192.0.2.0/24', Description: 'origin-guard:t:static' }, { Cidr: '198.51.100.0/24' }]);
    const v6 = await newList('IPv6', 4, [{ Cidr: '2001:db8::/32', Description: 'six' }]);
    const foreign = await newList('IPv4', 6);
    await authorize(g, [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, PrefixListIds: [{ PrefixListId: v4 }, { PrefixListId: foreign }] }]);
    const t = target([g], { mode: 'prefix-list', prefixListIds: [v4, v6] });
    const rec = recordCalls(ec2);
    let observed;
    try {
      observed = await store().read(t);
      const plCalls = rec.calls.filter((c) => c.command !== 'DescribeSecurityGroupsCommand' && c.command !== 'DescribeSecurityGroupRulesCommand');
      expect(plCalls).toStrictEqual([
        { command: 'DescribeManagedPrefixListsCommand', input: { PrefixListIds: [v4, v6] } },
        { command: 'GetManagedPrefixListEntriesCommand', input: { PrefixListId: v4, MaxResults: 100, NextToken: undefined } },
        { command: 'GetManagedPrefixListEntriesCommand', input: { PrefixListId: v6, MaxResults: 100, NextToken: undefined } },
        { command: 'DescribeManagedPrefixListsCommand', input: { PrefixListIds: [foreign], NextToken: undefined } },
      ]);
      expect(rec.calls.find((c) => c.command === 'DescribeSecurityGroupRulesCommand')!.input).toStrictEqual({
        Filters: [{ Name: 'group-id', Values: [g] }],
        MaxResults: 1000,
        NextToken: undefined,
      });
    } finally {
      rec.remove();
    }
    const entry = (groupId: string, cidr: string, description: string | undefined) => ({ groupId, protocol: PREFIX_LIST_ENTRY, fromPort: 0, toPort: 0, cidr, description });
    const ref = (cidr: string, weight: number) => ({ groupId: g, ruleId: expect.stringMatching(/^sgr-/), protocol: 'tcp', fromPort: 443, toPort: 443, cidr, description: undefined, weight });
    const byCidr = (a: { cidr?: string }, b: { cidr?: string }) => a.cidr!.localeCompare(b.cidr!);
    expect(observed.rules[2]).toStrictEqual(entry(v6, '2001:db8::/32', 'six'));
    expect(observed.rules.slice(0, 2).sort(byCidr)).toStrictEqual([entry(v4, '192.0.2.0/24', 'origin-guard:t:static'), entry(v4, '198.51.100.0/24', undefined)]);
    expect(observed.rules.slice(3).sort(byCidr)).toStrictEqual([ref(v4, 10), ref(foreign, 6)].sort(byCidr));
    expect(observed.prefixLists).toStrictEqual([
      { id: v4, family: 'ipv4', maxEntries: 10 },
      { id: v6, family: 'ipv6', maxEntries: 4 },
    ]);
    expect(observed.state).toStrictEqual({ syncToken: undefined, held: undefined });
  });

  it('in rules mode, leaves the prefix lists named in the config alone', async () => {
    const g = await newGroup();
    const list = await newList('IPv4', 3, [{ Cidr: '192.0.2.0/24' }]);
    const rec = recordCalls(ec2);
    try {
      const observed = await store().read(target([g], { mode: 'rules', prefixListIds: [list] }));
      expect(observed).toStrictEqual({ rules: [], state: { syncToken: undefined, held: undefined } });
      expect(names(rec.calls)).toStrictEqual(['DescribeSecurityGroups', 'DescribeSecurityGroupRules']);
    } finally {
      rec.remove();
    }
  });

  it('in prefix-list mode without lists, reads like rules mode', async () => {
    const g = await newGroup();
    const observed = await store().read({ ...target([g], { mode: 'prefix-list' }), prefixListIds: [] });
    expect(observed).toStrictEqual({ rules: [], state: { syncToken: undefined, held: undefined } });
  });

  it('follows the pages of a list entries', async () => {
    const g = await newGroup();
    const list = await newList('IPv4', 5, [{ Cidr: '192.0.2.0/24' }, { Cidr: '198.51.100.0/24' }]);
    const tokens: Array<string | undefined> = [];
    const remove = rewrite(
      'GetManagedPrefixListEntriesCommand',
      (out, call) => {
        out.Entries = [...out.Entries].sort((a: any, b: any) => a.Cidr.localeCompare(b.Cidr)).slice(call - 1, call);
        if (call === 1) out.NextToken = 'next';
      },
      (input) => {
        tokens.push(input.NextToken);
        delete input.NextToken;
      },
    );
    try {
      const observed = await store().read(target([g], { mode: 'prefix-list', prefixListIds: [list] }));
      expect(observed.rules.map((r) => r.cidr)).toStrictEqual(['192.0.2.0/24', '198.51.100.0/24']);
      expect(tokens).toStrictEqual([undefined, 'next']);
    } finally {
      remove();
    }
  });

  it('refuses an AWS-managed list and a list EC2 does not return, naming the list', async () => {
    const g = await newGroup();
    const managed = (
      await ec2.send(new DescribeManagedPrefixListsCommand({ Filters: [{ Name: 'prefix-list-name', Values: ['com.amazonaws.global.cloudfront.origin-facing'] }] }))
    ).PrefixLists![0]!.PrefixListId!;
    const error = await caught(store().read(target([g], { mode: 'prefix-list', prefixListIds: [managed] })));
    expect(error).toBeInstanceOf(TargetError);
    expect(error.message).toBe(`ec2:${managed}: is an AWS-managed prefix list: give customer-managed lists in prefixListIds`);
    const list = await newList('IPv4', 3);
    const remove = rewrite('DescribeManagedPrefixListsCommand', (out) => void (out.PrefixLists = []));
    try {
      const missing = await caught(store().read(target([g], { mode: 'prefix-list', prefixListIds: [list] })));
      expect(missing).toBeInstanceOf(TargetError);
      expect(missing.message).toBe(`ec2:${list}: prefix list not found`);
    } finally {
      remove();
    }
  });

  it('follows the pages of DescribeSecurityGroupRules and gives up after 200', async () => {
    const g = await newGroup();
    await authorize(g, [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '192.0.2.0/24' }, { CidrIp: '198.51.100.0/24' }] }]);
    const tokens: Array<string | undefined> = [];
    let remove = rewrite(
      'DescribeSecurityGroupRulesCommand',
      (out, call) => {
        const ingress = out.SecurityGroupRules.filter((r: any) => !r.IsEgress).sort((a: any, b: any) => a.CidrIpv4.localeCompare(b.CidrIpv4));
        out.SecurityGroupRules = [ingress[call - 1]];
        if (call === 1) out.NextToken = 'p2';
      },
      (input) => {
        tokens.push(input.NextToken);
        delete input.NextToken;
      },
    );
    try {
      expect((await store().ingressRulesOf([g])).map((r) => r.cidr)).toStrictEqual(['192.0.2.0/24', '198.51.100.0/24']);
      expect(tokens).toStrictEqual([undefined, 'p2']);
    } finally {
      remove();
    }
    let pages = 0;
    remove = rewrite(
      'DescribeSecurityGroupRulesCommand',
      (out) => {
        pages += 1;
        out.SecurityGroupRules = [];
        out.NextToken = 'again';
      },
      (input) => void delete input.NextToken,
      { replayAfterFirst: true },
    );
    try {
      const error = await caught(store().ingressRulesOf([g]));
      expect(error).toBeInstanceOf(TargetError);
      expect(error.message).toBe(`ec2:${g}: DescribeSecurityGroupRules did not finish within 200 pages`);
      expect(pages).toBe(200);
    } finally {
      remove();
    }
  });
});

// ---------- apply ----------

describe('apply', () => {
  it('writes nothing for a plan that is in sync or lacks capacity', async () => {
    const g = await newGroup();
    const rec = recordCalls(ec2);
    try {
      for (const status of ['in-sync', 'insufficient-capacity'] as const) {
        const report = await store().apply(target([g]), plan([group(g, { add: [rule('192.0.2.0/24')] })], status));
        expect(report).toStrictEqual({ authorizeCalls: 0, revokeCalls: 0 });
      }
      expect(rec.calls).toStrictEqual([]);
    } finally {
      rec.remove();
    }
    expect(await texts(g)).toStrictEqual([]);
  });

  it('adds IPv4 and IPv6 rules in one call per group, then revokes by rule id, and reports the calls', async () => {
    const [g1, g2] = [await newGroup(), await newGroup()];
    await authorize(g1, [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '203.0.113.0/24', Description: 'origin-guard:t:old' }, { CidrIp: '10.0.0.0/8', Description: 'office' }] }]);
    const old = (await store().ingressRulesOf([g1])).find((r) => r.cidr === '203.0.113.0/24')!;
    const log = recordingLog();
    const t = target([g1, g2], { name: 'web' });
    const add1 = [rule('192.0.2.0/24', 'origin-guard:web:a'), rule('2001:db8::/32', 'origin-guard:web:b'), rule('198.51.100.0/24', 'origin-guard:web:a', 80)];
    const add2 = [rule('2001:db8:1::/48', 'origin-guard:web:c')];
    const rec = recordCalls(ec2);
    let report;
    try {
      report = await store({ log }).apply(t, plan([group(g1, { add: add1, remove: [planned(old)] }), group(g2, { add: add2 })], 'held'));
      expect(rec.calls).toStrictEqual([
        { command: 'AuthorizeSecurityGroupIngressCommand', input: { GroupId: g1, IpPermissions: toIpPermissions(add1) } },
        { command: 'AuthorizeSecurityGroupIngressCommand', input: { GroupId: g2, IpPermissions: toIpPermissions(add2) } },
        { command: 'RevokeSecurityGroupIngressCommand', input: { GroupId: g1, SecurityGroupRuleIds: [old.ruleId] } },
      ]);
    } finally {
      rec.remove();
    }
    expect(report).toStrictEqual({ authorizeCalls: 2, revokeCalls: 1 });
    expect(await texts(g1)).toStrictEqual([
      'tcp 443-443 10.0.0.0/8 office',
      'tcp 443-443 192.0.2.0/24 origin-guard:web:a',
      'tcp 443-443 2001:db8::/32 origin-guard:web:b',
      'tcp 80-80 198.51.100.0/24 origin-guard:web:a',
    ]);
    expect(await texts(g2)).toStrictEqual(['tcp 443-443 2001:db8:1::/48 origin-guard:web:c']);
    expect(log.lines).toStrictEqual([{ level: 'info', message: 'plan applied', extra: [{ target: 'web', authorizeCalls: 2, revokeCalls: 1 }] }]);
  });

  it('orders writes: additions first, then removals of remove-first groups, their additions, and the other removals last', async () => {
    const [a, b, c, d] = [await newGroup(), await newGroup(), await newGroup(), await newGroup()];
    for (const g of [a, b, c]) await authorize(g, [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '203.0.113.0/24', Description: 'origin-guard:t:old' }] }]);
    const existing = async (g: string) => (await store().ingressRulesOf([g])).map((r) => planned(r));
    const plans = [
      group(a, { add: [rule('192.0.2.0/24')], remove: await existing(a) }),
      group(b, { add: [rule('198.51.100.0/24')], remove: await existing(b), removeFirst: true }),
      group(c, { remove: await existing(c), removeFirst: true }),
      group(d, { add: [rule('192.0.2.0/24')], removeFirst: true }),
    ];
    const rec = recordCalls(ec2);
    let report;
    try {
      report = await store().apply(target([a, b, c, d]), plan(plans));
      expect(rec.calls.map((x) => `${x.command.replace(/SecurityGroupIngressCommand$/, '')} ${x.input.GroupId}`)).toStrictEqual([
        `Authorize ${a}`,
        `Revoke ${b}`,
        `Authorize ${b}`,
        `Authorize ${d}`,
        `Revoke ${a}`,
        `Revoke ${c}`,
      ]);
    } finally {
      rec.remove();
    }
    expect(report).toStrictEqual({ authorizeCalls: 3, revokeCalls: 3 });
    expect(await texts(a)).toStrictEqual(['tcp 443-443 192.0.2.0/24 origin-guard:t:static']);
    expect(await texts(b)).toStrictEqual(['tcp 443-443 198.51.100.0/24 origin-guard:t:static']);
    expect(await texts(c)).toStrictEqual([]);
    expect(await texts(d)).toStrictEqual(['tcp 443-443 192.0.2.0/24 origin-guard:t:static']);
  });

  it('revokes by permission when a rule has no id', async () => {
    const g = await newGroup();
    await authorize(g, [
      { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '203.0.113.0/24', Description: 'origin-guard:t:old' }, { CidrIp: '192.0.2.0/24', Description: 'keep' }] },
    ]);
    const withId = (await store().ingressRulesOf([g])).find((r) => r.cidr === '203.0.113.0/24')!;
    await authorize(g, [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, Ipv6Ranges: [{ CidrIpv6: '2001:db8::/32', Description: 'origin-guard:t:old' }] }]);
    const remove = [planned(withId), rule('2001:db8::/32', 'origin-guard:t:old')];
    const rec = recordCalls(ec2);
    try {
      expect(await store().apply(target([g]), plan([group(g, { remove })]))).toStrictEqual({ authorizeCalls: 0, revokeCalls: 1 });
      expect(rec.calls).toStrictEqual([{ command: 'RevokeSecurityGroupIngressCommand', input: { GroupId: g, IpPermissions: toIpPermissions(remove) } }]);
    } finally {
      rec.remove();
    }
    expect(await texts(g)).toStrictEqual(['tcp 443-443 192.0.2.0/24 keep']);
  });

  it('on a duplicate, re-reads and adds only the rules still missing (any description counts as present)', async () => {
    const g = await newGroup();
    await authorize(g, [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '192.0.2.0/24', Description: 'someone else' }] }]);
    const add = [rule('192.0.2.0/24'), rule('198.51.100.0/24'), rule('192.0.2.0/24', 'origin-guard:t:static', 80)];
    const rec = recordCalls(ec2);
    let report;
    try {
      report = await store().apply(target([g]), plan([group(g, { add })]));
      expect(names(rec.calls)).toStrictEqual(['AuthorizeSecurityGroupIngress', 'DescribeSecurityGroupRules', 'AuthorizeSecurityGroupIngress']);
      expect(rec.calls[2]!.input).toStrictEqual({ GroupId: g, IpPermissions: toIpPermissions(add.slice(1)) });
    } finally {
      rec.remove();
    }
    expect(report).toStrictEqual({ authorizeCalls: 2, revokeCalls: 0 });
    expect(await texts(g)).toStrictEqual([
      'tcp 443-443 192.0.2.0/24 someone else',
      'tcp 443-443 198.51.100.0/24 origin-guard:t:static',
      'tcp 80-80 192.0.2.0/24 origin-guard:t:static',
    ]);
  });

  it('counts a duplicate of every rule as done, and gives up after 3 duplicates that do not clear', async () => {
    const g = await newGroup();
    await authorize(g, [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '192.0.2.0/24' }] }]);
    expect(await store().apply(target([g]), plan([group(g, { add: [rule('192.0.2.0/24')] })]))).toStrictEqual({ authorizeCalls: 1, revokeCalls: 0 });
    const fault = injectFault(ec2, { command: 'AuthorizeSecurityGroupIngressCommand', error: () => serviceError('InvalidPermission.Duplicate') });
    try {
      const error = await caught(store().apply(target([g]), plan([group(g, { add: [rule('198.51.100.0/24'), rule('203.0.113.0/24')] })])));
      expect(error).toBeInstanceOf(TargetError);
      expect(error.message).toBe(`ec2:${g}: 2 rules still missing after 3 attempts`);
      expect(fault.calls).toBe(3);
    } finally {
      fault.remove();
    }
  });

  it('names the group and hints at the cause when EC2 refuses an addition; throttling stays retryable', async () => {
    const g = await newGroup();
    const cases: Array<[string, string, boolean]> = [
      ['RulesPerSecurityGroupLimitExceeded', ' (the group is fuller than its maxRulesPerGroup says: lower maxRulesPerGroup to the account quota)', false],
      ['UnauthorizedOperation', ' (the reconciler role may not change this group)', false],
      ['InvalidParameterValue', '', false],
      ['Throttling', '', true],
    ];
    for (const [name, hint, retryable] of cases) {
      const fault = injectFault(ec2, { command: 'AuthorizeSecurityGroupIngressCommand', error: () => serviceError(name, 'refused') });
      try {
        const error = await caught(store({ maxAttempts: 1 }).apply(target([g]), plan([group(g, { add: [rule('192.0.2.0/24')] })])));
        expect(error).toBeInstanceOf(TargetError);
        expect(error.target).toBe(`ec2:${g}`);
        expect(error.message).toBe(`ec2:${g}: cannot authorize ingress rules: ${name}: refused${hint}`);
        expect(error.retryable).toBe(retryable);
        expect(error.cause.name).toBe(name);
      } finally {
        fault.remove();
      }
    }
    expect(await texts(g)).toStrictEqual([]);
  });

  it('on a rule already gone, re-reads and revokes only what is left; gives up after 3 rounds; wraps other errors', async () => {
    const g = await newGroup();
    await authorize(g, [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '192.0.2.0/24' }, { CidrIp: '198.51.100.0/24' }, { CidrIp: '10.0.0.0/8' }] }]);
    const rules = (await store().ingressRulesOf([g])).map((r) => planned(r));
    const [gone, stays] = [rules.find((r) => r.cidr === '192.0.2.0/24')!, rules.find((r) => r.cidr === '198.51.100.0/24')!];
    await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: g, SecurityGroupRuleIds: [gone.ruleId!] }));
    for (const name of ['InvalidPermission.NotFound', 'InvalidSecurityGroupRuleId.NotFound']) {
      // A lost race: the first revoke is told a rule is gone; the second names only the rule still there.
      const rec = recordCalls(ec2);
      const fault = injectFault(ec2, { command: 'RevokeSecurityGroupIngressCommand', error: () => serviceError(name), times: 1 });
      try {
        const stillThere = name === 'InvalidPermission.NotFound' ? [stays] : [];
        const report = await store().apply(target([g]), plan([group(g, { remove: [gone, ...stillThere] })]));
        expect(report).toStrictEqual({ authorizeCalls: 0, revokeCalls: stillThere.length ? 2 : 1 });
        expect(rec.calls.filter((c) => c.command === 'RevokeSecurityGroupIngressCommand').map((c) => c.input.SecurityGroupRuleIds)).toStrictEqual(
          stillThere.length ? [[gone.ruleId, stays.ruleId], [stays.ruleId]] : [[gone.ruleId]],
        );
      } finally {
        rec.remove();
        fault.remove();
      }
    }
    expect(await texts(g)).toStrictEqual(['tcp 443-443 10.0.0.0/8 -']);
    // Without ids, the re-read matches by protocol, ports and CIDR.
    await authorize(g, [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '198.51.100.0/24', Description: 'x' }] }]);
    const fault = injectFault(ec2, { command: 'RevokeSecurityGroupIngressCommand', error: () => serviceError('InvalidPermission.NotFound'), times: 1 });
    try {
      const report = await store().apply(target([g]), plan([group(g, { remove: [rule('198.51.100.0/24', 'y'), rule('203.0.113.0/24', 'y')] })]));
      expect(report).toStrictEqual({ authorizeCalls: 0, revokeCalls: 2 });
    } finally {
      fault.remove();
    }
    expect(await texts(g)).toStrictEqual(['tcp 443-443 10.0.0.0/8 -']);
    const ten = (await store().ingressRulesOf([g]))[0]!;
    const forever = injectFault(ec2, { command: 'RevokeSecurityGroupIngressCommand', error: () => serviceError('InvalidSecurityGroupRuleId.NotFound') });
    try {
      const error = await caught(store().apply(target([g]), plan([group(g, { remove: [planned(ten)] })])));
      expect(error.message).toBe(`ec2:${g}: 1 rules still present after 3 attempts`);
      expect(forever.calls).toBe(3);
    } finally {
      forever.remove();
    }
    const denied = injectFault(ec2, { command: 'RevokeSecurityGroupIngressCommand', error: () => serviceError('UnauthorizedOperation', 'no') });
    try {
      const error = await caught(store().apply(target([g]), plan([group(g, { remove: [planned(ten)] })])));
      expect(error).toBeInstanceOf(TargetError);
      expect(error.message).toBe(`ec2:${g}: cannot revoke ingress rules: UnauthorizedOperation: no (the reconciler role may not change this group)`);
      expect(denied.calls).toBe(1);
    } finally {
      denied.remove();
    }
    expect(await texts(g)).toStrictEqual(['tcp 443-443 10.0.0.0/8 -']);
  });

  it('adopts: rewrites the descriptions of IPv4, IPv6 and prefix-list rules in place, 100 a call, skipping rules without an id', async () => {
    const g = await newGroup();
    const list = await newList('IPv4', 2);
    await authorize(g, [
      { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '10.1.0.0/24', Description: 'hand-made' }], Ipv6Ranges: [{ CidrIpv6: '2001:db8:1::/48', Description: 'hand-made' }], PrefixListIds: [{ PrefixListId: list }] },
      { IpProtocol: 'udp', FromPort: 53, ToPort: 53, IpRanges: [{ CidrIp: '10.1.1.0/24', Description: 'hand-made' }] },
    ]);
    const before = await store().ingressRulesOf([g]);
    const adopt = before.map((r) => planned(r, `origin-guard:t:${r.cidr}`));
    const byCidr = new Map(adopt.map((r) => [r.cidr, r]));
    // Every rule with an id goes into a batch of at most 100 (moto accepts a rule id twice in one call): a rule
    // without an id first, then 101 with ids, gives batches of 99 and 2.
    const many = Array.from({ length: 101 }, (_, i) => adopt[i % adopt.length]!);
    const rec = recordCalls(ec2);
    let report;
    try {
      report = await store().apply(target([g]), plan([group(g, { adopt: [rule('192.0.2.0/24'), ...many] }), group(list, { adopt: [adopt[0]!] })]));
      const modify = rec.calls.filter((c) => c.command === 'ModifySecurityGroupRulesCommand');
      expect(names(rec.calls)).toStrictEqual(['ModifySecurityGroupRules', 'ModifySecurityGroupRules']);
      expect(modify.map((c) => [c.input.GroupId, c.input.SecurityGroupRules.length])).toStrictEqual([[g, 99], [g, 2]]);
      expect(modify[0]!.input.SecurityGroupRules.slice(0, 4)).toStrictEqual(
        many.slice(0, 4).map((r) => {
          const source = r.cidr === list ? { PrefixListId: list } : r.cidr.includes(':') ? { CidrIpv6: r.cidr } : { CidrIpv4: r.cidr };
          return { SecurityGroupRuleId: r.ruleId, SecurityGroupRule: { IpProtocol: r.protocol, FromPort: r.fromPort, ToPort: r.toPort, ...source, Description: r.description } };
        }),
      );
      expect(modify[0]!.input.SecurityGroupRules.map((x: any) => x.SecurityGroupRuleId)).toStrictEqual(many.slice(0, 99).map((r) => r.ruleId));
      const sent = modify.flatMap((c) => c.input.SecurityGroupRules.map((x: any) => x.SecurityGroupRule));
      expect(sent.find((x: any) => x.CidrIpv6)).toStrictEqual({ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, CidrIpv6: '2001:db8:1::/48', Description: 'origin-guard:t:2001:db8:1::/48' });
      expect(sent.find((x: any) => x.PrefixListId)).toStrictEqual({ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, PrefixListId: list, Description: `origin-guard:t:${list}` });
      expect(sent.find((x: any) => x.IpProtocol === 'udp')).toStrictEqual({ IpProtocol: 'udp', FromPort: 53, ToPort: 53, CidrIpv4: '10.1.1.0/24', Description: 'origin-guard:t:10.1.1.0/24' });
      expect(byCidr.size).toBe(4);
    } finally {
      rec.remove();
    }
    expect(report).toStrictEqual({ authorizeCalls: 0, revokeCalls: 0, modifyCalls: 2 });
    const after = await store().ingressRulesOf([g]);
    expect(after.map((r) => `${r.ruleId} ${r.protocol} ${r.cidr} ${r.description}`).sort()).toStrictEqual(
      before.map((r) => `${r.ruleId} ${r.protocol} ${r.cidr} origin-guard:t:${r.cidr}`).sort(),
    );
    // Only rules without an id: no call, but the count is reported.
    const rec2 = recordCalls(ec2);
    try {
      expect(await store().apply(target([g]), plan([group(g, { adopt: [rule('192.0.2.0/24')] })]))).toStrictEqual({ authorizeCalls: 0, revokeCalls: 0, modifyCalls: 0 });
      expect(rec2.calls).toStrictEqual([]);
    } finally {
      rec2.remove();
    }
  });

  it('names the group when EC2 refuses an adoption', async () => {
    const g = await newGroup();
    const fault = injectFault(ec2, { command: 'ModifySecurityGroupRulesCommand', error: () => serviceError('UnauthorizedOperation', 'no') });
    try {
      const error = await caught(store().apply(target([g]), plan([group(g, { adopt: [{ ...rule('192.0.2.0/24'), ruleId: 'sgr-0123' }] })])));
      expect(error).toBeInstanceOf(TargetError);
      expect(error.message).toBe(`ec2:${g}: cannot adopt (rewrite the descriptions of) ingress rules: UnauthorizedOperation: no (the reconciler role may not change this group)`);
    } finally {
      fault.remove();
    }
  });
});

// ---------- apply, prefix-list mode ----------

describe('apply in prefix-list mode', () => {
  it('fills the list first (conditional on the version read), waits for it, then references it from the group', async () => {
    const g = await newGroup();
    const list = await newList('IPv4', 10, [{ Cidr: '203.0.113.0/24', Description: 'origin-guard:t:old' }]);
    const t = target([g], { mode: 'prefix-list', prefixListIds: [list] });
    const s = store();
    await s.read(t);
    const version = (await ec2.send(new DescribeManagedPrefixListsCommand({ PrefixListIds: [list] }))).PrefixLists![0]!.Version;
    const entry = (cidr: string, description = 'origin-guard:t:static') => ({ protocol: PREFIX_LIST_ENTRY, fromPort: 0, toPort: 0, cidr, description });
    const rec = recordCalls(ec2);
    let report;
    try {
      report = await s.apply(
        t,
        plan([group(g, { add: [rule(list)] }), group(list, { add: [entry('192.0.2.0/24'), entry('198.51.100.0/24')], remove: [entry('203.0.113.0/24', 'origin-guard:t:old')] }), group(list.replace('pl-', 'pl-f'))]),
      );
      expect(rec.calls).toStrictEqual([
        {
          command: 'ModifyManagedPrefixListCommand',
          input: {
            PrefixListId: list,
            CurrentVersion: version,
            AddEntries: [
              { Cidr: '192.0.2.0/24', Description: 'origin-guard:t:static' },
              { Cidr: '198.51.100.0/24', Description: 'origin-guard:t:static' },
            ],
            RemoveEntries: [{ Cidr: '203.0.113.0/24' }],
          },
        },
        { command: 'DescribeManagedPrefixListsCommand', input: { PrefixListIds: [list] } },
        { command: 'AuthorizeSecurityGroupIngressCommand', input: { GroupId: g, IpPermissions: toIpPermissions([rule(list)]) } },
      ]);
    } finally {
      rec.remove();
    }
    expect(report).toStrictEqual({ authorizeCalls: 1, revokeCalls: 0, prefixListCalls: 1 });
    expect(await entriesOf(list)).toStrictEqual(['192.0.2.0/24 origin-guard:t:static', '198.51.100.0/24 origin-guard:t:static']);
    expect(await texts(g)).toStrictEqual([`tcp 443-443 ${list} -`]); // moto drops a reference's description
  });

  it('splits a change of more than 100 entries into calls of 100, each after the list finished the previous one, and sends only what a call has', async () => {
    const list = await newList('IPv4', 200);
    const t = target([await newGroup()], { mode: 'prefix-list', prefixListIds: [list] });
    const s = store();
    await s.read(t);
    const entries = Array.from({ length: 150 }, (_, i) => ({ protocol: PREFIX_LIST_ENTRY, fromPort: 0, toPort: 0, cidr: `10.2.${i}.0/24`, description: 'd' }));
    const rec = recordCalls(ec2);
    try {
      expect(await s.apply(t, plan([group(list, { add: entries })]))).toStrictEqual({ authorizeCalls: 0, revokeCalls: 0, prefixListCalls: 2 });
      expect(names(rec.calls)).toStrictEqual(['ModifyManagedPrefixList', 'DescribeManagedPrefixLists', 'ModifyManagedPrefixList', 'DescribeManagedPrefixLists']);
      const [first, second] = rec.calls.filter((c) => c.command === 'ModifyManagedPrefixListCommand').map((c) => c.input);
      expect(first.AddEntries).toHaveLength(100);
      expect(second.AddEntries).toStrictEqual(entries.slice(100).map((e) => ({ Cidr: e.cidr, Description: 'd' })));
      expect('RemoveEntries' in first || 'RemoveEntries' in second).toBe(false);
      expect(second.CurrentVersion).toBe(first.CurrentVersion + 1);
    } finally {
      rec.remove();
    }
    expect(await entriesOf(list)).toHaveLength(150);
    // The next apply (no read in between) is conditional on the version the last call left.
    const rec2 = recordCalls(ec2);
    try {
      await s.apply(t, plan([group(list, { remove: entries.slice(0, 150) })]));
      const modify = rec2.calls.filter((c) => c.command === 'ModifyManagedPrefixListCommand').map((c) => c.input);
      expect(modify.map((m) => [m.CurrentVersion, m.RemoveEntries.length, 'AddEntries' in m])).toStrictEqual([
        [(await ec2.send(new DescribeManagedPrefixListsCommand({ PrefixListIds: [list] }))).PrefixLists![0]!.Version! - 2, 100, false],
        [(await ec2.send(new DescribeManagedPrefixListsCommand({ PrefixListIds: [list] }))).PrefixLists![0]!.Version! - 1, 50, false],
      ]);
    } finally {
      rec2.remove();
    }
    expect(await entriesOf(list)).toStrictEqual([]);
  });

  it('waits while the list is modifying, fails on a failed modification, and stops at its deadline (retryable)', async () => {
    const list = await newList('IPv4', 5);
    const t = target([await newGroup()], { mode: 'prefix-list', prefixListIds: [list] });
    const change = plan([group(list, { add: [{ protocol: PREFIX_LIST_ENTRY, fromPort: 0, toPort: 0, cidr: '192.0.2.0/24', description: 'd' }] })]);
    let states = ['modify-in-progress', 'modify-in-progress', 'modify-complete'];
    let remove = rewrite('DescribeManagedPrefixListsCommand', (out) => void (out.PrefixLists[0].State = states.shift() ?? 'modify-complete'));
    const clock = fakeClock();
    try {
      expect(await store({ clock }).apply(t, change)).toStrictEqual({ authorizeCalls: 0, revokeCalls: 0, prefixListCalls: 1 });
      expect(clock.sleeps).toStrictEqual([500, 500]);
    } finally {
      remove();
    }
    states = ['modify-in-progress', 'modify-failed'];
    remove = rewrite('DescribeManagedPrefixListsCommand', (out) => void (out.PrefixLists[0].State = states.shift() ?? 'modify-complete'));
    try {
      const error = await caught(store().apply(t, plan([group(list, { remove: change.groups[0]!.add })])));
      expect(error).toBeInstanceOf(TargetError);
      expect(error.message).toBe(`ec2:${list}: the previous modification ended in state modify-failed`);
      expect(error.retryable).toBe(false);
    } finally {
      remove();
    }
    remove = rewrite('DescribeManagedPrefixListsCommand', (out) => void (out.PrefixLists[0].State = 'modify-in-progress'));
    const slow = fakeClock(10_000);
    try {
      const error = await caught(store({ clock: slow }).apply(t, plan([group(list, { add: [{ ...change.groups[0]!.add[0]!, cidr: '198.51.100.0/24' }] })])));
      expect(error).toBeInstanceOf(TargetError);
      expect(error.message).toBe(`ec2:${list}: still modifying after 2 minutes; the next run finishes the change`);
      expect(error.retryable).toBe(true);
      // 120 s at 10 s a wait: the check after the 13th wait is past the deadline.
      expect(slow.sleeps).toHaveLength(13);
    } finally {
      remove();
    }
  });

  it('stops waiting after 240 checks even when the clock does not move', async () => {
    const list = await newList('IPv4', 5);
    const clock: Clock & { sleeps: number[] } = { sleeps: [], now: () => new Date(0), sleep: async (ms) => void clock.sleeps.push(ms) };
    const remove = rewrite('DescribeManagedPrefixListsCommand', (out) => void (out.PrefixLists[0].State = 'create-in-progress'), undefined, { replayAfterFirst: true });
    try {
      const error = await caught(store({ clock }).apply(target([await newGroup()]), plan([group(list, { add: [{ protocol: PREFIX_LIST_ENTRY, fromPort: 0, toPort: 0, cidr: '192.0.2.0/24', description: 'd' }] })])));
      expect(error.message).toBe(`ec2:${list}: still modifying after 2 minutes; the next run finishes the change`);
      expect(clock.sleeps).toHaveLength(240);
    } finally {
      remove();
    }
  });

  it('changes several lists in one apply, counting every call, and waits for all of them before the references', async () => {
    const [l1, l2] = [await newList('IPv4', 5), await newList('IPv6', 5)];
    const g = await newGroup();
    const entry = (cidr: string) => ({ protocol: PREFIX_LIST_ENTRY, fromPort: 0, toPort: 0, cidr, description: 'd' });
    const rec = recordCalls(ec2);
    try {
      const report = await store().apply(target([g]), plan([group(l1, { add: [entry('192.0.2.0/24')] }), group(l2, { add: [entry('2001:db8::/32')] }), group(g, { add: [rule(l1), rule(l2)] })]));
      expect(report).toStrictEqual({ authorizeCalls: 1, revokeCalls: 0, prefixListCalls: 2 });
      expect(rec.calls.map((c) => `${c.command} ${c.input.PrefixListId ?? c.input.PrefixListIds ?? c.input.GroupId}`)).toStrictEqual([
        `ModifyManagedPrefixListCommand ${l1}`,
        `ModifyManagedPrefixListCommand ${l2}`,
        `DescribeManagedPrefixListsCommand ${l1}`,
        `DescribeManagedPrefixListsCommand ${l2}`,
        `AuthorizeSecurityGroupIngressCommand ${g}`,
      ]);
      // Never read: the change is not conditional on a version.
      expect(rec.calls.filter((c) => c.command === 'ModifyManagedPrefixListCommand').map((c) => 'CurrentVersion' in c.input && c.input.CurrentVersion)).toStrictEqual([undefined, undefined]);
    } finally {
      rec.remove();
    }
    expect(await entriesOf(l2)).toStrictEqual(['2001:db8::/32 d']);
  });

  it('counts on the version it sent plus one when EC2 does not answer the new version', async () => {
    const list = await newList('IPv4', 300);
    const t = target([await newGroup()], { mode: 'prefix-list', prefixListIds: [list] });
    const s = store();
    await s.read(t);
    const entries = Array.from({ length: 101 }, (_, i) => ({ protocol: PREFIX_LIST_ENTRY, fromPort: 0, toPort: 0, cidr: `10.3.${i}.0/24`, description: 'd' }));
    const remove = rewrite('ModifyManagedPrefixListCommand', (out) => void delete out.PrefixList.Version);
    const rec = recordCalls(ec2);
    try {
      await s.apply(t, plan([group(list, { add: entries })]));
      const versions = rec.calls.filter((c) => c.command === 'ModifyManagedPrefixListCommand').map((c) => c.input.CurrentVersion);
      expect(versions).toHaveLength(2);
      expect(typeof versions[0]).toBe('number');
      expect(versions[1]).toBe(versions[0] + 1);
    } finally {
      rec.remove();
      remove();
    }
  });

  it('changes a list when its additions and removals are as many', async () => {
    const list = await newList('IPv4', 5, [{ Cidr: '203.0.113.0/24', Description: 'old' }]);
    const entry = (cidr: string) => ({ protocol: PREFIX_LIST_ENTRY, fromPort: 0, toPort: 0, cidr, description: 'd' });
    const report = await store().apply(target([await newGroup()]), plan([group(list, { add: [entry('192.0.2.0/24')], remove: [entry('203.0.113.0/24')] })]));
    expect(report).toStrictEqual({ authorizeCalls: 0, revokeCalls: 0, prefixListCalls: 1 });
    expect(await entriesOf(list)).toStrictEqual(['192.0.2.0/24 d']);
  });

  it('names the list when EC2 refuses the modification', async () => {
    const list = await newList('IPv4', 5);
    const fault = injectFault(ec2, { command: 'ModifyManagedPrefixListCommand', error: () => serviceError('PrefixListVersionMismatch', 'changed') });
    try {
      const error = await caught(store().apply(target([await newGroup()]), plan([group(list, { add: [{ protocol: PREFIX_LIST_ENTRY, fromPort: 0, toPort: 0, cidr: '192.0.2.0/24', description: 'd' }] })])));
      expect(error).toBeInstanceOf(TargetError);
      expect(error.message).toBe(`ec2:${list}: cannot modify the prefix list: PrefixListVersionMismatch: changed`);
    } finally {
      fault.remove();
    }
  });
});

// ---------- state and release ----------

describe('writeState / removeStateTags / revokeRules / ingressRulesOf', () => {
  it('writes only what changed, on the first group: one CreateTags for both tags, one DeleteTags for a held shrink cleared', async () => {
    const [g1, g2] = [await newGroup(), await newGroup()];
    const t = target([g1, g2]);
    const keys = stateTagKeys(t.name);
    const s = store();
    const held = { fingerprint: 'fp', syncToken: '2' };
    const rec = recordCalls(ec2);
    try {
      expect(await s.writeState(t, { syncToken: '1' }, {})).toBe(1);
      expect(await tagsOf(g1)).toStrictEqual({ [keys.syncToken]: '1' });
      expect(await s.writeState(t, { syncToken: '2', held }, { syncToken: '1' })).toBe(1);
      expect(await tagsOf(g1)).toStrictEqual({ [keys.syncToken]: '2', [keys.held]: 'fp@2' });
      expect(await s.writeState(t, { syncToken: '2', held: { ...held } }, { syncToken: '2', held })).toBe(0);
      expect(await s.writeState(t, {}, { syncToken: '2', held })).toBe(1);
      expect(await tagsOf(g1)).toStrictEqual({ [keys.syncToken]: '2' });
      expect(await s.writeState(t, { held: { fingerprint: 'fp', since: 's', runs: 1 } }, { syncToken: '2' })).toBe(1);
      expect(await s.writeState(t, { held: { fingerprint: 'fp', since: 's', runs: 2 } }, { held: { fingerprint: 'fp', since: 's', runs: 1 } })).toBe(1);
      expect(await tagsOf(g1)).toStrictEqual({ [keys.syncToken]: '2', [keys.held]: 'fp@@s@2' });
      expect(await s.writeState(t, { syncToken: '3' }, { syncToken: '2', held })).toBe(2);
      expect(await tagsOf(g1)).toStrictEqual({ [keys.syncToken]: '3' });
      expect(await tagsOf(g2)).toStrictEqual({});
      expect(rec.calls.filter((c) => c.command !== 'DescribeSecurityGroupsCommand')).toStrictEqual([
        { command: 'CreateTagsCommand', input: { Resources: [g1], Tags: [{ Key: keys.syncToken, Value: '1' }] } },
        { command: 'CreateTagsCommand', input: { Resources: [g1], Tags: [{ Key: keys.syncToken, Value: '2' }, { Key: keys.held, Value: 'fp@2' }] } },
        { command: 'DeleteTagsCommand', input: { Resources: [g1], Tags: [{ Key: keys.held }] } },
        { command: 'CreateTagsCommand', input: { Resources: [g1], Tags: [{ Key: keys.held, Value: 'fp@@s@1' }] } },
        { command: 'CreateTagsCommand', input: { Resources: [g1], Tags: [{ Key: keys.held, Value: 'fp@@s@2' }] } },
        { command: 'CreateTagsCommand', input: { Resources: [g1], Tags: [{ Key: keys.syncToken, Value: '3' }] } },
        { command: 'DeleteTagsCommand', input: { Resources: [g1], Tags: [{ Key: keys.held }] } },
      ]);
    } finally {
      rec.remove();
    }
  });

  it('removes both state tags from every group named, and nothing else', async () => {
    const [g1, g2] = [await newGroup(), await newGroup()];
    const keys = stateTagKeys('rel');
    const other = stateTagKeys('other');
    for (const g of [g1, g2]) {
      await ec2.send(new CreateTagsCommand({ Resources: [g], Tags: [{ Key: keys.syncToken, Value: '1' }, { Key: keys.held, Value: 'f@1' }, { Key: other.syncToken, Value: '9' }] }));
    }
    await store().removeStateTags('rel', [g1, g2]);
    expect(await tagsOf(g1)).toStrictEqual({ [other.syncToken]: '9' });
    expect(await tagsOf(g2)).toStrictEqual({ [other.syncToken]: '9' });
  });

  it('reads the ingress rules of the groups given (references unweighed) and revokes exactly the rules given', async () => {
    const [g1, g2] = [await newGroup(), await newGroup()];
    const list = await newList('IPv4', 8);
    await authorize(g1, [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '192.0.2.0/24', Description: 'origin-guard:rel:static' }, { CidrIp: '10.0.0.0/8', Description: 'office' }], PrefixListIds: [{ PrefixListId: list }] }]);
    await authorize(g2, [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, Ipv6Ranges: [{ CidrIpv6: '2001:db8::/32', Description: 'origin-guard:rel:static' }] }]);
    const s = store();
    const read = await s.ingressRulesOf([g1]);
    expect(read.map((r) => `${r.groupId} ${r.cidr} ${r.description} ${r.weight}`).sort()).toStrictEqual(
      [`${g1} 10.0.0.0/8 office undefined`, `${g1} 192.0.2.0/24 origin-guard:rel:static undefined`, `${g1} ${list} undefined undefined`].sort(),
    );
    const rec = recordCalls(ec2);
    try {
      expect(await s.revokeRules(g1, [])).toBe(0);
      expect(rec.calls).toStrictEqual([]);
      const owned = read.filter((r) => r.description === 'origin-guard:rel:static');
      expect(await s.revokeRules(g1, owned)).toBe(1);
      expect(rec.calls).toStrictEqual([{ command: 'RevokeSecurityGroupIngressCommand', input: { GroupId: g1, SecurityGroupRuleIds: owned.map((r) => r.ruleId) } }]);
    } finally {
      rec.remove();
    }
    expect(await texts(g1)).toStrictEqual([`tcp 443-443 10.0.0.0/8 office`, `tcp 443-443 ${list} -`]);
    expect(await texts(g2)).toStrictEqual(['tcp 443-443 2001:db8::/32 origin-guard:rel:static']);
  });
});
