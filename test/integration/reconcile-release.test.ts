/**
 * `origin-guard reconcile --release` on the emulator: hands a target's group back without cutting traffic.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, CreateTagsCommand, DescribeTagsCommand, CreateVpcCommand, DescribeSecurityGroupRulesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UsageError, type CliContext } from '../../cli/context.ts';
import { reconcileCommand } from '../../cli/reconcile.ts';
import { cidrContains, planRelease } from '../../lambdas/core/release.ts';
import { emulatorClientConfig, motoEndpoint, uniqueName } from '../support/aws.ts';

const ec2 = new EC2Client(emulatorClientConfig());
let dir: string;
let configPath: string;
let groupId: string;
let target: string;

function captureContext(env: NodeJS.ProcessEnv): CliContext & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (t) => void out.push(t), stderr: (t) => void err.push(t), env, interactive: false };
}

async function rules(): Promise<string[]> {
  const out = await ec2.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [groupId] }] }));
  return (out.SecurityGroupRules ?? [])
    .filter((r) => !r.IsEgress)
    .map((r) => `${r.CidrIpv4 ?? r.CidrIpv6} ${r.FromPort}-${r.ToPort} ${r.Description ?? ''}`.trim())
    .sort();
}

const ingress = (cidr: string, description: string, fromPort = 443, toPort = 443) =>
  ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: fromPort, ToPort: toPort, IpRanges: [{ CidrIp: cidr, Description: description }] }] }));

beforeAll(async () => {
  vi.stubEnv('AWS_ENDPOINT_URL', motoEndpoint());
  dir = mkdtempSync(join(tmpdir(), 'og-release-'));
  configPath = join(dir, 'origin-guard.config.json');
  target = uniqueName('rel').toLowerCase();
  const vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.31.0.0/16' }))).Vpc!.VpcId!;
  groupId = (await ec2.send(new CreateSecurityGroupCommand({ GroupName: uniqueName('og-rel'), Description: 'release test', VpcId: vpcId }))).GroupId!;
  writeFileSync(
    configPath,
    JSON.stringify({ region: 'eu-west-1', ipRanges: { targets: [{ name: target, securityGroupIds: [groupId], ports: [443], sources: [{ type: 'static', cidrs: ['13.32.0.0/15'] }] }] } }),
  );
  // Owned by origin-guard: two CloudFront ranges. The owner's own rule admits 13.32.0.0/14 on 443-8443, which
  // covers the first range; nothing else admits the second.
  await ingress('13.32.0.0/15', `origin-guard:${target}:aws`);
  await ingress('52.46.0.0/18', `origin-guard:${target}:aws`);
  await ingress('13.32.0.0/14', 'hand-made by the owner', 443, 8443);
  // The version a reconcile recorded, and the owner's own tag.
  await ec2.send(new CreateTagsCommand({ Resources: [groupId], Tags: [{ Key: `origin-guard:${target}:syncToken`, Value: '1700000000' }, { Key: 'team', Value: 'payments' }] }));
});

async function tagKeys(): Promise<string[]> {
  const out = await ec2.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [groupId] }] }));
  return (out.Tags ?? []).map((t) => t.Key!).sort();
}

afterAll(() => {
  vi.unstubAllEnvs();
  rmSync(dir, { recursive: true, force: true });
});

describe('origin-guard reconcile --release', () => {
  it('plans on CIDR containment and ports, per family', () => {
    expect(cidrContains('13.32.0.0/14', '13.32.0.0/15')).toBe(true);
    expect(cidrContains('13.32.0.0/15', '13.32.0.0/14')).toBe(false);
    expect(cidrContains('13.36.0.0/14', '13.32.0.0/15')).toBe(false);
    expect(cidrContains('0.0.0.0/0', '52.46.0.0/18')).toBe(true);
    expect(cidrContains('2600:9000::/28', '2600:9000:1000::/36')).toBe(true);
    expect(cidrContains('2600:9000::/28', '2600:9010::/32')).toBe(false);
    expect(cidrContains('::/0', '13.32.0.0/15')).toBe(false);
    expect(cidrContains('pl-0123456789abcdef0', '13.32.0.0/15')).toBe(false);
    const owned = { groupId: 'sg-1', protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '13.32.0.0/15', description: 'origin-guard:t:aws' };
    const narrowPorts = { groupId: 'sg-1', protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '0.0.0.0/0' };
    const otherGroup = { groupId: 'sg-2', protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '0.0.0.0/0' };
    expect(planRelease('t', [owned, narrowPorts, otherGroup], false).remove).toEqual([]);
    expect(planRelease('t', [owned, { ...narrowPorts, protocol: '-1' }], false).remove).toHaveLength(1);
  });

  it('--dry-run lists what it would remove and what it keeps, with why, and changes nothing', async () => {
    const before = await rules();
    const ctx = captureContext({ ORIGIN_GUARD_CONFIG: configPath });
    const code = await reconcileCommand(['--release', '--dry-run', '--json'], ctx);
    expect(code).toBe(1);
    const [t] = JSON.parse(ctx.out.join('')).release.targets;
    expect(t.name).toBe(target);
    expect(t.groups[0].removed.map((r: { cidr: string }) => r.cidr)).toEqual(['13.32.0.0/15']);
    expect(t.groups[0].removed[0].reason).toMatch(/13\.32\.0\.0\/14 tcp\/443-8443 .*admits it too/);
    expect(t.groups[0].kept.map((r: { cidr: string }) => r.cidr)).toEqual(['52.46.0.0/18']);
    expect(t.groups[0].kept[0].reason).toMatch(/removing it would cut that traffic/);
    expect(await rules()).toEqual(before);
  });

  it('removes only the redundant owned rule, keeps the one traffic depends on, and exits 1 saying so', async () => {
    const ctx = captureContext({ ORIGIN_GUARD_CONFIG: configPath });
    expect(await reconcileCommand(['--release'], ctx)).toBe(1);
    expect(ctx.out.join('\n')).toMatch(new RegExp(`${target}: NOT fully released`));
    expect(await rules()).toEqual(['13.32.0.0/14 443-8443 hand-made by the owner', `52.46.0.0/18 443-443 origin-guard:${target}:aws`]);
    // Not fully released: the state stays, so a reconcile can still take the group up where it left it.
    expect(await tagKeys()).toEqual([`origin-guard:${target}:syncToken`, 'team']);
  });

  it('with --confirm-release removes the rest; the hand-made rule stays; a stray --confirm-release is refused', async () => {
    await expect(reconcileCommand(['--confirm-release'], captureContext({ ORIGIN_GUARD_CONFIG: configPath }))).rejects.toThrow(UsageError);
    await expect(reconcileCommand(['--release', '--adopt'], captureContext({ ORIGIN_GUARD_CONFIG: configPath }))).rejects.toThrow(/--release cannot be combined/);
    const ctx = captureContext({ ORIGIN_GUARD_CONFIG: configPath });
    expect(await reconcileCommand(['--release', '--confirm-release'], ctx)).toBe(0);
    expect(ctx.out.join('\n')).toMatch(new RegExp(`${target}: released`));
    expect(await rules()).toEqual(['13.32.0.0/14 443-8443 hand-made by the owner']);
    expect(await tagKeys()).toEqual(['team']);
  });
});
