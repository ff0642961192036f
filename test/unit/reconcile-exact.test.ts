/**
 * The reconcile core as the operator sees it, exactly: the `--json` result of each outcome (applied, dry run,
 * skipped, each failure), the findings and their wording, what is recorded in the target state and when, the
 * alerts, and one fetch per feed URL. In-memory groups and feeds; no emulator.
 */
import { describe, expect, it } from 'vitest';
import { IpRangesSchema, type IpRangesConfig } from '../../lambdas/config.ts';
import type { AlertState, AlertStatePort } from '../../lambdas/core/alerts.ts';
import { SourceError } from '../../lambdas/core/errors.ts';
import { md5Hex, type IpSpaceChangedNotice, type KonnectEgressView } from '../../lambdas/core/ip-sources.ts';
import { leaseKey } from '../../lambdas/core/lease.ts';
import type { AlertEvent, LogPort } from '../../lambdas/core/ports.ts';
import { confirmsHeld, nextHeld, reconcile, reconcileFindingId, UnknownTargetError, type IpFeedPort, type ReconcileDeps, type ReconcileOptions } from '../../lambdas/core/reconcile.ts';
import { MemoryLeases, MemoryLeaseTable } from '../support/memory-lease.ts';
import { MemorySecurityGroups } from '../support/memory-security-groups.ts';
import { FakeClock, MemoryAlerts } from '../support/memory-targets.ts';

const AWS_URL = 'https://ip-ranges.amazonaws.com/ip-ranges.json';
const AWS = `aws(${AWS_URL})`;
const HOUR = 3_600_000;
/** 2026-01-01T00:00:00Z, the fake clock's start, in seconds. */
const NOW_S = 1_767_225_600;
const V1 = String(NOW_S - 7200);
const V2 = String(NOW_S - 3600);

function awsBody(syncToken: string, cidrs: string[]): string {
  return JSON.stringify({
    syncToken,
    createDate: '2025-12-31-22-00-00',
    prefixes: cidrs.map((ip_prefix) => ({ ip_prefix, region: 'GLOBAL', service: 'CLOUDFRONT' })),
    ipv6_prefixes: [],
  });
}

/** Feeds by URL; a missing URL or an Error value fails the fetch. Counts fetches per URL. */
class Feeds implements IpFeedPort {
  bodies = new Map<string, string | Error>();
  fetches: string[] = [];
  konnect: KonnectEgressView[] = [];
  async fetchText(url: string, source: string) {
    this.fetches.push(url);
    const body = this.bodies.get(url);
    if (body === undefined) throw new SourceError(source, `GET ${url} answered 404; nothing was changed`);
    if (body instanceof Error) throw body;
    return body;
  }
  async konnectConfigurations() {
    return this.konnect;
  }
}

function config(targets: Array<Record<string, unknown>>): IpRangesConfig {
  return IpRangesSchema.parse({ targets });
}

const edge = (overrides: Record<string, unknown> = {}) => ({ name: 'edge', securityGroupIds: ['sg-0a'], ports: [443], ipVersions: ['ipv4'], sources: [{ type: 'aws', services: ['CLOUDFRONT'] }], ...overrides });

function setup() {
  const feeds = new Feeds();
  const groups = new MemorySecurityGroups();
  const clock = new FakeClock();
  const alerts = new MemoryAlerts();
  const logs: Array<[string, string, Record<string, unknown>?]> = [];
  const at = (level: string) => (m: string, ...e: unknown[]) => void logs.push([level, m, e[0] as Record<string, unknown>]);
  const log: LogPort = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  const deps: ReconcileDeps = { feeds, groups, alerts, clock, log };
  const run = async (cfg: IpRangesConfig, options: ReconcileOptions = {}) => reconcile(cfg, options, deps);
  return { feeds, groups, clock, alerts, logs, deps, run };
}

const byCheck = (findings: Array<{ checkId: string; status: string; message: string }>) => findings.map((f) => [f.checkId, f.status, f.message]);

