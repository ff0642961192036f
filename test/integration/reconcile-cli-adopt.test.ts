import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, CreateVpcCommand, DescribeSecurityGroupRulesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CliContext } from '../../cli/context.ts';
import { reconcileCommand } from '../../cli/reconcile.ts';
import { emulatorClientConfig, motoEndpoint, uniqueName } from '../support/aws.ts';

function captureContext(env: NodeJS.ProcessEnv): CliContext & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (t) => void out.push(t), stderr: (t) => void err.push(t), env, interactive: false };
}

const ec2 = new EC2Client(emulatorClientConfig());
const CIDRS = ['198.51.100.0/24', '203.0.113.0/24', '2001:db8:1::/48'];
let dir: string;
let configPath: string;
let groupId: string;
let target: string;

beforeAll(async () => {
  vi.stubEnv('AWS_ENDPOINT_URL', motoEndpoint());
  dir = mkdtempSync(join(tmpdir(), 'og-reconcile-cli-adopt-'));
  configPath = join(dir, 'origin-guard.config.json');
  target = uniqueName('cliadopt').toLowerCase();
  const vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.50.0.0/16' }))).Vpc!.VpcId!;
  groupId = (await ec2.send(new CreateSecurityGroupCommand({ GroupName: uniqueName('og-cli-adopt'), Description: 'cli adopt test', VpcId: vpcId }))).GroupId!;
  await ec2.send(
    new AuthorizeSecurityGroupIngressCommand({
      GroupId: groupId,
      IpPermissions: [
        { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: CIDRS.slice(0, 2).map((CidrIp) => ({ CidrIp, Description: 'by hand' })), Ipv6Ranges: [{ CidrIpv6: CIDRS[2], Description: 'by hand' }] },
      ],
    }),
  );
  writeFileSync(
    configPath,
    JSON.stringify({ region: 'eu-west-1', ipRanges: { targets: [{ name: target, securityGroupIds: [groupId], ports: [443], ipVersions: ['ipv4', 'ipv6'], sources: [{ type: 'static', cidrs: CIDRS }] }] } }),
  );
});

afterAll(() => {
  vi.unstubAllEnvs();
  rmSync(dir, { recursive: true, force: true });
});

async function descriptions(): Promise<string[]> {
  const out = await ec2.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [groupId] }] }));
  return (out.SecurityGroupRules ?? []).filter((r) => !r.IsEgress).map((r) => r.Description ?? '');
}

describe('origin-guard reconcile --adopt', () => {
  it('shows the adoption in the dry run (table and --json), then adopts in place and has nothing left to do', async () => {
    // Without --adopt: identical hand-made rules already admit the ranges.
    const plain = captureContext({ ORIGIN_GUARD_CONFIG: configPath });
    expect(await reconcileCommand(['--dry-run'], plain)).toBe(0);
    expect(plain.out.join('\n')).toMatch(new RegExp(`${target}: in sync, nothing to change`));

    const dry = captureContext({ ORIGIN_GUARD_CONFIG: configPath });
    expect(await reconcileCommand(['--dry-run', '--adopt', '--json'], dry)).toBe(0);
    const planned = JSON.parse(dry.out.join('\n')).targets[0];
    expect(planned).toMatchObject({ adopt: true, applied: false });
    expect(planned.groups[0].adopt.map((r: { cidr: string }) => r.cidr).sort()).toEqual([...CIDRS].sort());
    expect(planned.groups[0].families).toMatchObject({ ipv4: { after: 2 }, ipv6: { after: 1 } });
    expect(await descriptions()).toEqual(['by hand', 'by hand', 'by hand']);

    const table = captureContext({ ORIGIN_GUARD_CONFIG: configPath });
    expect(await reconcileCommand(['--adopt'], table)).toBe(0);
    expect(table.out.join('\n')).toMatch(new RegExp(`${target}: applied \\+0 -0 =3 adopted`));
    expect(table.out.join('\n')).toMatch(/= sg-[0-9a-f]+ 198\.51\.100\.0\/24 tcp\/443 \(static\)/);
    expect(await descriptions()).toEqual(Array(3).fill(`origin-guard:${target}:static`));

    const again = captureContext({ ORIGIN_GUARD_CONFIG: configPath });
    expect(await reconcileCommand(['--adopt'], again)).toBe(0);
    expect(again.out.join('\n')).toMatch(new RegExp(`${target}: in sync, nothing to change`));
  });
});
