/**
 * `origin-guard reconcile`: the same core as the reconciler Lambda, run from the operator's machine.
 */
import type { Config } from '../lambdas/config.ts';
import { DynamoDbAlertState } from '../lambdas/adapters/alert-state-dynamodb.ts';
import type { AwsClients } from '../lambdas/adapters/aws-clients.ts';
import { accountClientsOf } from '../lambdas/adapters/account-clients.ts';
import { PlacedSecurityGroupStore } from '../lambdas/adapters/placed-security-groups.ts';
import { HttpIpFeeds } from '../lambdas/adapters/ip-feeds.ts';
import { DynamoDbLeases } from '../lambdas/adapters/lease-dynamodb.ts';
import { leaseOwner, type LeasePort } from '../lambdas/core/lease.ts';
import { hostname } from 'node:os';
import { SnsAlertPublisher } from '../lambdas/adapters/sns-alerts.ts';
import type { AlertingDeps } from '../lambdas/core/alerts.ts';
import { describeError } from '../lambdas/core/errors.ts';
import { silentLog, systemClock, type AlertPort, type Clock, type LogPort } from '../lambdas/core/ports.ts';
import { PREFIX_LIST_ENTRY } from '../lambdas/core/range-planner.ts';
import { reconcile, UnknownTargetError, type ReconcileResult, type RuleView, type TargetResult } from '../lambdas/core/reconcile.ts';
import { UsageError, type CliContext, type Command } from './context.ts';
import { Ec2SecurityGroupStore } from '../lambdas/adapters/ec2-security-groups.ts';
import { planRelease } from '../lambdas/core/release.ts';
import type { ObservedRule } from '../lambdas/core/range-planner.ts';
import { cliClients, loadCliConfig, parseFlags, resolveAlertTargets } from './runtime.ts';

const HELP = `Usage: origin-guard reconcile [--target NAME] [--dry-run] [--force] [--adopt] [--release [--confirm-release]] [--json] [--config FILE]

Makes the security groups of every ip-ranges target (or only --target NAME) admit exactly the current ranges of
its sources (AWS ip-ranges.json, Cloudflare, Fastly, Azure Front Door, Konnect egress IPs, static). Only rules
whose description starts with origin-guard:<target>: are changed; other rules are kept and count against the quota.

  --dry-run   print the plan (per group: adds, removes, rules used / quota) and change nothing
  --force     apply removals even above the target's maxRemovalFraction
  --adopt     take ownership of hand-made rules identical (protocol, ports, CIDR) to desired ones by rewriting
              their descriptions (as the target's "adopt": true does); without it such rules still count as
              admitting their range and are never added a second time
  --release   hand the target's groups back (before removing the target or after cdk destroy) without cutting
              traffic: remove only the rules origin-guard owns that another rule of the same group makes
              redundant (same protocol, ports covered, CIDR contained); every rule it keeps is listed with why.
              With --dry-run, only the plan. --json: {"release":{"targets":[{"name","groups":[{"groupId",
              "removed":[{"ruleId","cidr","protocol","fromPort","toPort","reason"}],"kept":[...]}]}]}}.
              Exit status 1 while a rule is kept.
  --confirm-release  with --release: also remove the owned rules nothing else admits (you confirm traffic
              reaches the origin another way, e.g. a prefix-list or group rule you added)
  --json      print {"targets":[{"name","adopt","groups":[{"groupId","add":[...],"remove":[...],"adopt":[...],
              "rulesAfter","families":{"ipv4":{"before","after","unowned","quota"},"ipv6":{...}}}],"held","error"?}]}

The quota is counted per family as AWS does: IPv4 and IPv6 rules each against maxRulesPerGroup; a rule that
references a prefix list counts in both, as the list's MaxEntries.

Failures are alerted on stderr and, on real runs, to the alert topic (alerts.topicArn, else the stack output
AlertTopicArn). With an alert-state table too (alerts.stateTableName, else AlertStateTableName) a failure is sent
once when it starts and once when it is resolved, as the reconciler Lambda does; without one, on every run.

Exit status: 0 when every target was reconciled (or planned), 1 when a source failed, a change could not be made
or an alert could not be sent.

A target whose every AWS version fails as "older than the applied" recorded a version from the future (a broken
ip-ranges.json): delete the origin-guard:<target>:syncToken tag from the target's first security group and run again.`;