describe('a run that applies, then runs again', () => {
  it('returns the exact result, findings and writes, records the version, and writes nothing the second time', async () => {
    const s = setup();
    s.feeds.bodies.set(AWS_URL, awsBody(V1, ['192.0.2.0/24', '198.51.100.0/24']));
    s.groups.rules.push({ groupId: 'sg-0a', ruleId: 'sgr-x', protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '10.0.0.0/8', description: 'office' });

    const { targets, alertErrors } = await s.run(config([edge()]));

    expect(alertErrors).toBeUndefined();
    const t = targets[0];
    expect({ ...t, findings: undefined }).toEqual({
      name: 'edge',
      groups: [
        {
          groupId: 'sg-0a',
          add: [
            { cidr: '192.0.2.0/24', protocol: 'tcp', fromPort: 443, toPort: 443, source: 'aws' },
            { cidr: '198.51.100.0/24', protocol: 'tcp', fromPort: 443, toPort: 443, source: 'aws' },
          ],
          remove: [],
          rulesAfter: 3,
          rulesBefore: 1,
          quota: 60,
          adopt: [],
          matchedUnowned: 0,
          families: { ipv4: { before: 1, after: 3, unowned: 1, quota: 60 }, ipv6: { before: 0, after: 0, unowned: 0, quota: 60 } },
        },
      ],
      held: false,
      status: 'changes',
      applied: true,
      dryRun: false,
      adopt: false,
      maxRulesPerGroup: 60,
      syncToken: V1,
      previousSyncToken: undefined,
      notes: [],
      writes: { authorize: 1, revoke: 0, tags: 1, prefixList: 0, modify: 0 },
      findings: undefined,
    });
    expect(byCheck(t.findings)).toEqual([
      ['reconcile.source-failed', 'PASS', `target "edge": ${AWS} loads again`],
      ['reconcile.quota', 'PASS', 'target "edge": the 2 rules fit in its 1 group'],
      ['reconcile.removal-held', 'PASS', `target "edge": no removal is held (version ${V1})`],
      ['reconcile.apply-failed', 'PASS', 'target "edge": its security groups were read and the plan applied'],
    ]);
    expect(t.findings.map((f) => [f.id, f.resource, f.severity, f.remediation])).toEqual([
      [`reconcile.source-failed:ip-ranges-target:edge:${AWS}`, AWS, 'HIGH', 'No action needed.'],
      ['reconcile.quota:ip-ranges-target:edge', 'ip-ranges-target:edge', 'HIGH', 'No action needed.'],
      ['reconcile.removal-held:ip-ranges-target:edge', 'ip-ranges-target:edge', 'MEDIUM', 'No action needed.'],
      ['reconcile.apply-failed:ip-ranges-target:edge', 'ip-ranges-target:edge', 'HIGH', 'No action needed.'],
    ]);
    expect(t.findings.every((f) => (f.details as { target: string }).target === 'edge')).toBe(true);
    expect(s.groups.state).toEqual({ syncToken: V1 });
    expect(s.alerts.events).toEqual([]);
    expect(s.logs.find(([, m]) => m === 'plan')?.[2]).toEqual({ target: 'edge', syncToken: V1, status: 'changes', desired: 2, adds: 2, adopts: 0, removes: 0 });

    const again = (await s.run(config([edge()]))).targets[0];
    expect(again).toMatchObject({ status: 'in-sync', applied: true, previousSyncToken: V1, syncToken: V1, writes: { authorize: 0, revoke: 0, tags: 0, prefixList: 0, modify: 0 } });
  });

  it('records a newer version only when it changes something for the target', async () => {
    const s = setup();
    s.feeds.bodies.set(AWS_URL, awsBody(V1, ['192.0.2.0/24']));
    await s.run(config([edge()]));
    s.feeds.bodies.set(AWS_URL, awsBody(V2, ['192.0.2.0/24']));
    const same = (await s.run(config([edge()]))).targets[0];
    expect(same).toMatchObject({ status: 'in-sync', syncToken: V2, writes: { tags: 0 } });
    expect(s.groups.state.syncToken).toBe(V1);

    s.feeds.bodies.set(AWS_URL, awsBody(V2, ['192.0.2.0/24', '203.0.113.0/24']));
    await s.run(config([edge()]));
    expect(s.groups.state.syncToken).toBe(V2);
  });

  it('names the source each rule comes from, and counts removals and adoptions', async () => {
    const s = setup();
    s.feeds.bodies.set(AWS_URL, awsBody(V1, ['192.0.2.0/24']));
    s.groups.rules.push(
      { groupId: 'sg-0a', ruleId: 'sgr-1', protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '203.0.113.0/24', description: 'origin-guard:edge:static' },
      { groupId: 'sg-0a', ruleId: 'sgr-2', protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '192.0.2.0/24', description: 'by hand' },
      { groupId: 'sg-0a', ruleId: 'sgr-3', protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '198.18.0.0/24', description: 'origin-guard:edge:aws' },
      { groupId: 'sg-0a', ruleId: 'sgr-4', protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '198.18.1.0/24', description: 'origin-guard:edge:aws' },
    );
    const t = (await s.run(config([edge({ maxRemovalFraction: 1 })]), { adopt: true })).targets[0];
    expect(t.adopt).toBe(true);
    expect(t.groups[0].remove.map((r) => [r.cidr, r.source])).toEqual([
      ['203.0.113.0/24', 'static'],
      ['198.18.0.0/24', 'aws'],
      ['198.18.1.0/24', 'aws'],
    ]);
    expect(t.groups[0].adopt).toEqual([{ cidr: '192.0.2.0/24', protocol: 'tcp', fromPort: 443, toPort: 443, source: 'aws' }]);
    expect(t.groups[0].matchedUnowned).toBe(1);
    expect(t.writes).toEqual({ authorize: 0, revoke: 1, tags: 1, prefixList: 0, modify: 1 });
    expect(s.logs.find(([, m]) => m === 'plan')?.[2]).toMatchObject({ adds: 0, adopts: 1, removes: 3 });
  });
});

describe('what is run', () => {
  it('refuses an unknown target by name, listing the configured ones', async () => {
    const s = setup();
    const cfg = config([edge(), edge({ name: 'api' })]);
    const error = await s.run(cfg, { target: 'nope' }).catch((e) => e);
    expect(error).toBeInstanceOf(UnknownTargetError);
    expect(error.name).toBe('UnknownTargetError');
    expect(error.message).toBe('no ip-ranges target is named "nope"; configured: edge, api');
    expect(s.feeds.fetches).toEqual([]);
  });

  it('runs only the named target, and fetches a URL shared by targets once per run', async () => {
    const s = setup();
    s.feeds.bodies.set(AWS_URL, awsBody(V1, ['192.0.2.0/24']));
    const cfg = config([edge(), edge({ name: 'api', securityGroupIds: ['sg-0b'] }), edge({ name: 'static', securityGroupIds: ['sg-0c'], sources: [{ type: 'static', cidrs: ['198.18.0.0/24'] }] })]);
    expect((await s.run(cfg)).targets.map((t) => [t.name, t.status])).toEqual([
      ['edge', 'changes'],
      ['api', 'changes'],
      ['static', 'changes'],
    ]);
    expect(s.feeds.fetches).toEqual([AWS_URL]);
    expect((await s.run(cfg, { target: 'api' })).targets.map((t) => t.name)).toEqual(['api']);
  });

  it('on a notification, runs only targets with an AWS source, and ignores a version already applied', async () => {
    const s = setup();
    const body = awsBody(V1, ['192.0.2.0/24']);
    s.feeds.bodies.set(AWS_URL, body);
    const cfg = config([edge(), edge({ name: 'static', securityGroupIds: ['sg-0c'], sources: [{ type: 'static', cidrs: ['198.18.0.0/24'] }] })]);
    const notice: IpSpaceChangedNotice = { createTime: '2025-12-31-22-00-00', syncToken: V1, md5: md5Hex(body), url: AWS_URL };
    expect((await s.run(cfg, { notice })).targets.map((t) => [t.name, t.status])).toEqual([['edge', 'changes']]);

    const repeated = (await s.run(cfg, { notice })).targets[0];
    expect(repeated).toMatchObject({ status: 'skipped', syncToken: V1, previousSyncToken: V1, applied: false, findings: [] });
    expect(repeated.notes).toEqual([`notified version ${V1} is not newer than the applied ${V1}: ignored`]);
    expect(s.feeds.fetches).toEqual([AWS_URL]);

    // A notification whose md5 does not match the file fails the source.
    const bad = (await s.run(cfg, { notice: { ...notice, syncToken: V2, md5: '0'.repeat(32) } })).targets[0];
    expect(bad.status).toBe('failed');
    expect(bad.error).toBe(`target "edge": ${AWS}: fetched version ${V1} is older than the notified ${V2} (a stale copy); nothing was changed`);
  });
});

