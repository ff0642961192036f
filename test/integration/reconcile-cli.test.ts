import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CreateSecurityGroupCommand, CreateVpcCommand, DescribeSecurityGroupRulesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UsageError, type CliContext } from '../../cli/context.ts';
import { reconcileCommand } from '../../cli/reconcile.ts';
import { emulatorClientConfig, motoEndpoint, uniqueName } from '../support/aws.ts';

const fixture = (name: string) => pathToFileURL(new URL(`../fixtures/${name}`, import.meta.url).pathname).href;

function captureContext(env: NodeJS.ProcessEnv): CliContext & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (t) => void out.push(t), stderr: (t) => void err.push(t), env, interactive: false };
}

const ec2 = new EC2Client(emulatorClientConfig());
let dir: string;
let configPath: string;
let groupIds: string[];
let target: string;

function writeConfig(sources: unknown[]) {
  writeFileSync(
    configPath,
    JSON.stringify({
      region: 'eu-west-1',
      ipRanges: {
        targets: [
          { name: target, securityGroupIds: groupIds, ports: [443], maxRulesPerGroup: 60, sources },
          { name: `${target}-other`, securityGroupIds: [groupIds[1]], ports: [8443], sources: [{ type: 'static', cidrs: ['203.0.113.10'] }] },
        ],
      },
    }),
  );
}

const goodSources = [
  { type: 'aws', services: ['CLOUDFRONT_ORIGIN_FACING'], url: fixture('aws-ip-ranges.json') },
  { type: 'cloudflare', urlV4: fixture('cloudflare-ips-v4.txt'), urlV6: fixture('cloudflare-ips-v6.txt') },
  { type: 'static', cidrs: ['198.51.100.10'] },
];

async function ownedRules(prefix: string): Promise<string[]> {
  const out = await ec2.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: groupIds }] }));
  return (out.SecurityGroupRules ?? []).filter((r) => r.Description?.startsWith(prefix)).map((r) => `${r.CidrIpv4 ?? r.CidrIpv6}:${r.FromPort}`);
}

beforeAll(async () => {
  vi.stubEnv('AWS_ENDPOINT_URL', motoEndpoint());
  dir = mkdtempSync(join(tmpdir(), 'og-reconcile-cli-'));
  configPath = join(dir, 'origin-guard.config.json');
  target = uniqueName('cli').toLowerCase();
  const vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.30.0.0/16' }))).Vpc!.VpcId!;
  groupIds = [];
  for (let i = 0; i < 2; i++) {
    groupIds.push((await ec2.send(new CreateSecurityGroupCommand({ GroupName: uniqueName('og-cli'), Description: 'cli test', VpcId: vpcId }))).GroupId!);
  }
  writeConfig(goodSources);
});

afterAll(() => {
  vi.unstubAllEnvs();
  rmSync(dir, { recursive: true, force: true });
});

describe('origin-guard reconcile', () => {
  it('prints the plan per group with --dry-run and changes nothing', async () => {
    const ctx = captureContext({ ORIGIN_GUARD_CONFIG: configPath });
    const code = await reconcileCommand(['--dry-run', '--target', target], ctx);
    expect(code).toBe(0);
    const text = ctx.out.join('\n');
    expect(text).toMatch(new RegExp(`${target}: would apply \\+70 -0, version 1749744199`));
    // 62 IPv4 + 8 IPv6 rules: the quota is per family (60 IPv4 + 60 IPv6 per group), so only 2 spill over.
    expect(text).toMatch(new RegExp(`${groupIds[0]}\\s+68\\s+0\\s+0\\s+60 / 60\\s+60\\s+8`));
    expect(text).toMatch(new RegExp(`${groupIds[1]}\\s+2\\s+0\\s+0\\s+2 / 60\\s+2\\s+0`));
    expect(text).toMatch(new RegExp(`\\+ ${groupIds[0]} 103\\.21\\.244\\.0/22 tcp/443 \\(cloudflare\\)`));
    expect(text).toMatch(new RegExp(`\\+ ${groupIds[0]} \\.\\.\\. 48 more \\(--json lists all\\)`));
    expect(await ownedRules(`origin-guard:${target}:`)).toEqual([]);
  });

  it('prints the --json shape, applies, and then has nothing to do', async () => {
    const ctx = captureContext({});
    expect(await reconcileCommand(['--config', configPath, '--json'], ctx)).toBe(0);
    const result = JSON.parse(ctx.out.join('\n'));
    expect(result.targets.map((t: { name: string }) => t.name)).toEqual([target, `${target}-other`]);
    const [main, other] = result.targets;
    expect(main).toMatchObject({ name: target, held: false, applied: true, status: 'changes' });
    expect(main.groups).toEqual([
      expect.objectContaining({ groupId: groupIds[0], rulesAfter: 60, remove: [], adopt: [], families: expect.objectContaining({ ipv6: expect.objectContaining({ after: 8 }) }) }),
      expect.objectContaining({ groupId: groupIds[1], rulesAfter: 2, remove: [] }),
    ]);
    expect(main.groups[0].add[0]).toEqual({ cidr: expect.any(String), protocol: 'tcp', fromPort: 443, toPort: 443, source: expect.stringMatching(/^(aws|cloudflare|static)$/) });
    // The other target shares the second group: its rule counts against the quota there.
    expect(other.groups).toEqual([expect.objectContaining({ groupId: groupIds[1], rulesAfter: 3 })]);
    expect(await ownedRules(`origin-guard:${target}:`)).toHaveLength(70);

    const again = captureContext({});
    expect(await reconcileCommand(['--config', configPath], again)).toBe(0);
    expect(again.out.join('\n')).toMatch(new RegExp(`${target}: in sync, nothing to change`));
  });

  it('exits non-zero with the error on its target when a source fails, changing nothing', async () => {
    writeConfig([...goodSources, { type: 'fastly', url: pathToFileURL(join(dir, 'missing-fastly.json')).href }]);
    try {
      const ctx = captureContext({ ORIGIN_GUARD_CONFIG: configPath });
      expect(await reconcileCommand(['--json', '--target', target], ctx)).toBe(1);
      const result = JSON.parse(ctx.out.join('\n'));
      expect(result.targets[0].error).toMatch(/fastly\(file:.*missing-fastly\.json\): cannot read/);
      expect(result.targets[0].groups).toEqual([]);
      expect(ctx.err.join('\n')).toMatch(/alert reconcile\.source-failed/);
      expect(await ownedRules(`origin-guard:${target}:`)).toHaveLength(70);
    } finally {
      writeConfig(goodSources);
    }
  });

  it('says in --help how to recover a target frozen by a version from the future', async () => {
    const ctx = captureContext({});
    expect(await reconcileCommand(['--help'], ctx)).toBe(0);
    expect(ctx.out.join('\n')).toMatch(/delete the origin-guard:<target>:syncToken tag/);
  });

  it('refuses an unknown target as a usage error', async () => {
    await expect(reconcileCommand(['--target', 'nope'], captureContext({ ORIGIN_GUARD_CONFIG: configPath }))).rejects.toThrow(UsageError);
  });
});