/** At most this many rules listed per group and direction in the table (the JSON lists all). */
const LIST_LIMIT = 20;

export interface ReconcileCommandDeps {
  clients?: AwsClients;
  fetch?: typeof fetch;
  log?: LogPort;
  clock?: Clock;
}

function ruleText(r: RuleView): string {
  if (r.protocol === PREFIX_LIST_ENTRY) return `${r.cidr} (${r.source})`;
  const ports = r.fromPort === r.toPort ? `${r.fromPort}` : `${r.fromPort}-${r.toPort}`;
  return `${r.cidr} ${r.protocol}/${ports} (${r.source})`;
}

/** The readable form: one block per target, one line per group, then what changes. */
export function formatReconcileTable(result: ReconcileResult): string {
  const lines: string[] = [];
  for (const t of result.targets) {
    const version = t.syncToken ? `, version ${t.syncToken}${t.previousSyncToken && t.previousSyncToken !== t.syncToken ? ` (was ${t.previousSyncToken})` : ''}` : '';
    lines.push(`${t.name}: ${statusText(t)}${version}`);
    if (t.error) lines.push(`  ERROR: ${t.error}`);
    if (t.groups.length > 0) {
      const width = Math.max(5, ...t.groups.map((g) => g.groupId.length));
      lines.push(`  ${'GROUP'.padEnd(width)}  ${'ADD'.padStart(5)}  ${'REMOVE'.padStart(6)}  ${'ADOPT'.padStart(5)}  RULES / QUOTA  IPV4  IPV6`);
      for (const g of t.groups) {
        const fam = g.families ? `  ${String(g.families.ipv4.after).padStart(4)}  ${String(g.families.ipv6.after).padStart(4)}` : '';
        const used = `${g.rulesAfter} / ${g.quota ?? t.maxRulesPerGroup}`;
        lines.push(`  ${g.groupId.padEnd(width)}  ${String(g.add.length).padStart(5)}  ${String(g.remove.length).padStart(6)}  ${String(g.adopt?.length ?? 0).padStart(5)}  ${used.padEnd(13)}${fam}`);
      }
      for (const g of t.groups) {
        for (const [sign, rules] of [['+', g.add], ['-', g.remove], ['=', g.adopt ?? []]] as const) {
          for (const r of rules.slice(0, LIST_LIMIT)) lines.push(`    ${sign} ${g.groupId} ${ruleText(r)}`);
          if (rules.length > LIST_LIMIT) lines.push(`    ${sign} ${g.groupId} ... ${rules.length - LIST_LIMIT} more (--json lists all)`);
        }
      }
    }
    for (const note of t.notes) lines.push(`  note: ${note}`);
  }
  if (result.targets.length === 0) lines.push('no ip-ranges targets to reconcile');
  return lines.join('\n');
}

function statusText(t: TargetResult): string {
  const adds = t.groups.reduce((n, g) => n + g.add.length, 0);
  const removes = t.groups.reduce((n, g) => n + g.remove.length, 0);
  const adopted = t.groups.reduce((n, g) => n + (g.adopt?.length ?? 0), 0);
  switch (t.status) {
    case 'in-sync':
      return 'in sync, nothing to change';
    case 'changes':
    case 'held':
      return `${t.applied ? 'applied' : t.dryRun ? 'would apply' : 'not applied'} +${adds} -${removes}${adopted ? ` =${adopted} adopted` : ''}${t.held ? ' (removals held by maxRemovalFraction)' : ''}`;
    case 'insufficient-capacity':
      return t.groupsNeeded
        ? `does not fit: ${t.groupsNeeded} more group${t.groupsNeeded === 1 ? '' : 's'} needed, nothing changed`
        : 'does not fit the quota (see the notes), nothing changed';
    case 'skipped':
      return t.notes.some((n) => n.startsWith('skipped: ')) ? 'skipped (another run holds the target)' : 'skipped (version already applied)';
    case 'failed':
      return 'FAILED, nothing changed';
  }
}

