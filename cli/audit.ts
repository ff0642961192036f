/**
 * `origin-guard audit`: the same audit as the Lambda, printed as a table (failed first), as JSON, or as SARIF
 * for code-scanning dashboards; `--alert` also publishes new and resolved findings like the Lambda does.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolveConfigPath, type Config } from '../lambdas/config.ts';
import { DynamoDbAlertState } from '../lambdas/adapters/alert-state-dynamodb.ts';
import { AwsAuditCollector, type AuditCollectorOptions } from '../lambdas/adapters/audit-collector.ts';
import type { AwsClients } from '../lambdas/adapters/aws-clients.ts';
import { toOcsf } from '../lambdas/adapters/ocsf.ts';
import { SnsAlertPublisher } from '../lambdas/adapters/sns-alerts.ts';
import type { AuditCheck } from '../lambdas/core/audit-model.ts';
import { hasBlockingFailure, runAudit, sortFindings, type AlertingDeps, type AuditResult } from '../lambdas/core/audit.ts';
import { ALL_CHECKS } from '../lambdas/core/checks/index.ts';
import { shortName } from '../lambdas/core/audit-model.ts';
import { silentLog, systemClock, type Finding, type Severity } from '../lambdas/core/ports.ts';
import type { CliContext, Command } from './context.ts';
import { cliClients, loadCliConfig, parseFlags, resolveAlertTargets } from './runtime.ts';
import { formatByAccount } from './accounts.ts';
import { isMultiAccount } from '../lambdas/accounts.ts';
import { accountClientsOf } from '../lambdas/adapters/account-clients.ts';
import { runAccountAudit } from '../lambdas/adapters/account-audit.ts';

const HELP = `Usage: origin-guard audit [--all] [--json] [--alert] [--sarif FILE] [--ocsf FILE] [--config FILE]

Checks WAF web ACLs, CloudFront distributions, security groups, VPC peering, transit gateways, secrets,
Konnect networks and probes, for what the config names. Prints what fails (with the fix) and a one-line
summary; --all lists every finding, failed first.

  --all          also list the passing findings (read confirmations only appear when a read failed)
  --json         print {"findings":[{"id","severity","status","resource","message","remediation"}]}
  --alert        publish new and resolved findings to the alert topic, like the audit Lambda
                 (alerts.topicArn / alerts.stateTableName, else the stack outputs AlertTopicArn /
                 AlertStateTableName; a missing state table is created)
  --sarif FILE   also write the failed findings as SARIF 2.1.0
  --ocsf FILE    also write every finding as OCSF 1.6.0 Detection Findings (class_uid 2004, a JSON
                 array: the shape Prowler emits; status_code PASS / FAIL / INCONCLUSIVE)

Exits 1 when a HIGH or CRITICAL check fails (or an alert cannot be sent), 0 otherwise.`;

const PRODUCT_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface AuditCommandOverrides {
  clients?: AwsClients;
  collector?: Partial<Omit<AuditCollectorOptions, 'clients'>>;
}

/** The `--json` contract: exactly these fields, in this order. */
export function findingsJson(findings: readonly Finding[]): { findings: Array<Pick<Finding, 'id' | 'severity' | 'status' | 'resource' | 'message' | 'remediation' | 'account' | 'region'>> } {
  return {
    // `account` and `region` follow, only when the config lists accounts (several accounts and regions).
    findings: findings.map((f) => ({
      id: f.id,
      severity: f.severity,
      status: f.status,
      resource: f.resource,
      message: f.message,
      remediation: f.remediation,
      ...(f.account !== undefined ? { account: f.account } : {}),
      ...(f.region !== undefined ? { region: f.region } : {}),
    })),
  };
}

/** The terminal width the table keeps to (messages wrap; a resource name longer than 36 characters does not). */
export const TABLE_COLUMNS = 100;

/** Words into lines of at most `width` characters (a longer word gets a line of its own). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (current && current.length + 1 + word.length > width) {
      lines.push(current);
      current = word;
    } else {
      current = current ? `${current} ${word}` : word;
    }
  }
  return lines.length || current ? [...lines, current] : [''];
}

/** Read confirmations (`audit.read` PASS: "... was read") say nothing unless the read failed. */
const isReadConfirmation = (f: Finding) => f.checkId === 'audit.read' && f.status === 'PASS';

/**
 * Failures first: by default only what did not pass (failed, or any other status such as INCONCLUSIVE) and a
 * one-line summary; `all` adds the passing findings, still without the read confirmations.
 */