describe('every kind of source', () => {
  it('loads each source of a target and labels each rule with the source that first named its range', async () => {
    const s = setup();
    s.feeds.bodies.set(AWS_URL, awsBody(V1, ['192.0.2.0/24']));
    s.feeds.bodies.set('https://www.cloudflare.com/ips-v4', '173.245.48.0/20\n\n192.0.2.0/24\n');
    s.feeds.bodies.set('https://www.cloudflare.com/ips-v6', '2400:cb00::/32\n');
    s.feeds.bodies.set('https://api.fastly.com/public-ip-list', JSON.stringify({ addresses: ['151.101.0.0/16'], ipv6_addresses: ['2a04:4e40::/32'] }));
    s.feeds.bodies.set(
      'https://example.com/ServiceTags_Public.json',
      JSON.stringify({ values: [{ name: 'AzureFrontDoor.Frontend', properties: { addressPrefixes: ['13.107.0.0/16'] } }, { name: 'AzureFrontDoor.Backend', properties: { addressPrefixes: ['147.243.0.0/16'] } }] }),
    );
    s.feeds.konnect = [
      { controlPlaneId: 'cp-1', dataplaneGroups: [{ cloudGatewayNetworkId: 'net-1', state: 'ready', egressIpAddresses: ['203.0.113.7'] }, { cloudGatewayNetworkId: 'net-2', state: 'ready', egressIpAddresses: ['203.0.113.8'] }] },
    ];
    const cfg = config([
      edge({
        sources: [
          { type: 'aws', services: ['CLOUDFRONT'] },
          { type: 'cloudflare' },
          { type: 'fastly' },
          { type: 'azure-frontdoor', url: 'https://example.com/ServiceTags_Public.json' },
          { type: 'konnect', region: 'eu', networkId: 'net-1', tokenSecretName: 'konnect-token' },
          { type: 'static', cidrs: ['198.18.0.1'] },
        ],
      }),
    ]);

    const t = (await s.run(cfg)).targets[0];

    expect(t.error).toBeUndefined();
    expect(t.groups[0].add.map((r) => `${r.cidr} ${r.source}`)).toEqual([
      '147.243.0.0/16 azure-frontdoor',
      '151.101.0.0/16 fastly',
      '173.245.48.0/20 cloudflare',
      '192.0.2.0/24 aws',
      '198.18.0.1/32 static',
      '203.0.113.7/32 konnect',
    ]);
    expect(t.findings.filter((f) => f.status === 'PASS' && f.checkId === 'reconcile.source-failed').map((f) => f.resource)).toEqual([
      AWS,
      'cloudflare',
      'fastly(https://api.fastly.com/public-ip-list)',
      'azure-frontdoor(AzureFrontDoor.Backend)',
      'konnect(eu/net-1)',
      'static',
    ]);
    expect([...s.feeds.fetches].sort()).toEqual(['https://api.fastly.com/public-ip-list', 'https://example.com/ServiceTags_Public.json', AWS_URL, 'https://www.cloudflare.com/ips-v4', 'https://www.cloudflare.com/ips-v6']);
  });
});

