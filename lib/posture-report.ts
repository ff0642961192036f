import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { ReportConfig } from '../lambdas/config.ts';
import { throwIfProblems } from './errors.ts';

export interface PostureReportBucketProps {
  /** `report` of the config: the bucket name and the page's key. */
  readonly report: ReportConfig;
  /** Who writes the page (the audit function's role): s3:PutObject on the page's key only. */
  readonly writer: iam.IGrantable;
}

/**
 * The bucket of the posture page (`report.bucket`): private, S3-managed encryption, TLS only, versioned
 * (an earlier page stays readable after drift redraws it), kept when the stack is deleted.
 */
export class PostureReportBucket extends Construct {
  public readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: PostureReportBucketProps) {
    super(scope, id);
    const problems: string[] = [];
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(props.report.bucket)) problems.push(`report.bucket "${props.report.bucket}" is not a valid S3 bucket name`);
    throwIfProblems(`PostureReportBucket ${this.node.path}`, problems);

    this.bucket = new s3.Bucket(this, 'Bucket', {
      bucketName: props.report.bucket,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      // Old pages are history, not an archive: drop them after 90 days.
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(90) }],
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'Holds one generated page that the audit function overwrites; who reads it is visible in CloudTrail (S3 data events), and an access-log bucket would itself need this exemption.',
    });
    props.writer.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [this.bucket.arnForObjects(props.report.key)] }),
    );
  }
}