export function formatFindingsTable(findings: readonly Finding[], options: { all?: boolean } = {}): string {
  if (findings.length === 0) return 'Nothing to audit: the config names no web ACL, distribution, target, peering, transit gateway, secret, network or probe.';
  const shown = sortFindings(findings).filter((f) => (options.all ? !isReadConfirmation(f) : f.status !== 'PASS'));
  const failed = findings.filter((f) => f.status === 'FAIL');
  const passed = findings.filter((f) => f.status === 'PASS').length;
  const other = findings.length - failed.length - passed;
  const out: string[] = [];
  if (shown.length > 0) {
    const rows = shown.map((f) => [String(f.status), f.severity, f.checkId, shortName(f.resource), f.message]);
    const widths = [0, 1, 2, 3].map((i) => Math.min(Math.max(...rows.map((r) => r[i].length), ['STATUS', 'SEVERITY', 'CHECK', 'RESOURCE'][i].length), 36));
    const start = widths.reduce((n, w) => n + w + 2, 0);
    const header = `${['STATUS', 'SEVERITY', 'CHECK', 'RESOURCE'].map((c, i) => c.padEnd(widths[i])).join('  ')}  MESSAGE`;
    const line = (cells: string[]) => {
      const head = cells.slice(0, 4).map((c, i) => c.padEnd(widths[i])).join('  ');
      // Keep to TABLE_COLUMNS: the message wraps under its column, or under the row when that column starts too far right.
      if (start <= TABLE_COLUMNS - 40) return wrap(cells[4], TABLE_COLUMNS - start).map((part, i) => (i === 0 ? `${head}  ${part}` : `${' '.repeat(start)}${part}`)).join('\n');
      return [head.trimEnd(), ...wrap(cells[4], TABLE_COLUMNS - 4).map((part) => `    ${part}`)].join('\n');
    };
    out.push(header, ...rows.map(line));
  }
  if (failed.length > 0) {
    out.push('', 'How to fix:');
    for (const f of sortFindings(failed)) out.push(`  ${f.id}`, `    ${f.remediation}`);
  }
  const blocking = failed.filter((f) => f.severity === 'HIGH' || f.severity === 'CRITICAL').length;
  const hidden = options.all ? '' : passed > 0 ? `; ${passed} passed (--all lists them)` : '';
  if (out.length > 0) out.push('');
  out.push(`${findings.length} findings, ${failed.length} failed (${blocking} high or critical)${other ? `, ${other} inconclusive` : ''}${hidden}.`);
  return out.join('\n');
}

// ---------- SARIF ----------

const SARIF_LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = { CRITICAL: 'error', HIGH: 'error', MEDIUM: 'warning', LOW: 'note' };
/** GitHub code scanning ranks security results by this property (0-10). */
const SECURITY_SEVERITY: Record<Severity, string> = { CRITICAL: '9.5', HIGH: '8.0', MEDIUM: '5.0', LOW: '2.0' };

/**
 * SARIF 2.1.0 with one rule per check and one result per failed finding. Cloud resources have no file, so
 * each result points at the config file that asks for the check, and names the resource as a logical location.
 */
export function toSarif(findings: readonly Finding[], options: { configPath: string; checks?: readonly AuditCheck[]; version?: string }) {
  const checks = options.checks ?? ALL_CHECKS;
  // Failed findings, and those a check could not decide (INCONCLUSIVE, as a note): never silently a pass.
  const failed = findings.filter((f) => f.status !== 'PASS');
  const ruleIds = [...new Set([...checks.map((c) => c.id), ...failed.map((f) => f.checkId)])];
  const byId = new Map(checks.map((c) => [c.id, c]));
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'origin-guard',
            ...(options.version ? { version: options.version } : {}),
            rules: ruleIds.map((id) => {
              const check = byId.get(id);
              const severity = check?.severity ?? failed.find((f) => f.checkId === id)?.severity ?? 'MEDIUM';
              return {
                id,
                name: id,
                shortDescription: { text: check?.title ?? id },
                defaultConfiguration: { level: SARIF_LEVEL[severity] },
                properties: { 'security-severity': SECURITY_SEVERITY[severity], tags: ['security', 'drift'] },
              };
            }),
          },
        },
        results: failed.map((f) => ({
          ruleId: f.checkId,
          ruleIndex: ruleIds.indexOf(f.checkId),
          level: f.status === 'INCONCLUSIVE' ? 'note' : SARIF_LEVEL[f.severity],
          message: { text: `${f.status === 'INCONCLUSIVE' ? 'INCONCLUSIVE: ' : ''}${f.message} Fix: ${f.remediation}` },
          locations: [
            {
              physicalLocation: { artifactLocation: { uri: options.configPath }, region: { startLine: 1 } },
              // With several accounts the same resource id can exist in two places: the name says where.
              logicalLocations: [{ name: f.resource, fullyQualifiedName: [f.account, f.region, f.resource].filter(Boolean).join('/'), kind: 'resource' }],
            },
          ],
          // Code scanning follows a result across runs by this, so a finding keeps its alert until resolved.
          partialFingerprints: { 'originGuardFindingId/v1': f.id },
          properties: {
            severity: f.severity,
            resource: f.resource,
            ...(f.account ? { account: f.account } : {}),
            ...(f.region ? { region: f.region } : {}),
            ...(f.status === 'INCONCLUSIVE' ? { status: f.status } : {}),
          },
        })),
      },
    ],
  };
}