describe('failures: exact messages, findings, and nothing changed', () => {
  it('a source that fails: its finding FAILs, the others PASS, and no group is touched', async () => {
    const s = setup();
    s.feeds.bodies.set('https://api.fastly.com/public-ip-list', JSON.stringify({ addresses: ['151.101.0.0/16'], ipv6_addresses: ['2a04:4e40::/32'] }));
    const cfg = config([edge({ sources: [{ type: 'aws', services: ['CLOUDFRONT'] }, { type: 'fastly' }, { type: 'static', cidrs: ['198.18.0.0/24'] }] })]);

    const t = (await s.run(cfg)).targets[0];

    expect(t.status).toBe('failed');
    expect(t.applied).toBe(false);
    expect(t.error).toBe(`target "edge": ${AWS}: GET ${AWS_URL} answered 404; nothing was changed`);
    expect(byCheck(t.findings)).toEqual([
      ['reconcile.source-failed', 'PASS', 'target "edge": fastly(https://api.fastly.com/public-ip-list) loads again'],
      ['reconcile.source-failed', 'PASS', 'target "edge": static loads again'],
      ['reconcile.source-failed', 'FAIL', `target "edge": ${AWS}: GET ${AWS_URL} answered 404; nothing was changed`],
    ]);
    const fail = t.findings[2];
    expect(fail).toMatchObject({
      id: `reconcile.source-failed:ip-ranges-target:edge:${AWS}`,
      resource: AWS,
      severity: 'HIGH',
      remediation: 'Check the source (URL, file, token) and run origin-guard reconcile --target edge --dry-run; the groups keep their current rules until every source loads.',
      details: { target: 'edge', source: AWS, previousSyncToken: undefined },
    });
    expect(s.groups.added).toBe(0);
    expect(s.alerts.events.map((e) => [e.kind, e.finding.id])).toEqual([['FAILURE', fail.id]]);
    expect(s.logs.filter(([level]) => level === 'error').map(([, m, f]) => [m, f])).toEqual([['reconcile failed', { target: 'edge', checkId: 'reconcile.source-failed', message: t.error }]]);
  });

  it('two failing sources, one not a SourceError: both named, the errors joined', async () => {
    const s = setup();
    s.feeds.bodies.set(AWS_URL, new Error('socket hang up'));
    s.feeds.bodies.set('https://api.fastly.com/public-ip-list', 'not json');
    const t = (await s.run(config([edge({ sources: [{ type: 'aws', services: ['CLOUDFRONT'] }, { type: 'fastly' }] })]))).targets[0];
    expect(t.error).toBe(
      `target "edge": ${AWS}: Error: socket hang up; target "edge": fastly(https://api.fastly.com/public-ip-list): not valid JSON (truncated or not the expected file?): ` +
        `Unexpected token 'o', "not json" is not valid JSON; nothing was changed`,
    );
    expect(t.findings.map((f) => [f.status, f.resource])).toEqual([
      ['FAIL', AWS],
      ['FAIL', 'fastly(https://api.fastly.com/public-ip-list)'],
    ]);
  });

  it('a source without a range of the target\'s families fails rather than emptying the groups', async () => {
    const s = setup();
    s.feeds.bodies.set(AWS_URL, awsBody(V1, ['192.0.2.0/24']));
    const t = (await s.run(config([edge({ ipVersions: ['ipv6'] })]))).targets[0];
    expect(t.error).toBe(`target "edge": ${AWS}: no IPv6 CIDR among the 1 it lists, and the target admits IPv6 only: refusing to remove every range of this source, nothing was changed`);
  });

  it('a version older than the applied one is a stale copy; with an applied version from the future, says how to recover', async () => {
    const s = setup();
    s.groups.state = { syncToken: V2 };
    s.feeds.bodies.set(AWS_URL, awsBody(V1, ['192.0.2.0/24']));
    const t = (await s.run(config([edge()]))).targets[0];
    expect(t.error).toBe(`target "edge": ${AWS}: version ${V1} is older than the applied ${V2} (a stale copy or cache); nothing was changed`);
    expect(t.findings.at(-1)?.details).toEqual({ target: 'edge', source: AWS, previousSyncToken: V2 });
    expect(s.groups.added).toBe(0);

    const future = String(NOW_S + 86_400 + 1);
    s.groups.state = { syncToken: future };
    const frozen = (await s.run(config([edge()]))).targets[0];
    expect(frozen.error).toBe(
      `target "edge": ${AWS}: version ${V1} is older than the applied ${future} (a stale copy or cache); nothing was changed; ` +
        'the applied version is more than 1 day ahead of the clock: delete the tag origin-guard:edge:syncToken from sg-0a to recover',
    );
    // Exactly one day ahead is not frozen.
    s.groups.state = { syncToken: String(NOW_S + 86_400) };
    expect((await s.run(config([edge()]))).targets[0].error).not.toContain('ahead of the clock');
    // A repeated notification says so too.
    s.groups.state = { syncToken: future };
    const notice: IpSpaceChangedNotice = { createTime: 'x', syncToken: V1, md5: '0'.repeat(32), url: AWS_URL };
    expect((await s.run(config([edge()]), { notice })).targets[0].notes).toEqual([
      `notified version ${V1} is not newer than the applied ${future}: ignored; the applied version is more than 1 day ahead of the clock: delete the tag origin-guard:edge:syncToken from sg-0a to recover`,
    ]);
  });

  it('groups that cannot be read', async () => {
    const s = setup();
    s.groups.read = async () => {
      throw new Error('UnauthorizedOperation');
    };
    const t = (await s.run(config([edge()]))).targets[0];
    expect(t).toMatchObject({ status: 'failed', held: false, groups: [], applied: false, notes: [] });
    expect(t.findings).toMatchObject([
      {
        checkId: 'reconcile.apply-failed',
        status: 'FAIL',
        message: 'target "edge": cannot read its security groups: Error: UnauthorizedOperation',
        remediation: 'Check that the groups exist and that the reconciler may describe them; nothing was changed.',
      },
    ]);
    expect(s.feeds.fetches).toEqual([]);
  });

  it('a set that does not fit: how many groups are missing, singular and plural, and nothing changed', async () => {
    const s = setup();
    s.feeds.bodies.set(AWS_URL, awsBody(V1, ['192.0.2.0/24', '192.0.3.0/24', '192.0.4.0/24']));
    const one = (await s.run(config([edge({ maxRulesPerGroup: 2 })]))).targets[0];
    expect(one).toMatchObject({ status: 'insufficient-capacity', groupsNeeded: 1, applied: false });
    expect(one.error).toBe('target "edge": 3 rules do not fit in 1 groups (2 free of 2 each); 1 more group needed');
    const quota = one.findings.find((f) => f.checkId === 'reconcile.quota')!;
    expect(quota.remediation).toBe(
      'Add 1 security group to securityGroupIds of target "edge" (and attach them), or raise the rules-per-group quota and maxRulesPerGroup; nothing was changed.',
    );
    expect(quota.details).toEqual({ target: 'edge', groupsNeeded: 1, desired: 3, capacity: 2 });
    expect(s.groups.added).toBe(0);

    const two = (await s.run(config([edge({ maxRulesPerGroup: 1 })]))).targets[0];
    expect(two.error).toBe('target "edge": 3 rules do not fit in 1 groups (1 free of 1 each); 2 more groups needed');
    expect(two.findings.find((f) => f.checkId === 'reconcile.quota')?.remediation).toMatch(/^Add 2 security groups to securityGroupIds/);
    expect(s.groups.added).toBe(0);
  });

  it('prefix-list references that do not fit any group: more groups would not help, and the note says why', async () => {
    const s = setup();
    s.groups.read = async () => ({ rules: [], state: {}, prefixLists: [{ id: 'pl-0a', family: 'ipv4', maxEntries: 70 }] });
    const cfg = config([edge({ mode: 'prefix-list', prefixListIds: ['pl-0a', 'pl-0f'], sources: [{ type: 'static', cidrs: ['198.18.0.0/24'] }] })]);
    const t = (await s.run(cfg)).targets[0];
    expect(t.status).toBe('insufficient-capacity');
    expect(t.notes[0]).toBe('prefix lists pl-0f were not found; only the others are used');
    expect(t.groupsNeeded).toBe(0);
    const quota = t.findings.find((f) => f.checkId === 'reconcile.quota')!;
    expect(quota.message).toBe(
      'target "edge": the references to the target\'s prefix lists count as their MaxEntries against sg-0a\'s quota: 70 = 70, with 0 used by other rules, of 60. ' +
        'Lower the lists\' MaxEntries, or raise the "Inbound rules per security group" quota and maxRulesPerGroup; nothing was changed.',
    );
    expect(quota.remediation).toBe("Lower the prefix lists' MaxEntries, or raise the rules-per-group quota and maxRulesPerGroup; nothing was changed.");
    // The capacity is the lists' (they would hold the set); the groups are what is short.
    expect(quota.details).toEqual({ target: 'edge', desired: 1, capacity: 70 });
  });

  it('a plan that cannot be applied, and a version that cannot be recorded', async () => {
    const s = setup();
    s.feeds.bodies.set(AWS_URL, awsBody(V1, ['192.0.2.0/24']));
    const apply = s.groups.apply.bind(s.groups);
    s.groups.apply = async () => {
      throw new Error('RulesPerSecurityGroupLimitExceeded');
    };
    const failed = (await s.run(config([edge()]))).targets[0];
    expect(failed).toMatchObject({ status: 'failed', applied: false, error: 'target "edge": applying the plan failed: Error: RulesPerSecurityGroupLimitExceeded' });
    expect(failed.findings.at(-1)).toMatchObject({
      checkId: 'reconcile.apply-failed',
      status: 'FAIL',
      remediation: 'The next run re-reads the groups and finishes the change; if it keeps failing, check the reconciler permissions and the groups.',
    });
    expect(s.groups.state).toEqual({});

    s.groups.apply = apply;
    s.groups.writeState = async () => {
      throw new Error('Throttling');
    };
    const unrecorded = (await s.run(config([edge()]))).targets[0];
    expect(unrecorded).toMatchObject({ status: 'changes', applied: true, writes: { authorize: 1, tags: 0 } });
    expect(unrecorded.notes).toEqual([`could not record version ${V1}: Error: Throttling`]);
    expect(unrecorded.error).toBeUndefined();
    expect(s.logs.filter(([level]) => level === 'warn').map(([, m, f]) => [m, f])).toEqual([
      ['could not record the applied version', { target: 'edge', syncToken: V1, error: 'Error: Throttling' }],
    ]);
  });
});