/** Alerts from a CLI run: always on stderr; to the alert topic too on real runs when one is known. */
function cliAlertPort(ctx: CliContext, topic: AlertPort | undefined): AlertPort {
  return {
    async publish(event) {
      const kind = event.kind === 'FAILURE' ? '' : `, ${event.kind}`;
      ctx.stderr(`alert ${event.finding.checkId} (${event.finding.severity}${kind}): ${event.finding.message}`);
      if (topic) await topic.publish(event);
    },
  };
}

/**
 * Where a real run's alerts go: the topic (and the state table, as `audit --alert` finds them) when known.
 * A dry run only reports: its alerts stay on this terminal.
 */
async function cliAlerting(config: Config, clients: AwsClients, ctx: CliContext, dryRun: boolean): Promise<{ alerts: AlertPort; alerting?: AlertingDeps; leases?: LeasePort }> {
  const targets = dryRun ? undefined : await resolveAlertTargets(config, clients).catch(() => undefined);
  const topic = targets?.topicArn ? new SnsAlertPublisher(clients.sns(targets.topicArn.split(':')[3]), targets.topicArn, undefined, config.alerts.format) : undefined;
  const alerts = cliAlertPort(ctx, topic);
  // The reconcile lease lives in the alert-state table: with it, this run and the Lambda never write one target at once.
  const leases = targets?.stateTableName ? new DynamoDbLeases(clients.dynamoDb(), targets.stateTableName, leaseOwner('cli', hostname())) : undefined;
  if (!topic || !targets?.stateTableName) return { alerts, ...(leases ? { leases } : {}) };
  return { alerts, ...(leases ? { leases } : {}), alerting: { publisher: alerts, state: new DynamoDbAlertState(clients.dynamoDb(), targets.stateTableName), reminderHours: config.alerts.reminderHours } };
}

export function makeReconcileCommand(injected: ReconcileCommandDeps = {}): Command {
  return async (argv, ctx) => {
    const { values } = parseFlags(argv, {
      target: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      adopt: { type: 'boolean', default: false },
      release: { type: 'boolean', default: false },
      'confirm-release': { type: 'boolean', default: false },
    });
    if (values.help) {
      ctx.stdout(HELP);
      return 0;
    }
    if (values['confirm-release'] && !values.release) throw new UsageError('--confirm-release only goes with --release');
    if (values.release && (values.adopt || values.force)) throw new UsageError('--release cannot be combined with --adopt or --force');
    const config: Config = loadCliConfig(values.config, ctx.env, values.account);
    if (!config.ipRanges) throw new UsageError('no ipRanges are configured (add an "ipRanges" section with targets to the config file)');
    if (values.target !== undefined && !config.ipRanges.targets.some((t) => t.name === values.target)) {
      throw new UsageError(`--target ${values.target}: no such target (configured: ${config.ipRanges.targets.map((t) => t.name).join(', ')})`);
    }
    const clients = injected.clients ?? cliClients(config);
    const log = injected.log ?? silentLog;
    const dryRun = values['dry-run'];
    if (values.release) {
      const targets = config.ipRanges.targets.filter((t) => values.target === undefined || t.name === values.target);
      return runRelease(targets, clients, ctx, { dryRun, confirmed: values['confirm-release'], json: values.json === true, log });
    }
    const { alerts, alerting, leases } = await cliAlerting(config, clients, ctx, dryRun);
    let result: ReconcileResult;
    try {
      result = await reconcile(
        config.ipRanges,
        { target: values.target, dryRun, force: values.force, ...(values.adopt ? { adopt: true } : {}) },
        {
          feeds: new HttpIpFeeds({ fetch: injected.fetch, secretsManager: clients.secretsManager() }),
          groups: new PlacedSecurityGroupStore(clients, accountClientsOf(config, clients, 'reconcile'), { log, clock: injected.clock }),
          alerts,
          ...(alerting ? { alerting } : {}),
          ...(leases ? { leases } : {}),
          clock: injected.clock ?? systemClock,
          log,
        },
      );
    } catch (error) {
      if (error instanceof UnknownTargetError) throw new UsageError(error.message);
      throw new Error(`reconcile failed: ${describeError(error)}`, { cause: error });
    }
    ctx.stdout(values.json ? JSON.stringify(result, null, 2) : formatReconcileTable(result));
    for (const error of result.alertErrors ?? []) ctx.stderr(`alert not sent: ${error}`);
    return result.targets.some((t) => t.error !== undefined) || (result.alertErrors?.length ?? 0) > 0 ? 1 : 0;
  };
}

