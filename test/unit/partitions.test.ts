import { describe, expect, it } from 'vitest';
import { globalRegionOf, partitionOf, roleArn } from '../../lambdas/core/partitions.ts';

describe('partitionOf', () => {
  it.each([
    ['eu-west-1', 'aws'],
    ['us-east-1', 'aws'],
    ['ap-southeast-4', 'aws'],
    ['cn-north-1', 'aws-cn'],
    ['cn-northwest-1', 'aws-cn'],
    ['us-gov-west-1', 'aws-us-gov'],
    ['us-gov-east-1', 'aws-us-gov'],
  ])('puts %s in %s', (region, partition) => {
    expect(partitionOf(region)).toBe(partition);
  });

  it('refuses what is not a region name, naming it', () => {
    expect(() => partitionOf('eu-west')).toThrow(/"eu-west" is not an AWS region/);
    expect(() => partitionOf('')).toThrow(/is not an AWS region/);
  });
});

describe('roleArn', () => {
  it('builds the role ARN in the partition of the region', () => {
    expect(roleArn('eu-west-1', '111111111111', 'r')).toBe('arn:aws:iam::111111111111:role/r');
    expect(roleArn('cn-north-1', '111111111111', 'r')).toBe('arn:aws-cn:iam::111111111111:role/r');
    expect(roleArn('us-gov-west-1', '111111111111', 'r')).toBe('arn:aws-us-gov:iam::111111111111:role/r');
  });

  it('reaches global services in each partition', () => {
    expect(globalRegionOf('aws')).toBe('us-east-1');
    expect(globalRegionOf('aws-cn')).toBe('cn-northwest-1');
    expect(globalRegionOf('aws-us-gov')).toBe('us-gov-west-1');
  });
});