describe('the removal guard in the result', () => {
  async function shrunk(dryRun: boolean) {
    const s = setup();
    s.feeds.bodies.set(AWS_URL, awsBody(V1, ['192.0.2.0/24', '192.0.3.0/24', '192.0.4.0/24']));
    await s.run(config([edge()]));
    s.feeds.bodies.set(AWS_URL, awsBody(V2, ['192.0.2.0/24', '198.18.0.0/24']));
    return { s, t: (await s.run(config([edge()]), { dryRun })).targets[0] };
  }

  it('holds removals, applies additions, says so, and remembers the held set by its version', async () => {
    const { s, t } = await shrunk(false);
    expect(t).toMatchObject({ status: 'held', held: true, applied: true });
    const finding = t.findings.find((f) => f.checkId === 'reconcile.removal-held')!;
    expect(finding).toMatchObject({
      status: 'FAIL',
      severity: 'MEDIUM',
      message: `target "edge": version ${V2} would remove 2 of 3 owned rules (66.7%), more than maxRemovalFraction 0.3; removals held, additions applied`,
      remediation: 'If the shrink is expected, run origin-guard reconcile --target edge --force; otherwise it is applied once the next version has the same set.',
      details: { target: 'edge', syncToken: V2, stale: 2, owned: 3, reason: '2 of 3 owned rules (66.7%)' },
    });
    expect(s.groups.state).toEqual({ syncToken: V2, held: { fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/), syncToken: V2 } });
    expect(s.groups.removed).toBe(0);
  });

  it('on a dry run: planned, not applied, nothing written, no lease taken', async () => {
    const { s, t } = await shrunk(true);
    expect(t).toMatchObject({ status: 'held', applied: false, dryRun: true, writes: { authorize: 0, revoke: 0, tags: 0, prefixList: 0, modify: 0 } });
    expect(t.findings.find((f) => f.checkId === 'reconcile.removal-held')?.message).toMatch(/removals held, additions planned$/);
    expect(t.findings.map((f) => f.checkId)).not.toContain('reconcile.apply-failed');
    expect(s.groups.state.syncToken).toBe(V1);
  });

  it('a prefix-list switch waiting for make-before-break is held with its own finding', async () => {
    const s = setup();
    const cidrs = ['198.18.0.0/24', '198.18.1.0/24'];
    s.groups.rules.push(
      ...cidrs.map((cidr, i) => ({ groupId: 'sg-0a', ruleId: `sgr-${i}`, protocol: 'tcp', fromPort: 443, toPort: 443, cidr, description: 'origin-guard:edge:static' })),
      { groupId: 'pl-0a', protocol: 'prefix-list-entry', fromPort: 0, toPort: 0, cidr: cidrs[0], description: 'origin-guard:edge:static' },
      { groupId: 'pl-0a', protocol: 'prefix-list-entry', fromPort: 0, toPort: 0, cidr: cidrs[1], description: 'origin-guard:edge:static' },
    );
    const read = s.groups.read.bind(s.groups);
    s.groups.read = async (target) => ({ ...(await read(target)), prefixLists: [{ id: 'pl-0a', family: 'ipv4', maxEntries: 2 }] });
    const cfg = config([edge({ mode: 'prefix-list', prefixListIds: ['pl-0a'], maxRulesPerGroup: 3, sources: [{ type: 'static', cidrs }] })]);

    const t = (await s.run(cfg)).targets[0];

    expect(t.status).toBe('held');
    const finding = t.findings.find((f) => f.checkId === 'reconcile.removal-held')!;
    expect(finding.message).toBe(
      'target "edge": the change to prefix-list mode waits until what replaces the rules admits the same ranges: ' +
        'sg-0a cannot reference the prefix lists (2 rules against its quota) beside its current rules (1 free) without first removing 2 rules that still admit desired ranges: ' +
        'add a spare security group with 2 free rules to securityGroupIds, or raise the quota and maxRulesPerGroup by 1; nothing that admits traffic was removed. ' +
        '3 changes wait until what replaces them admits the same ranges (make-before-break); a later run continues.',
    );
    expect(finding).toMatchObject({ status: 'FAIL', severity: 'MEDIUM', details: { target: 'edge', deferred: 3 } });
    expect(s.groups.removed).toBe(0);
  });
});

