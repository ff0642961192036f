/**
 * The audit over every account-region the config names: the config is cut per account-region
 * (`auditSlices`), each slice observed by its own collector with that account-region's clients and checked by
 * the one audit core, at most `audit.concurrency` at once. A spoke whose role cannot be assumed (missing,
 * AccessDenied, throttled) is one `audit.account-access` finding for that account-region; the others are
 * audited all the same. Every finding carries `account` and `region`; alerts go out once, over all of them.
 */
import { auditSlices, type AuditSlice } from '../accounts.ts';
import type { Config } from '../config.ts';
import type { AuditScope } from '../core/audit-scope.ts';
import { applyAlerts, runAudit, sortFindings, type AlertingDeps, type AuditResult } from '../core/audit.ts';
import type { AuditCheck } from '../core/audit-model.ts';
import { describeError } from '../core/errors.ts';
import { fanOut } from '../core/fan-out.ts';
import type { Clock, Finding, LogPort } from '../core/ports.ts';
import type { AccountClients } from './account-clients.ts';
import { AwsAuditCollector, type AuditCollectorOptions } from './audit-collector.ts';
import type { AwsClients } from './aws-clients.ts';

export interface AccountAuditDeps {
  hub: AwsClients;
  accounts: AccountClients;
  clock: Clock;
  log: LogPort;
  alerting?: AlertingDeps;
  checks?: readonly AuditCheck[];
  /** Collector options beyond the clients (probes, fetch for Konnect, settings). */
  collector?: Omit<AuditCollectorOptions, 'clients'>;
  /** @default config.audit.concurrency, else 8 */
  concurrency?: number;
}

export interface AccountRegionResult {
  account?: string;
  region: string;
  status: 'audited' | 'unreachable';
  findings: number;
  failed: number;
}

export interface AccountAuditResult extends AuditResult {
  accountRegions: AccountRegionResult[];
  peakConcurrency: number;
}

export const ACCOUNT_ACCESS_CHECK = 'audit.account-access';

function accessFinding(slice: AuditSlice, status: 'PASS' | 'FAIL', message: string): Finding {
  const resource = `account:${slice.accountId}/${slice.region}`;
  return {
    id: `${ACCOUNT_ACCESS_CHECK}:${resource}`,
    checkId: ACCOUNT_ACCESS_CHECK,
    severity: 'HIGH',
    status,
    resource,
    message,
    remediation:
      status === 'PASS'
        ? 'Nothing to do.'
        : `Deploy the origin-guard spoke stack in account ${slice.accountId} region ${slice.region} (cdk deploy, or the StackSet), and check that its role trusts the hub's audit function.`,
    account: slice.account,
    region: slice.region,
  };
}

/** A spoke's finding ids get `@account/region`, so the same resource id in two accounts keeps two alert states. */
function placed(finding: Finding, slice: AuditSlice): Finding {
  const id = slice.account === undefined ? finding.id : `${finding.id}@${slice.account}/${slice.region}`;
  return { ...finding, id, ...(slice.account !== undefined ? { account: slice.account } : {}), region: slice.region };
}

/** One account-region (`account` absent or '' for the hub's): what one invocation of a managed fan-out audits. */
export interface AccountRegionRef {
  account?: string;
  region: string;
}

export async function runAccountAudit(config: Config, deps: AccountAuditDeps, scope?: AuditScope, only?: AccountRegionRef): Promise<AccountAuditResult> {
  const slices = auditSlices(config, only);
  if (only && slices.length === 0) {
    const all = auditSlices(config);
    throw new Error(`no configured account-region ${only.account || 'hub'}/${only.region}: the fan-out names ${all.map((s) => `${s.account ?? 'hub'}/${s.region}`).join(', ')}`);
  }
  const concurrency = deps.concurrency ?? config.audit?.concurrency ?? 8;
  const { results, peakConcurrency } = await fanOut(slices, concurrency, async (slice) => {
    const where = { ...(slice.account !== undefined ? { account: slice.account } : {}), region: slice.region };
    if (slice.account !== undefined) {
      try {
        await deps.accounts.check(where);
      } catch (error) {
        deps.log.warn('account-region not audited', { account: slice.account, region: slice.region, error: describeError(error) });
        return { slice, findings: [accessFinding(slice, 'FAIL', describeError(error))], reachable: false };
      }
    }
    const clients = slice.account === undefined && slice.region === config.region ? deps.hub : deps.accounts.for(where);
    const observer = new AwsAuditCollector(slice.config, { ...deps.collector, clients, log: deps.log });
    const result = await runAudit({ observer, clock: deps.clock, log: deps.log, ...(deps.checks ? { checks: deps.checks } : {}) }, scope);
    const findings = result.findings.map((f) => placed(f, slice));
    if (slice.account !== undefined) findings.push(accessFinding(slice, 'PASS', `the audit role of account "${slice.account}" in ${slice.region} was assumed`));
    return { slice, findings, reachable: true };
  });

  const findings: Finding[] = [];
  const accountRegions: AccountRegionResult[] = [];
  results.forEach((r, i) => {
    const slice = slices[i]!;
    // A collector never throws for a failed read (it is a finding); anything else is this slice's failure alone.
    const value = r.ok ? r.value : { slice, findings: [accessFinding(slice, 'FAIL', `the audit of this account-region failed: ${describeError(r.error)}`)], reachable: false };
    findings.push(...value.findings);
    accountRegions.push({
      ...(slice.account !== undefined ? { account: slice.account } : {}),
      region: slice.region,
      status: value.reachable ? 'audited' : 'unreachable',
      findings: value.findings.length,
      failed: value.findings.filter((f) => f.status === 'FAIL').length,
    });
  });
  const sorted = sortFindings(findings);
  deps.log.info('audit checked across accounts', { accountRegions: slices.length, findings: sorted.length, failed: sorted.filter((f) => f.status === 'FAIL').length, peakConcurrency });
  if (!deps.alerting) return { findings: sorted, alerts: [], alertErrors: [], accountRegions, peakConcurrency };
  const { alerts, errors } = await applyAlerts(sorted, deps.alerting, deps.clock.now(), deps.log);
  return { findings: sorted, alerts, alertErrors: errors, accountRegions, peakConcurrency };
}
