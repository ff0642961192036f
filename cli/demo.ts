/**
 * `origin-guard demo` (`npm run demo`): the whole product against a local emulated AWS account.
 *
 * Starts moto_server on a free loopback port and local fakes of the Kong Admin API and Konnect, seeds an
 * account shaped like origin-guard.config.example.json, writes a config file for it, and then runs the real
 * CLI commands against it, exactly as an operator would: rotate both secrets, retire the overlap, reconcile
 * security groups from the shipped IP-range fixtures, audit, induce drift, read the SNS alert, repair, status.
 * Waits are real but short: the demo config sets propagation delays and TTLs of a second or two.
 * No credentials and no network: everything listens on 127.0.0.1 and is stopped at the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AuthorizeSecurityGroupIngressCommand, RevokeSecurityGroupIngressCommand } from '@aws-sdk/client-ec2';
import { AssociateWebACLCommand, DisassociateWebACLCommand } from '@aws-sdk/client-wafv2';
import { allAwsClients } from '../lambdas/adapters/all-clients.ts';
import type { Config } from '../lambdas/config.ts';
import { startFakeKong } from '../test/support/fake-kong.ts';
import { konnectConfiguration, konnectNetwork, startFakeKonnect } from '../test/support/fake-konnect.ts';
import type { CliContext, Command } from './context.ts';
import { startLocalEmulator } from './local-emulator.ts';
import { parseFlags } from './runtime.ts';
import { seedAccount } from './seed.ts';

const HELP = `Usage: origin-guard demo [--quick] [--json] [--report FILE]

Runs the whole product against a local emulated AWS account (moto_server on 127.0.0.1) with local fakes of the
Kong Admin API and Konnect: rotation of both secrets, retire, a reconcile from the shipped IP-range fixtures,
an induced drift found by the audit and its SNS alert, the repair, and status. Needs moto_server
(pip install 'moto[server]'); no AWS credentials, no network.

  --quick         no propagation waits (used by the tests)
  --json          print the summary as JSON on stdout at the end
  --report FILE   where the posture page of the drifted account goes (default origin-guard-report.html)`;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = join(ROOT, 'test', 'fixtures');

export interface DemoSummary {
  emulator: string;
  steps: Array<{ name: string; command: string; exitCode: number; ok: boolean }>;
  alertsPublished: number;
  alertSubjects: string[];
  /** The posture page written during the drift (origin-guard report --html). */
  report: string;
  ok: boolean;
}

interface SnsNotification {
  subject?: string;
  message: string;
}

async function sentNotifications(endpoint: string, topicArn: string): Promise<SnsNotification[]> {
  const res = await fetch(`${endpoint}/moto-api/data.json`);
  const data = (await res.json()) as { sns?: { Topic?: Array<Record<string, unknown>> } };
  const topic = (data.sns?.Topic ?? []).find((t) => t.arn === topicArn);
  const sent = (topic?.sent_notifications ?? []) as Array<[string, string, string | null]>;
  // Alerts are published per protocol (MessageStructure json): show what an email subscriber reads.
  const readable = (message: string) => {
    try {
      const parsed = JSON.parse(message) as { email?: unknown; default?: unknown };
      return typeof parsed.email === 'string' ? parsed.email : typeof parsed.default === 'string' ? parsed.default : message;
    } catch {
      return message;
    }
  };
  return sent.map(([, message, subject]) => ({ message: readable(message), subject: subject ?? undefined }));
}

function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  return fn().finally(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}

