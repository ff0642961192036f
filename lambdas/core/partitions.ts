/**
 * The ARN partition of a region: roles, policies and findings built for a China or GovCloud region must say
 * `aws-cn` / `aws-us-gov`, or AssumeRole and IAM refuse them.
 */
export type Partition = 'aws' | 'aws-cn' | 'aws-us-gov';

export function partitionOf(region: string): Partition {
  if (/^cn-[a-z]+-\d$/.test(region)) return 'aws-cn';
  if (/^us-gov-[a-z]+-\d$/.test(region)) return 'aws-us-gov';
  if (/^[a-z]{2}-[a-z]+-\d$/.test(region)) return 'aws';
  throw new Error(`"${region}" is not an AWS region name such as eu-west-1, cn-north-1 or us-gov-west-1`);
}

/** Where CloudFront's control plane and CLOUDFRONT-scope WAF are reached in a partition (CloudFront is global). */
export function globalRegionOf(partition: Partition): string {
  switch (partition) {
    case 'aws':
      return 'us-east-1';
    case 'aws-cn':
      return 'cn-northwest-1';
    case 'aws-us-gov':
      return 'us-gov-west-1';
  }
}

export function roleArn(region: string, accountId: string, roleName: string): string {
  return `arn:${partitionOf(region)}:iam::${accountId}:role/${roleName}`;
}
