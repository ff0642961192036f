/**
 * Findings imported into AWS Security Hub as ASFF (BatchImportFindings, at most 100 a call), with a lifecycle:
 * a failing finding is ACTIVE with workflow NEW; once it passes it is re-imported with the same id as
 * compliance PASSED, workflow RESOLVED and record state ARCHIVED, so nothing stays active after the fix.
 * Ids are the finding ids (stable), so a re-run updates instead of duplicating.
 */
import type { AwsSecurityFinding, SecurityHubClient } from '@aws-sdk/client-securityhub';
import { TargetError, describeError } from '../core/errors.ts';
import type { Finding, LogPort, Severity } from '../core/ports.ts';
import { silentLog } from '../core/ports.ts';

export const ASFF_SCHEMA_VERSION = '2018-10-08';
export const MAX_FINDINGS_PER_IMPORT = 100;
/** GeneratorId prefix: every finding origin-guard imports, so its own can be listed back. */
export const GENERATOR_PREFIX = 'origin-guard/';
const MAX_PAGES = 100;

/** The fields Security Hub requires in every imported finding. */
export const ASFF_REQUIRED_FIELDS = [
  'SchemaVersion',
  'Id',
  'ProductArn',
  'GeneratorId',
  'AwsAccountId',
  'Types',
  'CreatedAt',
  'UpdatedAt',
  'Severity',
  'Title',
  'Description',
  'Resources',
] as const;

const COMPLIANCE: Record<Finding['status'], 'FAILED' | 'PASSED' | 'NOT_AVAILABLE'> = { FAIL: 'FAILED', PASS: 'PASSED', INCONCLUSIVE: 'NOT_AVAILABLE' };
const LABEL: Record<Severity, 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL'> = { LOW: 'LOW', MEDIUM: 'MEDIUM', HIGH: 'HIGH', CRITICAL: 'CRITICAL' };

export interface AsffContext {
  accountId: string;
  region: string;
  partition?: string;
  time: Date;
}

/** The account's default product ARN: findings a customer imports about its own account. */
export function productArn(context: AsffContext): string {
  return `arn:${context.partition ?? 'aws'}:securityhub:${context.region}:${context.accountId}:product/${context.accountId}/default`;
}

function resourceOf(resource: string): { Type: string; Id: string } {
  if (resource.startsWith('arn:aws:elasticloadbalancing')) return { Type: 'AwsElbv2LoadBalancer', Id: resource };
  if (resource.startsWith('wafv2:')) return { Type: 'AwsWafv2WebAcl', Id: resource };
  if (/^sg-/.test(resource)) return { Type: 'AwsEc2SecurityGroup', Id: resource };
  if (/^pcx-/.test(resource)) return { Type: 'AwsEc2VpcPeeringConnection', Id: resource };
  if (/^E[A-Z0-9]+($|\/)/.test(resource)) return { Type: 'AwsCloudFrontDistribution', Id: resource };
  return { Type: 'Other', Id: resource };
}

/** Title and Description have length limits (256 and 1024 characters). */
const cut = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 3)}...`);

export function toAsff(finding: Finding, context: AsffContext, firstSeen?: string): AwsSecurityFinding {
  const now = context.time.toISOString();
  const active = finding.status !== 'PASS';
  return {
    SchemaVersion: ASFF_SCHEMA_VERSION,
    Id: finding.id,
    ProductArn: productArn(context),
    GeneratorId: `${GENERATOR_PREFIX}${finding.checkId}`,
    AwsAccountId: context.accountId,
    Types: ['Software and Configuration Checks/AWS Security Best Practices'],
    CreatedAt: firstSeen ?? now,
    UpdatedAt: now,
    Severity: { Label: LABEL[finding.severity], Original: finding.severity },
    Title: cut(`${finding.checkId}: ${finding.resource}`, 256),
    Description: cut(finding.message, 1024),
    Remediation: { Recommendation: { Text: cut(finding.remediation, 512) } },
    Resources: [{ ...resourceOf(finding.resource), Region: context.region, Partition: 'aws' }],
    Compliance: { Status: COMPLIANCE[finding.status] },
    Workflow: { Status: active ? 'NEW' : 'RESOLVED' },
    RecordState: active ? 'ACTIVE' : 'ARCHIVED',
    ProductFields: { 'origin-guard/checkId': finding.checkId, 'origin-guard/status': finding.status },
  };
}

export interface SecurityHubExportResult {
  imported: number;
  archived: number;
  failed: Array<{ id: string; error: string }>;
}

/**
 * Imports the failing findings as ACTIVE and archives, as RESOLVED, those origin-guard imported before that
 * now pass. Findings that pass and were never imported are not sent (most findings pass).
 */
export class SecurityHubExporter {
  constructor(
    private readonly client: SecurityHubClient,
    private readonly context: Omit<AsffContext, 'time'>,
    private readonly log: LogPort = silentLog,
  ) {}

  /** origin-guard's ACTIVE findings in Security Hub: id → CreatedAt. */
  async activeFindings(): Promise<Map<string, string>> {
    const { GetFindingsCommand } = await import('./on-demand/security-hub-sdk.ts');
    const active = new Map<string, string>();
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const out = await this.client.send(
        new GetFindingsCommand({
          Filters: {
            GeneratorId: [{ Value: GENERATOR_PREFIX, Comparison: 'PREFIX' }],
            RecordState: [{ Value: 'ACTIVE', Comparison: 'EQUALS' }],
            AwsAccountId: [{ Value: this.context.accountId, Comparison: 'EQUALS' }],
          },
          MaxResults: 100,
          NextToken: nextToken,
        }),
      );
      // Filtered here too: the emulator ignores Filters.
      for (const f of out.Findings ?? []) {
        if (f.Id && f.GeneratorId?.startsWith(GENERATOR_PREFIX) && f.RecordState === 'ACTIVE' && f.AwsAccountId === this.context.accountId) active.set(f.Id, f.CreatedAt ?? '');
      }
      nextToken = out.NextToken || undefined;
      if (!nextToken) return active;
    }
    throw new TargetError('securityhub', `GetFindings did not finish within ${MAX_PAGES} pages`);
  }

  async export(findings: readonly Finding[], time: Date): Promise<SecurityHubExportResult> {
    const context = { ...this.context, time };
    const active = await this.activeFindings();
    const toSend: AwsSecurityFinding[] = [];
    let archived = 0;
    for (const finding of findings) {
      if (finding.status === 'PASS') {
        if (!active.has(finding.id)) continue;
        archived += 1;
      }
      toSend.push(toAsff(finding, context, active.get(finding.id) || undefined));
    }
    const failed: SecurityHubExportResult['failed'] = [];
    // Loaded on use (on-demand-clients.ts): only audits that export to Security Hub read it.
    const { BatchImportFindingsCommand } = await import('./on-demand/security-hub-sdk.ts');
    for (let i = 0; i < toSend.length; i += MAX_FINDINGS_PER_IMPORT) {
      const batch = toSend.slice(i, i + MAX_FINDINGS_PER_IMPORT);
      try {
        const out = await this.client.send(new BatchImportFindingsCommand({ Findings: batch }));
        for (const f of out.FailedFindings ?? []) failed.push({ id: f.Id ?? '', error: `${f.ErrorCode}: ${f.ErrorMessage}` });
      } catch (error) {
        for (const f of batch) failed.push({ id: f.Id ?? '', error: describeError(error) });
      }
    }
    const result = { imported: toSend.length - failed.length, archived, failed };
    this.log.info('security hub import', { imported: result.imported, archived, failed: failed.length });
    return result;
  }
}