export const demoCommand: Command = async (argv, ctx) => {
  const { values } = parseFlags(argv, { quick: { type: 'boolean', default: false }, report: { type: 'string' } });
  const reportPath = resolve(values.report ?? 'origin-guard-report.html');
  if (values.help) {
    ctx.stdout(HELP);
    return 0;
  }
  const { main } = await import('./main.ts');
  // The transcript goes to stdout; with --json only the summary does, and the transcript to stderr.
  const transcript: CliContext = values.json ? { ...ctx, stdout: ctx.stderr } : ctx;
  const say = (text = '') => transcript.stdout(text);
  const heading = (n: number, text: string) => say(`\n━━ ${n}. ${text} ${'━'.repeat(Math.max(0, 70 - text.length))}`);

  say('origin-guard demo: the whole product against a local emulated AWS account (no credentials, no network)');
  const emulator = await startLocalEmulator();
  const kongAdminToken = randomBytes(16).toString('hex');
  const kong = await startFakeKong({ adminToken: kongAdminToken });
  const konnect = await startFakeKonnect({ token: 'kpat_demo_token' });
  const workDir = mkdtempSync(join(tmpdir(), 'origin-guard-demo-'));
  const summary: DemoSummary = { emulator: emulator.endpoint, steps: [], alertsPublished: 0, alertSubjects: [], report: reportPath, ok: false };
  try {
    const env = {
      AWS_ENDPOINT_URL: emulator.endpoint,
      AWS_ACCESS_KEY_ID: 'demo',
      AWS_SECRET_ACCESS_KEY: 'demo',
      AWS_REGION: 'eu-west-1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    await withEnv(env, async () => {
      say(`  moto_server   ${emulator.endpoint}`);
      say(`  Kong Admin    ${kong.url} (fake, follows the Admin API)`);
      say(`  Konnect       ${konnect.url} (fake, follows the Konnect API)`);

      const clients = allAwsClients({ region: 'eu-west-1' });
      const networkId = '9f8e7d6c-5b4a-4321-8fed-cba987654321';
      konnect.setNetwork(konnectNetwork({ id: networkId, name: 'eu-prod', state: 'ready' }));
      konnect.setConfigurations([
        konnectConfiguration({ controlPlaneGeo: 'eu', groups: [{ networkId, region: 'eu-central-1', egress: ['35.157.10.21', '35.157.10.22', '3.121.4.87'] }] }),
      ]);
      const seeded = await seedAccount(clients, {
        kongAdminUrl: kong.url,
        kongAdminToken,
        konnectUrl: konnect.url,
        konnectNetworkId: networkId,
        fast: true,
        ipRangeSources: [
          { type: 'aws', services: ['CLOUDFRONT_ORIGIN_FACING'], url: pathToFileURL(join(FIXTURES, 'aws-ip-ranges.json')).href },
          { type: 'konnect', region: 'eu', networkId, tokenSecretName: 'konnect/token', apiUrl: konnect.url },
          { type: 'static', cidrs: ['203.0.113.10/32'] },
        ],
      });
      const config: Config = structuredClone(seeded.config);
      if (!values.quick) {
        // Real waits, shortened through config: WAF and Kong propagation, the vault TTL, reader caches.
        for (const secret of config.secrets) {
          for (const v of secret.validators) {
            if (v.type === 'wafv2') v.propagationSeconds = 2;
            if (v.type === 'kong-route') v.propagationSeconds = 1;
            if (v.type === 'secretsmanager-readers') v.cacheTtlSeconds = 2;
          }
          for (const s of secret.senders) if (s.type === 'kong-vault') s.ttlSeconds = 2;
        }
      }
      kong.addRoute({ name: 'api', paths: ['/api'], hosts: ['api.example.com'], headers: { 'X-Origin-Verify': [seeded.initialValues.cdnToGateway] } });
      const configPath = join(workDir, 'origin-guard.config.json');
      writeFileSync(configPath, JSON.stringify(config, null, 2));
      say(`  config        ${configPath}`);
      say(`  seeded        distribution ${seeded.distributionId}, web ACL ${seeded.gatewayAcl.name} on ALB, ${seeded.securityGroupIds.length} security groups, peering ${seeded.peeringId}, ${seeded.transitGatewayAttachmentId}`);

      const run = async (name: string, args: string[], expectCode = 0) => {
        say(`\n$ origin-guard ${args.join(' ')}`);
        const code = await main([...args, '--config', configPath], transcript);
        summary.steps.push({ name, command: `origin-guard ${args.join(' ')}`, exitCode: code, ok: code === expectCode });
        return code;
      };

      heading(1, 'Rotate both secrets (validators accept old+new, then senders switch)');
      await run('rotate', ['rotate', '--local']);

      heading(2, 'Retire: once senders have propagated, validators accept only the new value');
      await run('retire', ['retire', '--wait', '--timeout', '2']);

      heading(3, 'Reconcile security groups to CloudFront origin-facing ranges + Konnect egress + static');
      await run('reconcile plan', ['reconcile', '--dry-run']);
      await run('reconcile', ['reconcile']);
      await run('reconcile again (no changes)', ['reconcile']);

      heading(4, 'Audit a compliant account');
      say('  (emulator) secret.rotation-enabled fails below only because moto cannot attach a rotation Lambda; the deployed stack enables rotation.');
      await run('audit (clean)', ['audit', '--alert']);

      heading(5, 'Drift: someone opens a group to the world and detaches the gateway web ACL');
      const ec2 = clients.ec2();
      const waf = clients.wafv2('REGIONAL');
      const openWorld = { GroupId: seeded.securityGroupIds[1], IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] };
      await ec2.send(new AuthorizeSecurityGroupIngressCommand(openWorld));
      await waf.send(new DisassociateWebACLCommand({ ResourceArn: seeded.loadBalancerArn }));
      say('  (console) AuthorizeSecurityGroupIngress 0.0.0.0/0:443 on ' + seeded.securityGroupIds[1]);
      say('  (console) DisassociateWebACL ' + seeded.gatewayAcl.name + ' from the ALB');
      await run('audit (drift)', ['audit', '--alert'], 1);
      await run('audit again (no new alerts)', ['audit', '--alert'], 1);
      await run('report (drift)', ['report', '--html', '--out', reportPath], 1);
      say(`  open ${reportPath} in a browser: the WAF hop is red, the open group is red`);

      const drifts = await sentNotifications(emulator.endpoint, seeded.topicArn);
      say('\n  The SNS alert an operator receives:');
      // By check id: a random resource id (a distribution id ending in "SG") must not pick another alert.
      const first = drifts.find((n) => /DRIFT sg\.open-ingress\b/.test(n.subject ?? '')) ?? drifts[0];
      if (first) {
        say(`  ┌ Subject: ${first.subject ?? '(none)'}`);
        for (const line of first.message.split('\n').slice(0, 18)) say(`  │ ${line}`);
        say('  └');
      }

      heading(6, 'Repair, and hear that it is resolved');
      await ec2.send(new RevokeSecurityGroupIngressCommand(openWorld));
      await waf.send(new AssociateWebACLCommand({ WebACLArn: seeded.gatewayAcl.arn, ResourceArn: seeded.loadBalancerArn }));
      await run('audit (repaired)', ['audit', '--alert']);

      heading(7, 'Status');
      await run('status', ['status']);

      const notifications = await sentNotifications(emulator.endpoint, seeded.topicArn);
      summary.alertsPublished = notifications.length;
      summary.alertSubjects = notifications.map((n) => n.subject ?? '');
    });
  } finally {
    await Promise.allSettled([emulator.stop(), kong.close(), konnect.close()]);
    rmSync(workDir, { recursive: true, force: true });
  }

  summary.ok = summary.steps.every((s) => s.ok);
  say(`\n━━ Summary ${'━'.repeat(64)}`);
  for (const step of summary.steps) say(`  ${step.ok ? '✓' : '✗'} ${step.name.padEnd(30)} exit ${step.exitCode}`);
  say(`  alerts published to SNS: ${summary.alertsPublished}`);
  for (const subject of summary.alertSubjects) say(`    - ${subject}`);
  say(`  ${summary.ok ? 'demo passed' : 'demo FAILED'}; moto_server and the fakes are stopped.`);
  if (values.json) ctx.stdout(JSON.stringify(summary, null, 2));
  return summary.ok ? 0 : 1;
};

