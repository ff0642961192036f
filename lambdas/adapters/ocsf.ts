/**
 * Findings as OCSF 1.6.0 Detection Findings (`class_uid` 2004), the shape Prowler emits and its ingestion (and
 * AWS Security Hub's OCSF import) accepts: one JSON object per finding, written as a JSON array.
 *
 * Pure: no I/O. The test validates the output against the OCSF 1.6.0 definitions (required attributes, enum
 * ids, types) read from ../shared/ocsf-1.6.0.
 */
import { shortName } from '../core/audit-model.ts';
import type { Finding, Severity } from '../core/ports.ts';

export const OCSF_VERSION = '1.6.0';
/** Findings category (2) × 1000 + Detection Finding (4). */
export const DETECTION_FINDING_CLASS_UID = 2004;
const CATEGORY_UID = 2;
/** activity_id 1 = Create: every run reports the state it observed. */
const ACTIVITY_CREATE = 1;

const SEVERITY_ID: Record<Severity, number> = { LOW: 2, MEDIUM: 3, HIGH: 4, CRITICAL: 5 };
const SEVERITY_CAPTION: Record<Severity, string> = { LOW: 'Low', MEDIUM: 'Medium', HIGH: 'High', CRITICAL: 'Critical' };

/** FAIL is a new finding, PASS a resolved one, INCONCLUSIVE "Other" (99) with its own status code. */
const STATUS: Record<Finding['status'], { id: number; caption: string }> = {
  FAIL: { id: 1, caption: 'New' },
  PASS: { id: 4, caption: 'Resolved' },
  INCONCLUSIVE: { id: 99, caption: 'Other' },
};

export interface OcsfContext {
  /** The product's version (package.json). */
  productVersion: string;
  region: string;
  /** The AWS account audited, when known. */
  accountId?: string;
  /** The time of the run. */
  time: Date;
}

/** The OCSF resource type of a finding's resource, from the shape of its name. */
function resourceType(resource: string): string {
  if (resource.startsWith('arn:aws:elasticloadbalancing')) return 'AwsElbv2LoadBalancer';
  if (resource.startsWith('wafv2:')) return 'AwsWafv2WebAcl';
  if (/^sg-/.test(resource)) return 'AwsEc2SecurityGroup';
  if (/^pcx-/.test(resource)) return 'AwsEc2VpcPeeringConnection';
  if (/^tgw-/.test(resource)) return 'AwsEc2TransitGateway';
  if (/^E[A-Z0-9]+($|\/)/.test(resource)) return 'AwsCloudFrontDistribution';
  if (resource.startsWith('events:')) return 'AwsEventsRule';
  return 'Other';
}

export interface OcsfDetectionFinding {
  [key: string]: unknown;
  class_uid: number;
  finding_info: { uid: string; title: string; desc: string; types: string[]; created_time: number };
}

export function toOcsfFinding(finding: Finding, context: OcsfContext, checkTitle?: string): OcsfDetectionFinding {
  const time = context.time.getTime();
  const status = STATUS[finding.status];
  return {
    activity_id: ACTIVITY_CREATE,
    activity_name: 'Create',
    category_uid: CATEGORY_UID,
    category_name: 'Findings',
    class_uid: DETECTION_FINDING_CLASS_UID,
    class_name: 'Detection Finding',
    type_uid: DETECTION_FINDING_CLASS_UID * 100 + ACTIVITY_CREATE,
    type_name: 'Detection Finding: Create',
    severity_id: SEVERITY_ID[finding.severity],
    severity: SEVERITY_CAPTION[finding.severity],
    status_id: status.id,
    status: status.caption,
    // Prowler's convention: the check's verdict travels in status_code.
    status_code: finding.status,
    status_detail: finding.message,
    message: finding.message,
    time,
    is_alert: finding.status === 'FAIL',
    metadata: {
      version: OCSF_VERSION,
      product: { name: 'origin-guard', uid: 'origin-guard', vendor_name: 'origin-guard', version: context.productVersion },
      event_code: finding.checkId,
      profiles: ['cloud'],
    },
    finding_info: {
      uid: finding.id,
      title: checkTitle ?? finding.checkId,
      desc: finding.message,
      types: [finding.checkId],
      created_time: time,
    },
    resources: [
      {
        uid: finding.resource,
        name: shortName(finding.resource),
        type: resourceType(finding.resource),
        region: context.region,
        cloud_partition: 'aws',
      },
    ],
    remediation: { desc: finding.remediation },
    cloud: {
      provider: 'AWS',
      region: context.region,
      ...(context.accountId ? { account: { uid: context.accountId, type: 'AWS Account', type_id: 10 } } : {}),
    },
    ...(finding.details ? { unmapped: { details: finding.details } } : {}),
  };
}

export function toOcsf(findings: readonly Finding[], context: OcsfContext, titles: ReadonlyMap<string, string> = new Map()): OcsfDetectionFinding[] {
  return findings.map((f) => toOcsfFinding(f, context, titles.get(f.checkId)));
}
