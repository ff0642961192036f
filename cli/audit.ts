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
import { hasBlockingFailure, runAudit, type AlertingDeps, type AuditResult } from '../lambdas/core/audit.ts';
import { ALL_CHECKS } from '../lambdas/core/checks/index.ts';
import { shortName } from '../lambdas/core/audit-model.ts';
import { silentLog, systemClock, type Finding, type Severity } from '../lambdas/core/ports.ts';
import type { CliContext, Command } from './context.ts';
import { cliClients, loadCliConfig, parseFlags, resolveAlertTargets } from './runtime.ts';

const HELP = `Usage: origin-guard audit [--json] [--alert] [--sarif FILE] [--ocsf FILE] [--config FILE]

Checks WAF web ACLs, CloudFront distributions, security groups, VPC peering, transit gateways, secrets,
Konnect networks and probes, for what the config names. Prints a table of findings, failed first.

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
export function findingsJson(findings: readonly Finding[]): { findings: Array<Pick<Finding, 'id' | 'severity' | 'status' | 'resource' | 'message' | 'remediation'>> } {
  return {
    findings: findings.map((f) => ({ id: f.id, severity: f.severity, status: f.status, resource: f.resource, message: f.message, remediation: f.remediation })),
  };
}

export function formatFindingsTable(findings: readonly Finding[]): string {
  if (findings.length === 0) return 'Nothing to audit: the config names no web ACL, distribution, target, peering, transit gateway, secret, network or probe.';
  const rows = findings.map((f) => [f.status, f.severity, f.checkId, shortName(f.resource), f.message]);
  const widths = [0, 1, 2, 3].map((i) => Math.min(Math.max(...rows.map((r) => r[i].length), ['STATUS', 'SEVERITY', 'CHECK', 'RESOURCE'][i].length), 48));
  const line = (cells: string[]) => cells.map((c, i) => (i < 4 ? c.padEnd(widths[i]) : c)).join('  ');
  const out = [line(['STATUS', 'SEVERITY', 'CHECK', 'RESOURCE', 'MESSAGE']), ...rows.map(line)];
  const failed = findings.filter((f) => f.status === 'FAIL');
  if (failed.length > 0) {
    out.push('', 'How to fix:');
    for (const f of failed) out.push(`  ${f.id}`, `    ${f.remediation}`);
  }
  const blocking = failed.filter((f) => f.severity === 'HIGH' || f.severity === 'CRITICAL').length;
  out.push('', `${findings.length} findings, ${failed.length} failed (${blocking} high or critical).`);
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
              logicalLocations: [{ name: f.resource, fullyQualifiedName: f.resource, kind: 'resource' }],
            },
          ],
          // Code scanning follows a result across runs by this, so a finding keeps its alert until resolved.
          partialFingerprints: { 'originGuardFindingId/v1': f.id },
          properties: { severity: f.severity, resource: f.resource, ...(f.status === 'INCONCLUSIVE' ? { status: f.status } : {}) },
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
  return { publisher: new SnsAlertPublisher(clients.sns(region), targets.topicArn), state, reminderHours: config.alerts.reminderHours };
}

export async function runAuditCommand(argv: string[], ctx: CliContext, overrides: AuditCommandOverrides = {}): Promise<number> {
  const { values } = parseFlags(argv, { alert: { type: 'boolean', default: false }, sarif: { type: 'string' }, ocsf: { type: 'string' } });
  if (values.help) {
    ctx.stdout(HELP);
    return 0;
  }
  const config = loadCliConfig(values.config, ctx.env);
  const clients = overrides.clients ?? cliClients(config);
  const alerting = values.alert ? await cliAlerting(config, clients, ctx) : undefined;
  const observer = new AwsAuditCollector(config, { clients, ...overrides.collector });
  const result: AuditResult = await runAudit({ observer, clock: systemClock, log: silentLog, ...(alerting ? { alerting } : {}) });

  if (values.sarif) {
    const sarif = toSarif(result.findings, { configPath: resolveConfigPath(values.config, ctx.env) });
    writeFileSync(values.sarif, `${JSON.stringify(sarif, null, 2)}\n`);
  }
  if (values.ocsf) {
    const titles = new Map(ALL_CHECKS.map((c) => [c.id, c.title]));
    const events = toOcsf(result.findings, { productVersion: PRODUCT_VERSION, region: config.region, time: new Date() }, titles);
    writeFileSync(values.ocsf, `${JSON.stringify(events, null, 2)}\n`);
  }
  ctx.stdout(values.json ? JSON.stringify(findingsJson(result.findings), null, 2) : formatFindingsTable(result.findings));
  if (alerting) {
    const sent = result.alerts.map((a) => `${a.kind} ${a.finding.id}`);
    ctx.stderr(sent.length ? `alerts sent:\n${sent.map((s) => `  ${s}`).join('\n')}` : 'no alerts: nothing changed since the last audit');
  }
  for (const error of result.alertErrors) ctx.stderr(`alert not sent: ${error}`);
  return hasBlockingFailure(result.findings) || result.alertErrors.length > 0 ? 1 : 0;
}

export const auditCommand: Command = (argv, ctx) => runAuditCommand(argv, ctx);