describe('leases', () => {
  it('skips a target another run holds, unchanged, with the exact result', async () => {
    const s = setup();
    const table = new MemoryLeaseTable(() => s.clock.now());
    await new MemoryLeases(table, 'lambda:reconcile').acquire(leaseKey.reconcileTarget('edge'), 'reconcile', 60_000);
    s.deps.leases = new MemoryLeases(table, 'cli');
    s.feeds.bodies.set(AWS_URL, awsBody(V1, ['192.0.2.0/24']));

    const t = (await s.run(config([edge()]))).targets[0];

    expect(t).toEqual({
      name: 'edge',
      groups: [],
      held: false,
      status: 'skipped',
      applied: false,
      dryRun: false,
      adopt: false,
      maxRulesPerGroup: 60,
      notes: [expect.stringMatching(/^skipped: reconcile-target:edge is being changed by reconcile \(lambda:reconcile\) since /)],
      writes: { authorize: 0, revoke: 0, tags: 0, prefixList: 0, modify: 0 },
      findings: [],
    });
    expect(s.feeds.fetches).toEqual([]);
    expect(s.logs.find(([, m]) => m === 'target skipped: another run holds it')?.[2]).toEqual({ target: 'edge', holder: 'lambda:reconcile' });
    // A dry run takes no lease and plans.
    expect((await s.run(config([edge()]), { dryRun: true })).targets[0].status).toBe('changes');
  });

  it('releases its lease, does not write once the lease was lost, and keeps the result when the release fails', async () => {
    const s = setup();
    const table = new MemoryLeaseTable(() => s.clock.now());
    s.deps.leases = new MemoryLeases(table, 'cli');
    s.feeds.bodies.set(AWS_URL, awsBody(V1, ['192.0.2.0/24']));
    expect((await s.run(config([edge()]))).targets[0].applied).toBe(true);
    expect(table.items.size).toBe(0);

    // The lease lapses during a long read: no write.
    s.feeds.bodies.set(AWS_URL, awsBody(V2, ['192.0.2.0/24', '203.0.113.0/24']));
    const read = s.groups.read.bind(s.groups);
    s.groups.read = async (target) => {
      s.clock.advance(7 * 60_000);
      return read(target);
    };
    const lost = (await s.run(config([edge()]))).targets[0];
    expect(lost).toMatchObject({ status: 'failed', applied: false });
    expect(lost.error).toMatch(/^target "edge": applying the plan failed: LeaseLostError: /);
    expect(s.groups.added).toBe(1);

    // A release that fails is logged, the result stands; an error other than a held lease is thrown.
    s.groups.read = read;
    s.deps.leases = {
      acquire: async (key, purpose) => ({ key, owner: 'x', purpose, extend: async () => {}, check: async () => {}, release: async () => Promise.reject(new Error('ConditionalCheckFailed')) }),
      holder: async () => undefined,
    };
    expect((await s.run(config([edge()]))).targets[0].applied).toBe(true);
    expect(s.logs.find(([, m]) => m === 'could not release the reconcile lease')?.[2]).toEqual({ target: 'edge', error: 'Error: ConditionalCheckFailed' });
    s.deps.leases = { acquire: async () => Promise.reject(new Error('ResourceNotFoundException')), holder: async () => undefined };
    await expect(s.run(config([edge()]))).rejects.toThrow('ResourceNotFoundException');
  });
});