// ---------- alerting ----------

async function cliAlerting(config: Config, clients: AwsClients, ctx: CliContext): Promise<AlertingDeps> {
  const targets = await resolveAlertTargets(config, clients);
  if (!targets.topicArn || !targets.stateTableName) {
    throw new Error(
      `--alert needs an alert topic and a state table: set alerts.topicArn and alerts.stateTableName in the config, ` +
        `or deploy the stack ${config.stackName} (outputs AlertTopicArn and AlertStateTableName). Found: ` +
        `topic ${targets.topicArn ?? 'none'}, table ${targets.stateTableName ?? 'none'} (from ${targets.source}).`,
    );
  }
  const state = new DynamoDbAlertState(clients.dynamoDb(), targets.stateTableName);
  if (await state.ensureTable()) ctx.stderr(`created the alert state table ${targets.stateTableName}`);
  const region = targets.topicArn.split(':')[3];
  return { publisher: new SnsAlertPublisher(clients.sns(region), targets.topicArn, undefined, config.alerts.format), state, reminderHours: config.alerts.reminderHours };
}

export async function runAuditCommand(argv: string[], ctx: CliContext, overrides: AuditCommandOverrides = {}): Promise<number> {
  const { values } = parseFlags(argv, { alert: { type: 'boolean', default: false }, all: { type: 'boolean', default: false }, sarif: { type: 'string' }, ocsf: { type: 'string' } });
  if (values.help) {
    ctx.stdout(HELP);
    return 0;
  }
  const config = loadCliConfig(values.config, ctx.env, values.account);
  const clients = overrides.clients ?? cliClients(config);
  const alerting = values.alert ? await cliAlerting(config, clients, ctx) : undefined;
  const multi = isMultiAccount(config);
  const result: AuditResult = multi
    ? await runAccountAudit(config, { hub: clients, accounts: accountClientsOf(config, clients, 'audit'), clock: systemClock, log: silentLog, collector: overrides.collector, ...(alerting ? { alerting } : {}) })
    : await runAudit({ observer: new AwsAuditCollector(config, { clients, ...overrides.collector }), clock: systemClock, log: silentLog, ...(alerting ? { alerting } : {}) });

  if (values.sarif) {
    const sarif = toSarif(result.findings, { configPath: resolveConfigPath(values.config, ctx.env) });
    writeFileSync(values.sarif, `${JSON.stringify(sarif, null, 2)}\n`);
  }
  if (values.ocsf) {
    const titles = new Map(ALL_CHECKS.map((c) => [c.id, c.title]));
    const events = toOcsf(result.findings, { productVersion: PRODUCT_VERSION, region: config.region, time: new Date() }, titles);
    writeFileSync(values.ocsf, `${JSON.stringify(events, null, 2)}\n`);
  }
  const table = (findings: readonly Finding[]): string => formatFindingsTable(findings, { all: values.all });
  ctx.stdout(values.json ? JSON.stringify(findingsJson(result.findings), null, 2) : multi ? formatByAccount(result.findings, table) : table(result.findings));
  if (alerting) {
    const sent = result.alerts.map((a) => `${a.kind} ${a.finding.id}`);
    ctx.stderr(sent.length ? `alerts sent:\n${sent.map((s) => `  ${s}`).join('\n')}` : 'no alerts: nothing changed since the last audit');
  }
  for (const error of result.alertErrors) ctx.stderr(`alert not sent: ${error}`);
  return hasBlockingFailure(result.findings) || result.alertErrors.length > 0 ? 1 : 0;
}

export const auditCommand: Command = (argv, ctx) => runAuditCommand(argv, ctx);