export interface ReleaseReport {
  targets: Array<{
    name: string;
    groups: Array<{ groupId: string; removed: ReleasedRule[]; kept: ReleasedRule[] }>;
    error?: string;
  }>;
}
type ReleasedRule = { ruleId?: string; cidr?: string; protocol: string; fromPort: number; toPort: number; reason: string };

const released = ({ rule, reason }: { rule: ObservedRule; reason: string }): ReleasedRule => ({
  ...(rule.ruleId ? { ruleId: rule.ruleId } : {}),
  ...(rule.cidr ? { cidr: rule.cidr } : {}),
  protocol: rule.protocol,
  fromPort: rule.fromPort,
  toPort: rule.toPort,
  reason,
});

/** `reconcile --release`: per target and group, removes the owned rules that are redundant (or confirmed). */
async function runRelease(
  targets: Config['ipRanges'] extends infer R ? (R extends { targets: infer T } ? T : never) : never,
  clients: AwsClients,
  ctx: CliContext,
  options: { dryRun: boolean; confirmed: boolean; json: boolean; log: LogPort },
): Promise<number> {
  const report: ReleaseReport = { targets: [] };
  for (const target of targets as Array<{ name: string; securityGroupIds: string[]; account?: string; region?: string }>) {
    const entry: ReleaseReport['targets'][number] = { name: target.name, groups: [] };
    report.targets.push(entry);
    try {
      if (target.account !== undefined || target.region !== undefined) {
        throw new Error(`target "${target.name}" is in another account or region: run --release with that account's credentials and a config without "account"/"region" for it`);
      }
      const store = new Ec2SecurityGroupStore(clients.ec2(), { log: options.log });
      const rules = await store.ingressRulesOf(target.securityGroupIds);
      for (const groupId of target.securityGroupIds) {
        const plan = planRelease(target.name, rules.filter((r) => r.groupId === groupId), options.confirmed);
        if (!options.dryRun) await store.revokeRules(groupId, plan.remove.map((r) => r.rule));
        entry.groups.push({ groupId, removed: plan.remove.map(released), kept: plan.keep.map(released) });
      }
      // Fully handed back: origin-guard's state tags for this target go too (a later reconcile starts afresh).
      if (!options.dryRun && entry.groups.every((g) => g.kept.length === 0)) await store.removeStateTags(target.name, target.securityGroupIds);
    } catch (error) {
      entry.error = describeError(error);
    }
  }
  if (options.json) {
    ctx.stdout(JSON.stringify({ release: report }, null, 2));
  } else {
    const verb = options.dryRun ? 'would remove' : 'removed';
    for (const t of report.targets) {
      ctx.stdout(`${t.name}: ${t.error ? `FAILED: ${t.error}` : t.groups.every((g) => g.kept.length === 0) ? 'released' : 'NOT fully released'}`);
      for (const g of t.groups) {
        ctx.stdout(`  ${g.groupId}: ${verb} ${g.removed.length}, kept ${g.kept.length}`);
        for (const r of g.removed) ctx.stdout(`    - ${r.cidr} ${r.protocol}/${r.fromPort}-${r.toPort}: ${r.reason}`);
        for (const r of g.kept) ctx.stdout(`    = ${r.cidr} ${r.protocol}/${r.fromPort}-${r.toPort}: kept, ${r.reason}`);
      }
    }
  }
  return report.targets.some((t) => t.error !== undefined || t.groups.some((g) => g.kept.length > 0)) ? 1 : 0;
}

export const reconcileCommand: Command = makeReconcileCommand();