describe('alerts of a run', () => {
  function memoryState(): AlertStatePort & { items: Map<string, AlertState> } {
    const items = new Map<string, AlertState>();
    return {
      items,
      get: async (ids) => new Map(ids.flatMap((id) => (items.has(id) ? [[id, items.get(id)!] as const] : []))),
      put: async (next) => (items.set(next.findingId, next), true),
    };
  }

  it('without an alert state: every FAIL on every run, nothing for PASS; a publish that fails is logged', async () => {
    const s = setup();
    const t = (await s.run(config([edge()]))).targets[0];
    expect(s.alerts.events.map((e) => [e.kind, e.finding.status, e.finding.id])).toEqual([['FAILURE', 'FAIL', t.findings[0].id]]);
    await s.run(config([edge()]));
    expect(s.alerts.events).toHaveLength(2);

    s.deps.alerts = { publish: async () => Promise.reject(new Error('SNS down')) };
    const result = await s.run(config([edge()]));
    expect(result.alertErrors).toBeUndefined();
    expect(s.logs.filter(([, m]) => m === 'could not publish an alert').map(([, , f]) => f)).toEqual([{ checkId: 'reconcile.source-failed', error: 'Error: SNS down' }]);
  });

  it('with an alert state: once when it starts, once when it is gone; one state for two sources of one kind, the first failure alerted', async () => {
    const s = setup();
    const published: AlertEvent[] = [];
    const state = memoryState();
    s.deps.alerting = { publisher: { publish: async (e) => void published.push(e) }, state, reminderHours: 0 };
    const cfg = config([edge({ sources: [{ type: 'static', cidrs: ['198.18.0.0/24', 'bogus'] }, { type: 'static', cidrs: ['198.18.0.0/99'] }] })]);

    const first = await s.run(cfg);

    const id = reconcileFindingId('reconcile.source-failed', 'edge', 'static');
    const failures = first.targets[0].findings.filter((f) => f.id === id);
    expect(failures.map((f) => f.status)).toEqual(['FAIL', 'FAIL']);
    expect(failures[0].message).not.toBe(failures[1].message);
    expect(published.map((e) => [e.kind, e.finding.id, e.finding.message])).toEqual([['NEW', id, failures[0].message]]);
    expect(s.alerts.events).toEqual([]);
    await s.run(cfg);
    expect(published).toHaveLength(1);

    const fixed = config([edge({ sources: [{ type: 'static', cidrs: ['198.18.0.0/24'] }] })]);
    await s.run(fixed);
    expect(published.map((e) => e.kind)).toEqual(['NEW', 'RESOLVED']);
    // A dry run neither alerts through the state nor changes it: each failure goes to the plain alerts port.
    await s.run(cfg, { dryRun: true });
    expect(published).toHaveLength(2);
    expect(state.items.get(id)?.status).toBe('PASS');
    expect(s.alerts.events.map((e) => [e.kind, e.finding.id])).toEqual([
      ['FAILURE', id],
      ['FAILURE', id],
    ]);
  });

  it('with an alert state that cannot be read: every failure is published without it, and the run says so', async () => {
    const s = setup();
    const published: AlertEvent[] = [];
    s.deps.alerting = { publisher: { publish: async (e) => void published.push(e) }, state: { get: async () => Promise.reject(new Error('AccessDenied')), put: async () => true }, reminderHours: 0 };
    const result = await s.run(config([edge({ sources: [{ type: 'aws', services: ['CLOUDFRONT'] }, { type: 'static', cidrs: ['198.18.0.0/24'] }] })]));
    const message = 'reading the alert state failed: Error: AccessDenied; failures were published without it';
    expect(result.alertErrors).toEqual([message]);
    expect(published.map((e) => [e.kind, e.finding.status])).toEqual([['FAILURE', 'FAIL']]);
    expect(s.logs.find(([, m]) => m === 'reconcile alert state unavailable')?.[2]).toEqual({ error: message });
  });

  it('with an alert that cannot be stored: the run lists it and logs it', async () => {
    const s = setup();
    s.deps.alerting = { publisher: { publish: async () => {} }, state: { get: async () => new Map(), put: async () => Promise.reject(new Error('Throttled')) }, reminderHours: 0 };
    const result = await s.run(config([edge()]));
    const expected = [`${reconcileFindingId('reconcile.source-failed', 'edge', AWS)}: storing the alert state failed: Error: Throttled`];
    expect(result.alertErrors).toEqual(expected);
    expect(s.logs.filter(([, m]) => m === 'reconcile alert not sent').map(([, , f]) => f)).toEqual([{ error: expected[0] }]);
  });
});

describe('confirming a held shrink', () => {
  const held = (over: Record<string, unknown> = {}) => ({ fingerprint: 'f', ...over });
  const now = new Date('2026-01-01T12:00:00Z');

  it('by a later version, never by the same or an older one', () => {
    expect(confirmsHeld(held({ syncToken: V1 }), V2, now, 6)).toBe(true);
    expect(confirmsHeld(held({ syncToken: V1 }), V1, now, 6)).toBe(false);
    expect(confirmsHeld(held({ syncToken: V2 }), V1, now, 6)).toBe(false);
  });

  it('without versions: after guardHours to the millisecond and a first run; an old state without a time only when there is no wait', () => {
    const since = new Date(now.getTime() - 6 * HOUR).toISOString();
    expect(confirmsHeld(held({ since, runs: 1 }), undefined, now, 6)).toBe(true);
    expect(confirmsHeld(held({ since }), undefined, now, 6)).toBe(true);
    expect(confirmsHeld(held({ since, runs: 0 }), undefined, now, 6)).toBe(false);
    expect(confirmsHeld(held({ since, runs: 1 }), undefined, new Date(now.getTime() - 1), 6)).toBe(false);
    expect(confirmsHeld(held({ since: 'garbage', runs: 3 }), undefined, now, 0)).toBe(false);
    expect(confirmsHeld(held(), undefined, now, 0)).toBe(true);
    expect(confirmsHeld(held(), undefined, now, 1)).toBe(false);
    // A version on one side only is judged by time.
    expect(confirmsHeld(held({ syncToken: V1, since, runs: 1 }), undefined, now, 6)).toBe(true);
    expect(confirmsHeld(held({ since, runs: 1 }), V2, now, 6)).toBe(true);
  });

  it('nextHeld: a version is all there is to remember; otherwise the first sighting and the count of runs', () => {
    expect(nextHeld(undefined, 'f', V1, now)).toEqual({ fingerprint: 'f', syncToken: V1 });
    expect(nextHeld(undefined, 'f', undefined, now)).toEqual({ fingerprint: 'f', since: now.toISOString(), runs: 1 });
    expect(nextHeld({ fingerprint: 'f', since: 'then', runs: 2 }, 'f', undefined, now)).toEqual({ fingerprint: 'f', since: 'then', runs: 3 });
    expect(nextHeld({ fingerprint: 'f', since: 'then' }, 'f', undefined, now)).toEqual({ fingerprint: 'f', since: 'then', runs: 2 });
    expect(nextHeld({ fingerprint: 'g', since: 'then', runs: 2 }, 'f', undefined, now)).toEqual({ fingerprint: 'f', since: now.toISOString(), runs: 1 });
    expect(nextHeld({ fingerprint: 'f', syncToken: V1 }, 'f', undefined, now)).toEqual({ fingerprint: 'f', since: now.toISOString(), runs: 1 });
  });

  it('finding ids are stable per check, target and source', () => {
    expect(reconcileFindingId('reconcile.quota', 'edge')).toBe('reconcile.quota:ip-ranges-target:edge');
    expect(reconcileFindingId('reconcile.source-failed', 'edge', 'static')).toBe('reconcile.source-failed:ip-ranges-target:edge:static');
  });
});

describe('versions, notices and wording edge cases', () => {
  const AWS2 = 'https://mirror.example.com/ip-ranges.json';

  it('plans for the newest version among several AWS sources, whatever their order', async () => {
    for (const order of [
      [V2, V1],
      [V1, V2],
    ]) {
      const s = setup();
      s.feeds.bodies.set(AWS_URL, awsBody(order[0], ['192.0.2.0/24']));
      s.feeds.bodies.set(AWS2, awsBody(order[1], ['198.51.100.0/24']));
      const t = (await s.run(config([edge({ sources: [{ type: 'aws', services: ['CLOUDFRONT'] }, { type: 'aws', services: ['CLOUDFRONT'], url: AWS2 }, { type: 'static', cidrs: ['198.18.0.0/24'] }] })]))).targets[0];
      expect(t.syncToken).toBe(V2);
      expect(s.groups.state.syncToken).toBe(V2);
    }
  });

  it('a stale copy is blamed on the AWS source that brought the version, not on the first source', async () => {
    const s = setup();
    s.groups.state = { syncToken: V2 };
    s.feeds.bodies.set(AWS_URL, awsBody(V1, ['192.0.2.0/24']));
    const t = (await s.run(config([edge({ sources: [{ type: 'static', cidrs: ['198.18.0.0/24'] }, { type: 'aws', services: ['CLOUDFRONT'] }] })]))).targets[0];
    expect(t.findings.filter((f) => f.status === 'FAIL').map((f) => f.resource)).toEqual([AWS]);
  });

  it('a notification runs a target with an AWS source among others', async () => {
    const s = setup();
    const body = awsBody(V1, ['192.0.2.0/24']);
    s.feeds.bodies.set(AWS_URL, body);
    const notice: IpSpaceChangedNotice = { createTime: 'x', syncToken: V1, md5: md5Hex(body), url: AWS_URL };
    const t = (await s.run(config([edge({ sources: [{ type: 'static', cidrs: ['198.18.0.0/24'] }, { type: 'aws', services: ['CLOUDFRONT'] }] })]), { notice })).targets;
    expect(t.map((x) => [x.name, x.status])).toEqual([['edge', 'changes']]);
  });

  it('a failing source is the only failure reported, even when the AWS file is also older than the applied version', async () => {
    const s = setup();
    s.groups.state = { syncToken: V2 };
    s.feeds.bodies.set(AWS_URL, awsBody(V1, ['192.0.2.0/24']));
    const t = (await s.run(config([edge({ sources: [{ type: 'aws', services: ['CLOUDFRONT'] }, { type: 'fastly' }] })]))).targets[0];
    expect(t.error).toBe('target "edge": fastly(https://api.fastly.com/public-ip-list): GET https://api.fastly.com/public-ip-list answered 404; nothing was changed');
  });

  it('the quota finding counts groups in words; an unversioned hold says so', async () => {
    const s = setup();
    s.feeds.bodies.set('https://api.fastly.com/public-ip-list', JSON.stringify({ addresses: ['151.101.0.0/24', '151.101.1.0/24', '151.101.2.0/24'], ipv6_addresses: ['2a04:4e40::/32'] }));
    const cfg = config([edge({ securityGroupIds: ['sg-0a', 'sg-0b'], sources: [{ type: 'fastly' }] })]);
    const first = (await s.run(cfg)).targets[0];
    expect(first.findings.find((f) => f.checkId === 'reconcile.quota')?.message).toBe('target "edge": the 3 rules fit in its 2 groups');
    expect(first.findings.find((f) => f.checkId === 'reconcile.removal-held')?.message).toBe('target "edge": no removal is held (version (unversioned))');
    s.feeds.bodies.set('https://api.fastly.com/public-ip-list', JSON.stringify({ addresses: ['151.101.0.0/24'], ipv6_addresses: ['2a04:4e40::/32'] }));
    const held = (await s.run(cfg)).targets[0];
    expect(held.findings.find((f) => f.checkId === 'reconcile.removal-held')?.message).toBe(
      'target "edge": version (unversioned) would remove 2 of 3 owned rules (66.7%), more than maxRemovalFraction 0.3; removals held, additions applied',
    );
  });

  it('a prefix-list switch that can proceed this run reports no hold; its waiting finding names the remedy', async () => {
    const s = setup();
    const cidrs = ['198.18.0.0/24', '198.18.1.0/24'];
    s.groups.rules.push(...cidrs.map((cidr, i) => ({ groupId: 'sg-0a', ruleId: `sgr-${i}`, protocol: 'tcp', fromPort: 443, toPort: 443, cidr, description: 'origin-guard:edge:static' })));
    const read = s.groups.read.bind(s.groups);
    s.groups.read = async (target) => ({ ...(await read(target)), prefixLists: [{ id: 'pl-0a', family: 'ipv4', maxEntries: 2 }] });
    const cfg = config([edge({ mode: 'prefix-list', prefixListIds: ['pl-0a', 'pl-0f'], maxRulesPerGroup: 3, sources: [{ type: 'static', cidrs }] })]);
    const first = (await s.run(cfg)).targets[0];
    // The list is filled this run (a change), while the group waits: no hold yet.
    expect(first.status).toBe('changes');
    expect(first.findings.find((f) => f.checkId === 'reconcile.removal-held')).toMatchObject({ status: 'PASS' });
    const second = (await s.run(cfg)).targets[0];
    const finding = second.findings.find((f) => f.checkId === 'reconcile.removal-held')!;
    expect(finding.message).not.toContain('were not found');
    expect(finding.message).toMatch(/^target "edge": the change to prefix-list mode waits until what replaces the rules admits the same ranges: sg-0a cannot reference/);
    expect(finding.remediation).toBe(
      'Add a spare security group to securityGroupIds of target "edge", or raise the rules-per-group quota and maxRulesPerGroup, as the note says; nothing that admits traffic is removed meanwhile.',
    );
  });

  it('holds its target for the Lambda\'s timeout and a margin, as "reconcile"', async () => {
    const s = setup();
    const taken: Array<[string, string, number]> = [];
    s.deps.leases = {
      acquire: async (key, purpose, ms) => (taken.push([key, purpose, ms]), { key, owner: 'x', purpose, extend: async () => {}, check: async () => {}, release: async () => {} }),
      holder: async () => undefined,
    };
    await s.run(config([edge()]));
    expect(taken).toEqual([[leaseKey.reconcileTarget('edge'), 'reconcile', 360_000]]);
  });
});
